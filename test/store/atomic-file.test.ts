/**
 * writeFileAtomicSync replaces a file in one step with private permissions and never
 * leaves its temp file behind; ensureDir creates private folders and fails cleanly.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, writeFileAtomicSync } from '../../src/store/atomic-file';
import { modeOf, useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-atomic-');

describe('writeFileAtomicSync', () => {
  it('writes the content with mode 0600 and leaves no temp file', () => {
    const dir = tmp();
    const file = join(dir, 'state.json');
    writeFileAtomicSync(file, '{"a":1}\n');
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n');
    expect(modeOf(file)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('replaces an existing (world-readable) file: new bytes, mode 0600, still no temp files', () => {
    const dir = tmp();
    const file = join(dir, 'state.json');
    writeFileSync(file, 'old content that is longer than the new one');
    chmodSync(file, 0o644);
    writeFileAtomicSync(file, Buffer.from('new'));
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(modeOf(file)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('honours an explicit mode and writes large content completely', () => {
    const dir = tmp();
    const file = join(dir, 'ca.pem');
    const big = 'x'.repeat(3 * 1024 * 1024) + 'end';
    writeFileAtomicSync(file, big, 0o644);
    expect(modeOf(file)).toBe(0o644);
    expect(readFileSync(file, 'utf8')).toBe(big);
  });

  it('creates missing parent folders with mode 0700', () => {
    const dir = tmp();
    const file = join(dir, 'a', 'b', 'state.json');
    writeFileAtomicSync(file, 'x');
    expect(readFileSync(file, 'utf8')).toBe('x');
    expect(modeOf(join(dir, 'a'))).toBe(0o700);
    expect(modeOf(join(dir, 'a', 'b'))).toBe(0o700);
  });

  it('on failure (target is a folder) throws and removes its temp file', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'taken'));
    expect(() => writeFileAtomicSync(join(dir, 'taken'), 'x')).toThrow();
    expect(readdirSync(dir)).toEqual(['taken']);
    expect(readdirSync(join(dir, 'taken'))).toEqual([]);
  });
});

describe('ensureDir', () => {
  it('creates nested folders 0700 and accepts an existing folder', () => {
    const dir = tmp();
    ensureDir(join(dir, 'x', 'y'));
    ensureDir(join(dir, 'x', 'y'));
    expect(modeOf(join(dir, 'x', 'y'))).toBe(0o700);
  });

  it('throws (and does not spin) when a parent is a regular file', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => ensureDir(join(dir, 'file', 'sub'))).toThrow();
    expect(readFileSync(join(dir, 'file'), 'utf8')).toBe('x');
  });

  // KNOWN BUG (src/store/atomic-file.ts ensureDir): a path under a regular file fails
  // with EEXIST (from mkdir of the file's own name) instead of ENOTDIR, so the CLI says
  // "cannot write to <tmp>/file/sub: EEXIST". Fix: when statSync(dir) succeeds but is
  // not a directory, throw an ENOTDIR error naming `dir` instead of walking on.
  // Remove `.failing` once fixed.
  it('reports ENOTDIR for a path under a regular file', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'file'), 'x');
    let code: string | undefined;
    try {
      ensureDir(join(dir, 'file', 'sub'));
    } catch (err) {
      code = (err as NodeJS.ErrnoException).code;
    }
    expect(code).toBe('ENOTDIR');
  });
});
