/**
 * A V8 code cache for openclaw-cli's start-up. About a fifth of a cold `cron list` is
 * V8 compiling grpc-js, protobuf-es and commander; with cached code that drops to
 * deserializing it. Node 22.1+ has this built in (module.enableCompileCache), which is
 * used when present; on Node 20 the CommonJS compile step is wrapped here instead, the
 * way v8-compile-cache does it.
 *
 * Entries are keyed by file name and a SHA-1 of the source (V8 itself only checks the
 * length), stored in one file per Node version and architecture, written atomically at
 * exit when something new was compiled. Any failure leaves the normal loader in charge.
 * The CLI's bin turns it on before loading anything else; OPENCLAW_CLI_COMPILE_CACHE=0
 * turns it off.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

/** Largest cache file kept; beyond it the cache starts over. */
const MAX_BYTES = 32 * 1024 * 1024;

interface Entry {
  key: string;
  data: Buffer;
}

type Compile = (this: NodeJS.Module, content: string, filename: string) => unknown;
type ModuleInternals = typeof Module & {
  prototype: { _compile: Compile };
  wrap(content: string): string;
  _resolveFilename(request: string, parent: NodeJS.Module, isMain: boolean, options?: unknown): string;
  _extensions: NodeJS.RequireExtensions;
  _cache: NodeJS.Dict<NodeJS.Module>;
};

/** Reads "<4-byte header length><JSON [file, key, length][]><data...>". */
function readCache(path: string): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return entries;
  }
  try {
    const headerLength = buf.readUInt32LE(0);
    const header = JSON.parse(buf.subarray(4, 4 + headerLength).toString('utf8')) as [string, string, number][];
    let offset = 4 + headerLength;
    for (const [file, key, length] of header) {
      entries.set(file, { key, data: buf.subarray(offset, offset + length) });
      offset += length;
    }
  } catch {
    entries.clear();
  }
  return entries;
}

function writeCache(path: string, entries: Map<string, Entry>): void {
  const header: [string, string, number][] = [];
  const chunks: Buffer[] = [];
  let total = 0;
  for (const [file, e] of entries) {
    if (total + e.data.length > MAX_BYTES) break;
    header.push([file, e.key, e.data.length]);
    chunks.push(e.data);
    total += e.data.length;
  }
  const headerBuf = Buffer.from(JSON.stringify(header));
  const size = Buffer.alloc(4);
  size.writeUInt32LE(headerBuf.length, 0);
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  // Readable by all: compiled code of the installed program, read by whoever runs it (an image's user).
  writeFileSync(tmp, Buffer.concat([size, headerBuf, ...chunks]), { mode: 0o644 });
  renameSync(tmp, path);
}

/**
 * Whether the CLI ran with this cache directory before. Filling the cache costs a run
 * ~20 ms; a throw-away container (`docker compose run --rm`) would pay that every time
 * for a cache it never reads. So the first run only leaves a marker, and the cache is
 * filled from the second run on, when the directory has shown that it persists.
 */
function secondVisit(dir: string): boolean {
  const marker = join(dir, 'seen');
  if (existsSync(marker)) return true;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(marker, '', { mode: 0o644 });
  } catch {
    // Not writable: no cache, at no cost.
  }
  return false;
}

/**
 * Whether `dir` can hold the cache: it exists or can be made, and nobody but its owner
 * (this user, or root for an image's install) can write to it, since the cache holds code
 * this process runs. Usable read-only (an image's warmed cache) when it has a cache file.
 */
function usableDir(dir: string): boolean {
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o755 });
    const st = statSync(dir);
    const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
    if (!st.isDirectory() || (st.mode & 0o022) !== 0 || (st.uid !== uid && st.uid !== 0)) return false;
    try {
      accessSync(dir, constants.W_OK);
      return true;
    } catch {
      return existsSync(join(dir, cacheFileName()));
    }
  } catch {
    return false;
  }
}

function cacheFileName(): string {
  return `v8-${process.version}-${process.arch}.bin`;
}

/**
 * The first of `candidates` that can hold the cache (see usableDir), else undefined.
 * The CLI passes the folder beside its installed code first (it outlives a throw-away
 * HOME, and an image build warms it), then the user's cache folder.
 */
export function chooseCacheDir(candidates: readonly string[]): string | undefined {
  return candidates.find(usableDir);
}

/**
 * Turns the cache on for every CommonJS module loaded from now on. `dir` is where the
 * cache lives; pass undefined to leave the loader alone.
 */
export function enableCompileCache(dir: string | undefined): void {
  if (!dir || !secondVisit(dir)) return;
  const builtin = (Module as unknown as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;
  if (typeof builtin === 'function') {
    builtin(dir);
    return;
  }
  const M = Module as ModuleInternals;
  const original = M.prototype._compile;
  const path = join(dir, cacheFileName());
  const entries = readCache(path);
  const fresh: [string, string, Script][] = [];
  const mainModule = require.main;

  M.prototype._compile = function compileWithCache(this: NodeJS.Module, content: string, filename: string): unknown {
    // Shebang lines and ESM-style dynamic import() need the real loader.
    if (content.startsWith('#!') || content.includes('import(')) return original.call(this, content, filename);
    const key = createHash('sha1').update(content).digest('base64');
    const cached = entries.get(filename);
    const script = new Script(M.wrap(content), { filename, cachedData: cached?.key === key ? cached.data : undefined });
    if (!cached || cached.key !== key || script.cachedDataRejected) fresh.push([filename, key, script]);
    const mod = this;
    const localRequire = ((id: string) => mod.require(id)) as NodeJS.Require;
    localRequire.resolve = ((request: string, options?: { paths?: string[] }) => M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
    localRequire.main = mainModule;
    localRequire.extensions = M._extensions;
    localRequire.cache = M._cache;
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(mod.exports, mod.exports, localRequire, mod, filename, dirname(filename));
  };

  process.once('exit', () => {
    if (fresh.length === 0) return;
    try {
      // Created at exit, so functions that ran are in the cache too, not just the top level.
      for (const [file, key, script] of fresh) entries.set(file, { key, data: script.createCachedData() });
      writeCache(path, entries);
    } catch {
      // A read-only or full disk only costs speed.
    }
  });
}
