import lockfile from 'proper-lockfile';
import { ensureDir } from './atomic-file';
import { dirname } from 'node:path';
import { errors } from '../errors';

/** A lock older than this (its holder died) is taken over. */
const STALE_MS = 5000;
const WAIT_STEP_MS = 5;

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/**
 * Runs `fn` while holding an exclusive lock shared by every process on this host
 * (a `<path>.lock` directory, proper-lockfile). Used for read-modify-write of state
 * files, so a running gateway and `certs-tools issue` never lose each other's writes.
 * Waits up to `timeoutMs`; a holder that died is detected as stale after 5 s.
 */
export function withFileLockSync<T>(path: string, fn: () => T, timeoutMs = 15000): T {
  ensureDir(dirname(path));
  const deadline = Date.now() + timeoutMs;
  let release: (() => void) | undefined;
  let step = WAIT_STEP_MS;
  while (!release) {
    try {
      release = lockfile.lockSync(path, { realpath: false, stale: STALE_MS });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      if (Date.now() > deadline) {
        throw errors.unavailable('STATE_LOCKED', `state file ${path} is locked by another process; try again`);
      }
      sleepSync(step + Math.floor(Math.random() * step));
      step = Math.min(step * 2, 100);
    }
  }
  try {
    return fn();
  } finally {
    try {
      release();
    } catch {
      /* lock was compromised (taken over as stale); the write itself was atomic */
    }
  }
}
