import type { DescMessage, JsonValue, MessageShape } from '@bufbuild/protobuf';

/**
 * A message as the CLI's --json output shows it: protobuf JSON (lowerCamelCase
 * names, int64 as strings, enums by name) with every field present, so scripts see
 * the same keys whether or not a value is the default. protobuf-es's main entry
 * (with its JSON code and well-known types) is loaded on first use only: human
 * output never needs it.
 */
export function protoJson<D extends DescMessage>(schema: D, message: MessageShape<D>): JsonValue {
  const { toJson } = require('@bufbuild/protobuf') as typeof import('@bufbuild/protobuf');
  return toJson(schema, message, { alwaysEmitImplicit: true });
}
