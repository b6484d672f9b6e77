import { errors } from '../../errors';

/** Deepest patch accepted; a config is a few levels deep, and recursion must stay bounded. */
const MAX_DEPTH = 32;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Applies a JSON merge patch (RFC 7396) and returns a new value; `target` is not
 * changed. Objects merge key by key, `null` deletes a key, anything else (arrays
 * included) replaces.
 */
export function applyMergePatch(target: unknown, patch: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw errors.invalid('INVALID_CONFIG', `(root): patch is nested deeper than ${MAX_DEPTH} levels`);
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value, depth + 1);
  }
  return out;
}

/** JSON with object keys sorted at every level and no whitespace: equal values give equal text (and hashes). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Dotted paths whose values differ between two JSON values (arrays compared whole). */
export function changedPaths(before: unknown, after: unknown, path = ''): string[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => changedPaths(before[k], after[k], path ? `${path}.${k}` : k));
  }
  return canonicalJson(before) === canonicalJson(after) ? [] : [path || '(root)'];
}
