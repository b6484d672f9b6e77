import lockfile from 'proper-lockfile';
import { ensureDir } from './atomic-file';
import { dirname } from 'node:path';
import { errors } from '../errors';

/** A lock older than this (its holder died) is taken over. */
const STALE_MS = 5000;
const WAIT_STEP_MS = 5;
const MAX_WAIT_STEP_MS = 100;

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

function lockedError(path: string): Error {
  return errors.unavailable('STATE_LOCKED', `state file ${path} is locked by another process; try again`);
}

/**
 * Runs `fn` while holding an exclusive lock shared by every process on this host
 * (a `<path>.lock` directory, proper-lockfile), so that two processes never interleave
 * their writes of the same files. Waits up to `timeoutMs`; a holder that died is
 * detected as stale after 5 s.
 *
 * The wait blocks the whole process (`Atomics.wait`): only for a process that is
 * starting up or a short-lived tool (CA creation, the first server certificate,
 * certs-tools). A running gateway uses `withFileLock`.
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
      if (Date.now() > deadline) throw lockedError(path);
      sleepSync(step + Math.floor(Math.random() * step));
      step = Math.min(step * 2, MAX_WAIT_STEP_MS);
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

/**
 * The same lock as `withFileLockSync` (the two exclude each other), waited for without
 * blocking the event loop: calls keep being answered while another process holds it.
 * Gives up with UNAVAILABLE STATE_LOCKED after `timeoutMs`. `fn` may wait; while it
 * does, the lock is kept fresh. `fn` gets `stillHeld`, to call right before writing:
 * it throws STATE_LOCKED if the lock was taken from this process meanwhile (held
 * without a refresh past its staleness, e.g. the machine slept).
 */
export async function withFileLock<T>(path: string, fn: (stillHeld: () => void) => T | Promise<T>, timeoutMs = 15000): Promise<T> {
  ensureDir(dirname(path));
  const deadline = Date.now() + timeoutMs;
  let lost: Error | undefined;
  let release: (() => Promise<void>) | undefined;
  for (let step = WAIT_STEP_MS; !release; step = Math.min(step * 2, MAX_WAIT_STEP_MS)) {
    try {
      release = await lockfile.lock(path, {
        realpath: false,
        stale: STALE_MS,
        // proper-lockfile's default would throw from a timer and end the process.
        onCompromised: (err) => {
          lost = err;
        },
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      if (Date.now() > deadline) throw lockedError(path);
      await new Promise((resolve) => setTimeout(resolve, step + Math.floor(Math.random() * step)));
    }
  }
  const stillHeld = () => {
    if (lost) throw errors.unavailable('STATE_LOCKED', `lost the lock of ${path} while holding it (${lost.message}); try again`);
  };
  try {
    return await fn(stillHeld);
  } finally {
    await release().catch(() => undefined);
  }
}
