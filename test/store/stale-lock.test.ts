/**
 * The cross-process state lock: a live holder excludes other writers (they time out
 * with STATE_LOCKED); a holder killed with SIGKILL leaves a lock that the next writer
 * takes over once it is stale (5 s, the lock's real behaviour).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, GatewayError } from '../../src/errors';
import { FileDeviceStore } from '../../src/store/device-store';
import { withFileLockSync } from '../../src/store/file-lock';
import { fakeDevice } from '../helpers/store-writer';
import { helperScript, startNode } from '../helpers/run-cli';
import { useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-lock-');
const writer = helperScript('store-writer');

it('returns what the function returns and frees the lock, also when the function throws', () => {
  const path = join(tmp(), 'state.json');
  let heldInside = false;
  const value = withFileLockSync(path, () => {
    heldInside = existsSync(`${path}.lock`);
    return 42;
  });
  expect(value).toBe(42);
  expect(heldInside).toBe(true);
  expect(existsSync(`${path}.lock`)).toBe(false);
  const failing = () =>
    withFileLockSync(path, () => {
      throw new Error('inside');
    });
  expect(failing).toThrow('inside');
  expect(existsSync(`${path}.lock`)).toBe(false);
  expect(withFileLockSync(path, () => 'again', 100)).toBe('again');
});

it('a lock held by a live process excludes others; once the holder is SIGKILLed it is taken over as stale', async () => {
  const dir = tmp();
  const path = join(dir, 'devices.json');
  new FileDeviceStore(path).transaction((d) => void (d.first = fakeDevice('first')));
  const holder = startNode(writer, [path, 'hold-lock']);
  await holder.waitForLine((l) => l.startsWith('locked '));
  expect(existsSync(`${path}.lock`)).toBe(true);

  // While the holder lives, another writer times out with UNAVAILABLE STATE_LOCKED.
  let err: unknown;
  try {
    withFileLockSync(path, () => undefined, 300);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(GatewayError);
  expect((err as GatewayError).code).toBe(ErrorCode.Unavailable);
  expect((err as GatewayError).reason).toBe('STATE_LOCKED');

  holder.child.kill('SIGKILL');
  expect((await holder.exited).signal).toBe('SIGKILL');
  expect(existsSync(`${path}.lock`)).toBe(true);

  const started = Date.now();
  new FileDeviceStore(path).transaction((d) => void (d.second = fakeDevice('second')));
  const waited = Date.now() - started;
  expect(new FileDeviceStore(path).list().map((d) => d.id).sort()).toEqual(['first', 'second']);
  expect(existsSync(`${path}.lock`)).toBe(false);
  // Taken over through staleness (5 s after the dead holder's last touch), well before the 15 s timeout.
  expect(waited).toBeLessThan(10_000);
});
