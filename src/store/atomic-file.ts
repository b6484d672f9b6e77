import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, mkdirSync, statSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file so that readers see either the old or the new content, never a mix,
 * even after a crash: write a temp file in the same folder, fsync it, rename it over
 * the target, fsync the folder.
 */
export function writeFileAtomicSync(path: string, data: string | Buffer, mode = 0o600): void {
  const dir = dirname(path);
  ensureDir(dir);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
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
