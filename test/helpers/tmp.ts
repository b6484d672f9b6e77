/**
 * Temporary directories for tests: each test gets fresh, empty folders under the OS
 * temp dir, removed when the test file is done (set KEEP_TMP=1 to keep them for a
 * post-mortem). Also a byte-exact snapshot of a folder tree, to assert that a failed
 * operation left files untouched.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/** Creates a fresh, empty directory under the OS temp dir and returns its real path. */
export function makeTmpDir(prefix = 'openclaw-test-'): string {
  return realpathSync(mkdtempSync(join(tmpdir(), prefix)));
}

/** Removes a directory tree made by makeTmpDir (kept when KEEP_TMP is set). */
export function removeTmpDir(dir: string): void {
  if (process.env.KEEP_TMP) return;
  rmSync(dir, { recursive: true, force: true });
}

/**
 * For use at the top of a test file: returns a factory of fresh temp dirs; every dir
 * it made is removed after the file's last test.
 */
export function useTmpDirs(prefix?: string): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs.splice(0)) removeTmpDir(dir);
  });
  return () => {
    const dir = makeTmpDir(prefix);
    dirs.push(dir);
    return dir;
  };
}

/** One entry of a tree snapshot: kind, permission bits and (for files) a SHA-256 of the bytes. */
export interface TreeEntry {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  sha256?: string;
}

/**
 * A snapshot of every entry under `root` keyed by relative path: two snapshots are
 * equal (toEqual) exactly when no file was added, removed, changed or re-permissioned.
 * Paths for which `exclude` returns true are left out.
 */
export function snapshotTree(root: string, exclude: (relPath: string) => boolean = () => false): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const rel = relative(root, full);
      if (exclude(rel)) continue;
      const st = lstatSync(full);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        out[rel] = { kind: 'dir', mode };
        walk(full);
      } else if (st.isFile()) {
        out[rel] = { kind: 'file', mode, sha256: createHash('sha256').update(readFileSync(full)).digest('hex') };
      } else {
        out[rel] = { kind: st.isSymbolicLink() ? 'symlink' : 'other', mode };
      }
    }
  };
  walk(root);
  return out;
}

/** Permission bits of a path (e.g. 0o600). */
export function modeOf(path: string): number {
  return lstatSync(path).mode & 0o777;
}
