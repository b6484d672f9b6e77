import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { parse as parseJson5 } from 'json5';

/** Most `$include`s resolved for one config, counting each time a file is included. */
export const MAX_INCLUDES = 100;
/** Most bytes of included files for one config, counting each time a file is included (bounds the merged result). */
export const MAX_INCLUDED_BYTES = 4 * 1024 * 1024;
/** Deepest `$include` nesting, as OpenClaw allows. */
const MAX_DEPTH = 10;

/** Shared by one resolution: each real file is read and parsed once; totals are checked against the limits. */
interface IncludeState {
  root: string;
  realRoot: string;
  parsed: Map<string, { value: unknown; bytes: number }>;
  includes: number;
  bytes: number;
}

/**
 * `$include` in openclaw.json, resolved as OpenClaw does: at any object, `"$include":
 * "file"` or `["a", "b"]` (paths relative to the including file, inside the config folder),
 * each file JSON5 and itself resolved; several files are merged in order; keys beside
 * `$include` are merged over what it brought (objects merged deeply, arrays appended).
 * At most 10 levels, no cycles. Errors name the file.
 *
 * A file included many times side by side at each level would make the work grow
 * exponentially, so each real file is read once, and the whole resolution stops beyond
 * MAX_INCLUDES includes or MAX_INCLUDED_BYTES of included text (each counted every time
 * it is included).
 */
export function resolveIncludes(value: unknown, file: string, root: string): unknown {
  const state: IncludeState = { root, realRoot: realpathSync(root), parsed: new Map(), includes: 0, bytes: 0 };
  return resolveIn(value, file, state, 0, new Set([normalize(file)]));
}

function resolveIn(value: unknown, file: string, st: IncludeState, depth: number, seen: ReadonlySet<string>): unknown {
  const root = st.root;
  if (Array.isArray(value)) return value.map((v) => resolveIn(v, file, st, depth, seen));
  if (!isObject(value)) return value;
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (k !== '$include') rest[k] = resolveIn(v, file, st, depth, seen);
  if (!('$include' in value)) return rest;
  const spec = value.$include;
  const paths = typeof spec === 'string' ? [spec] : Array.isArray(spec) && spec.every((s) => typeof s === 'string') ? (spec as string[]) : undefined;
  if (!paths) throw new Error(`${rel(root, file)}: $include must be a file name or a list of them`);
  let included: unknown = Array.isArray(spec) ? {} : undefined;
  for (const p of paths) {
    const target = normalize(isAbsolute(p) ? p : resolve(dirname(file), p));
    let real: string;
    try {
      real = realpathSync(target);
    } catch {
      throw new Error(`${rel(root, file)}: $include ${p} does not exist`);
    }
    if (real !== st.realRoot && !real.startsWith(st.realRoot + sep)) throw new Error(`${rel(root, file)}: $include ${p} is outside the OpenClaw folder`);
    if (seen.has(target)) throw new Error(`${rel(root, file)}: $include ${p} includes itself`);
    if (depth >= MAX_DEPTH) throw new Error(`${rel(root, file)}: $include nested more than ${MAX_DEPTH} levels`);
    if (++st.includes > MAX_INCLUDES) throw new Error(`${rel(root, file)}: $include ${p}: more than ${MAX_INCLUDES} includes in all (a file included many times over?)`);
    const one = parseOnce(real, target, st);
    st.bytes += one.bytes;
    if (st.bytes > MAX_INCLUDED_BYTES) throw new Error(`${rel(root, file)}: $include ${p}: the included files come to more than ${MAX_INCLUDED_BYTES / (1024 * 1024)} MB in all`);
    const resolved = resolveIn(one.value, target, st, depth + 1, new Set([...seen, target]));
    included = included === undefined ? resolved : merge(included, resolved);
  }
  if (Object.keys(rest).length === 0) return included;
  if (!isObject(included)) throw new Error(`${rel(root, file)}: keys beside $include need the included content to be an object`);
  return merge(included, rest);
}

/** The parsed content of a real file, read at most once per resolution (resolving never changes it). */
function parseOnce(real: string, target: string, st: IncludeState): { value: unknown; bytes: number } {
  const cached = st.parsed.get(real);
  if (cached) return cached;
  let one: { value: unknown; bytes: number };
  try {
    // Checked before reading: one huge file alone is refused without reading it.
    const size = statSync(real).size;
    if (st.bytes + size > MAX_INCLUDED_BYTES) throw new Error(`the included files come to more than ${MAX_INCLUDED_BYTES / (1024 * 1024)} MB in all`);
    const text = readFileSync(real, 'utf8');
    one = { value: parseJson5(text), bytes: Buffer.byteLength(text) };
  } catch (err) {
    throw new Error(`${rel(st.root, target)}: ${(err as Error).message}`);
  }
  st.parsed.set(real, one);
  return one;
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
