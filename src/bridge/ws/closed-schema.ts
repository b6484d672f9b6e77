/**
 * A tiny validator for the legacy protocol's closed JSON schemas: every object lists
 * its fields, and a field that is not listed is an error (legacy clients rely on the
 * gateway refusing what it does not understand instead of ignoring it).
 */

/** A schema node. */
export type Schema =
  | { kind: 'string'; min?: number; max?: number; oneOf?: readonly string[] }
  | { kind: 'integer'; min?: number; max?: number }
  | { kind: 'boolean' }
  | { kind: 'array'; items: Schema; max?: number }
  | { kind: 'object'; fields: Readonly<Record<string, Schema>>; required: readonly string[] }
  | { kind: 'record'; max?: number }
  | { kind: 'any' };

/** Schema builders, so schemas read like the spec. */
export const s = {
  str: (opts: { min?: number; max?: number; oneOf?: readonly string[] } = {}): Schema => ({ kind: 'string', ...opts }),
  int: (opts: { min?: number; max?: number } = {}): Schema => ({ kind: 'integer', ...opts }),
  bool: (): Schema => ({ kind: 'boolean' }),
  arr: (items: Schema, max?: number): Schema => ({ kind: 'array', items, max }),
  obj: (fields: Record<string, Schema>, required: readonly string[] = []): Schema => ({ kind: 'object', fields, required }),
  /** A JSON object with any keys (values unchecked), at most `max` keys. */
  record: (max?: number): Schema => ({ kind: 'record', max }),
  any: (): Schema => ({ kind: 'any' }),
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where a problem is, as the legacy gateway words it: `at /client/id: ` (nothing at the root, or `at root: ` for unexpected properties). */
const at = (path: string): string => (path === '' ? '' : `at ${path}: `);

/**
 * Checks `value` against `schema`; returns the first problem worded as the legacy
 * gateway words schema errors (clients show them): `must have required property
 * 'client'`, `at root: unexpected property 'bogus'`, `at /client/id: must be equal to
 * one of the allowed values`, `at /minProtocol: must be integer`; undefined when it conforms.
 */
export function firstProblem(schema: Schema, value: unknown, path = ''): string | undefined {
  switch (schema.kind) {
    case 'any':
      return undefined;
    case 'string':
      if (typeof value !== 'string') return `${at(path)}must be string`;
      if (schema.min !== undefined && value.length < schema.min) return `${at(path)}must NOT have fewer than ${schema.min} characters`;
      if (schema.max !== undefined && value.length > schema.max) return `${at(path)}must NOT have more than ${schema.max} characters`;
      if (schema.oneOf && !schema.oneOf.includes(value)) return `${at(path)}must be equal to one of the allowed values`;
      return undefined;
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) return `${at(path)}must be integer`;
      if (schema.min !== undefined && value < schema.min) return `${at(path)}must be >= ${schema.min}`;
      if (schema.max !== undefined && value > schema.max) return `${at(path)}must be <= ${schema.max}`;
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${at(path)}must be boolean`;
    case 'array': {
      if (!Array.isArray(value)) return `${at(path)}must be array`;
      if (schema.max !== undefined && value.length > schema.max) return `${at(path)}must NOT have more than ${schema.max} items`;
      for (let i = 0; i < value.length; i++) {
        const p = firstProblem(schema.items, value[i], `${path}/${i}`);
        if (p) return p;
      }
      return undefined;
    }
    case 'record':
      if (!isPlainObject(value)) return `${at(path)}must be object`;
      if (schema.max !== undefined && Object.keys(value).length > schema.max) return `${at(path)}must NOT have more than ${schema.max} properties`;
      return undefined;
    case 'object': {
      if (!isPlainObject(value)) return `${at(path)}must be object`;
      for (const key of Object.keys(value)) {
        if (!Object.prototype.hasOwnProperty.call(schema.fields, key)) return `at ${path === '' ? 'root' : path}: unexpected property '${key.slice(0, 64)}'`;
      }
      for (const key of schema.required) {
        if (value[key] === undefined) return `${at(path)}must have required property '${key}'`;
      }
      for (const [key, sub] of Object.entries(schema.fields)) {
        if (value[key] === undefined) continue;
        const p = firstProblem(sub, value[key], `${path}/${key}`);
        if (p) return p;
      }
      return undefined;
    }
  }
}
