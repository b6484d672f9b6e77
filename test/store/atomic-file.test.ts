/**
 * writeFileAtomicSync replaces a file in one step with private permissions and never
 * leaves its temp file behind; ensureDir creates private folders and fails cleanly.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, removeStaleTempFiles, writeFileAtomicSync } from '../../src/store/atomic-file';
import { startTestGateway } from '../helpers/gateway';
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

describe('removeStaleTempFiles', () => {
  /** A process id that existed a moment ago and is gone now. */
  const deadPid = (): number => {
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    return Number(r.stdout);
  };

  /** Sets a file's modification time `ms` in the past. */
  const age = (file: string, ms: number) => {
    const t = (Date.now() - ms) / 1000;
    utimesSync(file, t, t);
  };

  it('removes temp files of dead writers and old ones, keeps live writers\' fresh ones and everything else', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'identities', 'cli'), { recursive: true });
    const dead = join(dir, 'identities', 'cli', `.cert.pem.${deadPid()}.0badc0de.tmp`);
    const deadTop = join(dir, `.cron.json.${deadPid()}.12345678.tmp`);
    const liveFresh = join(dir, `.config.json.${process.ppid}.abcdef01.tmp`);
    const liveOld = join(dir, `.config.json.${process.ppid}.abcdef02.tmp`);
    const ownFresh = join(dir, `.x.json.${process.pid}.abcdef03.tmp`);
    const ownFromEarlierBoot = join(dir, `.x.json.${process.pid}.abcdef04.tmp`);
    const other = join(dir, '.not-ours.tmp');
    const state = join(dir, 'cron.json');
    for (const f of [dead, deadTop, liveFresh, liveOld, ownFresh, ownFromEarlierBoot, other, state]) writeFileSync(f, 'x');
    age(dead, 2 * 60_000);
    age(deadTop, 5 * 60_000);
    age(liveOld, 3600_000);
    age(ownFromEarlierBoot, process.uptime() * 1000 + 60_000);

    expect(removeStaleTempFiles(dir).sort()).toEqual([dead, deadTop, liveOld, ownFromEarlierBoot].sort());
    for (const f of [liveFresh, ownFresh, other, state]) expect({ f, exists: existsSync(f) }).toEqual({ f, exists: true });
    expect(removeStaleTempFiles(dir)).toEqual([]);
  });

  it('never removes a temp file younger than a minute, whatever its process id (another container\'s write in flight on a shared volume)', () => {
    const dir = tmp();
    // Writers in another container: their ids mean nothing in our process namespace (here: gone).
    const inFlight = join(dir, `.cron.json.${deadPid()}.0000beef.tmp`);
    const secondsOld = join(dir, `.config.json.${deadPid()}.0001beef.tmp`);
    for (const f of [inFlight, secondsOld]) writeFileSync(f, 'half-written');
    age(secondsOld, 50_000);

    expect(removeStaleTempFiles(dir)).toEqual([]);
    for (const f of [inFlight, secondsOld]) expect({ f, exists: existsSync(f) }).toEqual({ f, exists: true });
    // A minute on, a writer that has not renamed its file is gone for good.
    expect(removeStaleTempFiles(dir, { nowMs: Date.now() + 61_000 }).sort()).toEqual([inFlight, secondsOld].sort());
  });

  it('a missing folder is nothing to clean', () => {
    expect(removeStaleTempFiles(join(tmp(), 'absent'))).toEqual([]);
  });

  it('the gateway cleans its state dir at start and says what it removed', async () => {
    const stateDir = tmp();
    const leftover = join(stateDir, `.cron.json.${deadPid()}.deadbeef.tmp`);
    writeFileSync(leftover, 'a half-written state file');
    age(leftover, 2 * 60_000);
    const t = await startTestGateway({ stateDir });
    try {
      expect(existsSync(leftover)).toBe(false);
      expect(t.logs.lines.some((l) => l.msg === 'removed temp files left by interrupted writes' && JSON.stringify(l.removed).includes('.cron.json.'))).toBe(true);
    } finally {
      await t.close();
    }
  });
});
