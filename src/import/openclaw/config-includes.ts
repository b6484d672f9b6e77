import { readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { parse as parseJson5 } from 'json5';

/**
 * `$include` in openclaw.json, resolved as OpenClaw does: at any object, `"$include":
 * "file"` or `["a", "b"]` (paths relative to the including file, inside the config folder),
 * each file JSON5 and itself resolved; several files are merged in order; keys beside
 * `$include` are merged over what it brought (objects merged deeply, arrays appended).
 * At most 10 levels, no cycles. Errors name the file.
 */
export function resolveIncludes(value: unknown, file: string, root: string, depth = 0, seen: ReadonlySet<string> = new Set([normalize(file)])): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIncludes(v, file, root, depth, seen));
  if (!isObject(value)) return value;
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (k !== '$include') rest[k] = resolveIncludes(v, file, root, depth, seen);
  if (!('$include' in value)) return rest;
  const spec = value.$include;
  const paths = typeof spec === 'string' ? [spec] : Array.isArray(spec) && spec.every((s) => typeof s === 'string') ? (spec as string[]) : undefined;
  if (!paths) throw new Error(`${rel(root, file)}: $include must be a file name or a list of them`);
  let included: unknown = Array.isArray(spec) ? {} : undefined;
  for (const p of paths) {
    const target = normalize(isAbsolute(p) ? p : resolve(dirname(file), p));
    const realRoot = realpathSync(root);
    let real: string;
    try {
      real = realpathSync(target);
    } catch {
      throw new Error(`${rel(root, file)}: $include ${p} does not exist`);
    }
    if (real !== realRoot && !real.startsWith(realRoot + sep)) throw new Error(`${rel(root, file)}: $include ${p} is outside the OpenClaw folder`);
    if (seen.has(target)) throw new Error(`${rel(root, file)}: $include ${p} includes itself`);
    if (depth >= 10) throw new Error(`${rel(root, file)}: $include nested more than 10 levels`);
    let parsed: unknown;
    try {
      parsed = parseJson5(readFileSync(target, 'utf8'));
    } catch (err) {
      throw new Error(`${rel(root, target)}: ${(err as Error).message}`);
    }
    const one = resolveIncludes(parsed, target, root, depth + 1, new Set([...seen, target]));
    included = included === undefined ? one : merge(included, one);
  }
  if (Object.keys(rest).length === 0) return included;
  if (!isObject(included)) throw new Error(`${rel(root, file)}: keys beside $include need the included content to be an object`);
  return merge(included, rest);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(a: unknown, b: unknown): unknown {
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  if (isObject(a) && isObject(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? merge(out[k], v) : v;
    return out;
  }
  return b;
}

const rel = (root: string, file: string) => relative(root, file) || join('.', file);
