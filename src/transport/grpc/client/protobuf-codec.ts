/**
 * protobuf-es's create/toBinary/fromBinary without the package's main entry point.
 * The main entry also loads every well-known type (each decoding an embedded file
 * descriptor), ~17 ms that a CLI start does not need: the generated code has already
 * loaded these three modules through `@bufbuild/protobuf/codegenv2`, so requiring
 * them by file costs nothing. The package's exports map hides the files from bare
 * specifiers, hence the resolved path; any surprise falls back to the main entry.
 */
import { dirname, join } from 'node:path';
import type { create as Create, fromBinary as FromBinary, toBinary as ToBinary } from '@bufbuild/protobuf';

/** The three functions the CLI's serializers need. */
export interface ProtobufCodec {
  create: typeof Create;
  toBinary: typeof ToBinary;
  fromBinary: typeof FromBinary;
}

function load(): ProtobufCodec {
  try {
    const dir = dirname(require.resolve('@bufbuild/protobuf'));
    const codec: ProtobufCodec = {
      create: (require(join(dir, 'create.js')) as { create: typeof Create }).create,
      toBinary: (require(join(dir, 'to-binary.js')) as { toBinary: typeof ToBinary }).toBinary,
      fromBinary: (require(join(dir, 'from-binary.js')) as { fromBinary: typeof FromBinary }).fromBinary,
    };
    if (typeof codec.create === 'function' && typeof codec.toBinary === 'function' && typeof codec.fromBinary === 'function') return codec;
  } catch {
    /* layout changed: use the public entry point below */
  }
  return require('@bufbuild/protobuf') as ProtobufCodec;
}

/** create/toBinary/fromBinary, loaded the cheap way when possible. */
export const codec: ProtobufCodec = load();
