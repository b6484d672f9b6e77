import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync, mkdirSync, statSync, type Dirent } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** A temp file name next to `path` (`.<name>.<pid>.<8 hex>.tmp`): what `removeStaleTempFiles` recognizes. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Writes a file so that readers see either the old or the new content, never a mix,
 * even after a crash: write a temp file in the same folder, fsync it, rename it over
 * the target, fsync the folder. `beforeReplace` runs once the new content is durable,
 * right before the rename (e.g. to keep the old file under another name); if it
 * throws, nothing is replaced.
 */
export function writeFileAtomicSync(path: string, data: string | Buffer, mode = 0o600, opts: { beforeReplace?: () => void } = {}): void {
  const dir = dirname(path);
  ensureDir(dir);
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw err;
  }
  closeSync(fd);
  try {
    opts.beforeReplace?.();
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw err;
  }
  fsyncDir(dir);
}

/** Makes a folder's entries (a new or renamed file) durable; a no-op where the file system refuses. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Creates a folder and its missing parents (mode 0700). Unlike `mkdirSync(recursive)`,
 * which spins forever on Node 20 when a parent refuses new entries (e.g. under /proc),
 * this walks up itself and fails with the real error.
 */
export function ensureDir(dir: string, mode = 0o700): void {
  let exists = false;
  try {
    exists = true;
    if (statSync(dir).isDirectory()) return;
  } catch {
    exists = false;
  }
  if (exists) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR', path: dir });
  const parent = dirname(dir);
  if (parent !== dir) ensureDir(parent, mode);
  try {
    mkdirSync(dir, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(dir).isDirectory()) return;
    throw err;
  }
}

/** Temp files of `writeFileAtomicSync`: `.<name>.<pid>.<8 hex>.tmp`. */
const TEMP_FILE = /^\.(.+)\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** Whether a process with this id exists (on this host). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temp files that interrupted atomic writes left behind (the writer was killed
 * between creating and renaming it) under `dir`, down to `depth` levels of folders.
 *
 * A temp file younger than `minAgeMs` (default a minute) is never removed, whatever its
 * process id: an atomic write lasts milliseconds, and the folder may be shared with
 * processes whose ids mean nothing here (replicas in other containers mounting the same
 * state volume: their pid looks dead, or looks like ours). Past that age a temp file is
 * stale when the process id it names is gone, or is this process and the file predates
 * its start, or when it is older than `maxAgeMs` (its id may have been reused since).
 * Returns the paths removed.
 */
export function removeStaleTempFiles(dir: string, opts: { depth?: number; minAgeMs?: number; maxAgeMs?: number; nowMs?: number } = {}): string[] {
  const depth = opts.depth ?? 3;
  const minAgeMs = opts.minAgeMs ?? 60_000;
  const maxAgeMs = opts.maxAgeMs ?? 10 * 60_000;
  const now = opts.nowMs ?? Date.now();
  const removed: string[] = [];
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return removed;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (depth > 0) removed.push(...removeStaleTempFiles(path, { depth: depth - 1, minAgeMs, maxAgeMs, nowMs: now }));
      continue;
    }
    const m = TEMP_FILE.exec(e.name);
    if (!m || !e.isFile()) continue;
    const pid = Number(m[2]);
    try {
      const age = now - statSync(path).mtimeMs;
      if (age < minAgeMs) continue;
      // Our own id: stale only if written before this process started (an earlier boot,
      // e.g. a container's low process ids come back on every start).
      const stale = pid === process.pid ? age > process.uptime() * 1000 : !processAlive(pid) || age > maxAgeMs;
      if (!stale) continue;
      unlinkSync(path);
      removed.push(path);
    } catch {
      // Renamed or removed by its writer meanwhile: nothing to do.
    }
  }
  return removed;
}
