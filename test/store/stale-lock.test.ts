/**
 * The cross-process write locks: a live holder excludes other writers (they give up
 * with UNAVAILABLE STATE_LOCKED); a holder killed with SIGKILL leaves a lock that the
 * next writer takes over once it is stale (the locks' real behaviour).
 *
 * - The devices journal's lock (`<state>/store/devices.journal.lock`, what the gateway
 *   and certs-tools take for every device write): async, waited for with retries,
 *   stale after 10 s.
 * - withFileLockSync (the CA files, the server certificate at start, certs-tools):
 *   synchronous, stale after 5 s.
 * - withFileLock: the same lock, waited for without blocking the event loop (the
 *   running gateway's server certificate check).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, GatewayError } from '../../src/errors';
import { silentLogger } from '../../src/logging';
import { openDevices } from '../../src/store/device-store';
import { withFileLock, withFileLockSync } from '../../src/store/file-lock';
import { FilesBackend } from '../../src/store/journal-collection';
import { fakeDevice, fakeDeviceId, openDevicesAt } from '../helpers/store-writer';
import { helperScript, startNode } from '../helpers/run-cli';
import { useTmpDirs } from '../helpers/tmp';
import { eventually } from '../helpers/eventually';

const tmp = useTmpDirs('openclaw-lock-');
const writer = helperScript('store-writer');

function expectStateLocked(err: unknown): void {
  expect(err).toBeInstanceOf(GatewayError);
  expect((err as GatewayError).code).toBe(ErrorCode.Unavailable);
  expect((err as GatewayError).reason).toBe('STATE_LOCKED');
}

describe('devices journal lock', () => {
  it('a transaction in progress in a live process excludes other writers; once that process is SIGKILLed its lock is taken over as stale', async () => {
    const stateDir = join(tmp(), 'state');
    const journal = join(stateDir, 'store', 'devices.journal');
    const lock = `${journal}.lock`;
    const first = await openDevicesAt(stateDir);
    await first.devices.mutate((tx) => tx.put(fakeDevice('first')));
    await first.store.close();

    // The holder stages a device "held" and stops inside its transaction, holding the lock.
    const holder = startNode(writer, [stateDir, 'hold-lock']);
    await holder.waitForLine((l) => l.startsWith('locked '));
    expect(existsSync(lock)).toBe(true);
    const journalBefore = readFileSync(journal);

    // While the holder lives, another writer (giving up after 300 ms here; 30 s by default)
    // gets UNAVAILABLE STATE_LOCKED, and its transaction function never runs.
    const impatient = new FilesBackend({ dir: join(stateDir, 'store'), log: silentLogger(), lockWaitMs: 300 });
    const devices = await openDevices(impatient);
    let ran = false;
    const started = Date.now();
    const err = await devices
      .mutate((tx) => {
        ran = true;
        tx.put(fakeDevice('impatient'));
      })
      .catch((e: unknown) => e);
    expectStateLocked(err);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(ran).toBe(false);
    expect(readFileSync(journal)).toEqual(journalBefore);
    await impatient.close();

    holder.child.kill('SIGKILL');
    expect((await holder.exited).signal).toBe('SIGKILL');
    expect(existsSync(lock)).toBe(true);

    // The next writer (default wait) takes the dead holder's lock over once it is stale
    // (20 s after the holder's last touch), before its own 30 s wait runs out; the holder's uncommitted device is not there.
    // Meanwhile the process is not blocked (the wait is async, unlike withFileLockSync's)
    // and reads do not wait for the lock at all.
    const next = await openDevicesAt(stateDir);
    let ticks = 0;
    const readsWhileWaiting: number[] = [];
    const ticker = setInterval(() => {
      ticks++;
      readsWhileWaiting.push(next.devices.list().length);
    }, 100);
    const t0 = Date.now();
    await next.devices.mutate((tx) => tx.put(fakeDevice('second'))).finally(() => clearInterval(ticker));
    const waited = Date.now() - t0;
    await next.store.close();
    expect(waited).toBeLessThan(30_000);
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(waited / 100 / 2));
    // Reads while waiting see the one committed device (never the dead holder's); a read made after
    // the commit but before the mutate's promise settled (its lock is released after the commit) sees both.
    expect(readsWhileWaiting.join(',')).toMatch(/^1(,1)*(,2)*$/);
    expect(existsSync(lock)).toBe(false);
    const after = await openDevicesAt(stateDir);
    expect(after.devices.list().map((d) => d.id).sort()).toEqual([fakeDeviceId('first'), fakeDeviceId('second')].sort());
    expect(after.devices.get(fakeDeviceId('held'))).toBeUndefined();
    await after.store.close();
  });

  it('a failed transaction frees the lock; writers over one state dir wait for each other and lose nothing', async () => {
    const stateDir = join(tmp(), 'state');
    const lock = join(stateDir, 'store', 'devices.journal.lock');
    const { store, devices } = await openDevicesAt(stateDir);
    let heldInside = false;
    await expect(
      devices.mutate(() => {
        heldInside = existsSync(lock);
        throw new Error('inside');
      }),
    ).rejects.toThrow('inside');
    expect(heldInside).toBe(true);
    expect(existsSync(lock)).toBe(false);
    // Two other instances over the same state dir (as two processes would be) and this one, all at once.
    const others = [await openDevicesAt(stateDir), await openDevicesAt(stateDir)];
    await Promise.all(
      [devices, ...others.map((o) => o.devices)].flatMap((c, k) => Array.from({ length: 10 }, (_, i) => c.mutate((tx) => tx.put(fakeDevice(`w${k}-${i}`))))),
    );
    expect(devices.list()).toHaveLength(30);
    expect(existsSync(lock)).toBe(false);
    for (const o of others) await o.store.close();
    await store.close();
  });
});

describe('withFileLockSync (CA files, the server certificate at start, certs-tools)', () => {
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
    const path = join(tmp(), 'ca.json');
    const holder = startNode(writer, [path, 'hold-file-lock']);
    await holder.waitForLine((l) => l.startsWith('locked '));
    expect(existsSync(`${path}.lock`)).toBe(true);

    // While the holder lives, another writer times out with UNAVAILABLE STATE_LOCKED.
    let err: unknown;
    try {
      withFileLockSync(path, () => undefined, 300);
    } catch (e) {
      err = e;
    }
    expectStateLocked(err);

    holder.child.kill('SIGKILL');
    expect((await holder.exited).signal).toBe('SIGKILL');
    expect(existsSync(`${path}.lock`)).toBe(true);

    const started = Date.now();
    expect(withFileLockSync(path, () => 'taken over')).toBe('taken over');
    const waited = Date.now() - started;
    expect(existsSync(`${path}.lock`)).toBe(false);
    // Taken over through staleness (5 s after the dead holder's last touch), well before the 15 s timeout.
    expect(waited).toBeLessThan(10_000);
  });
});

describe('withFileLock (waits without blocking)', () => {
  it('while another process holds the lock, the event loop runs on and the wait ends with STATE_LOCKED; once released, both variants get it', async () => {
    const path = join(tmp(), 'server.json');
    const holder = startNode(writer, [path, 'hold-file-lock']);
    await holder.waitForLine((l) => l.startsWith('locked '));

    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    let ran = false;
    const started = Date.now();
    const err = await withFileLock(path, () => (ran = true), 500).catch((e: unknown) => e);
    clearInterval(ticker);
    expectStateLocked(err);
    expect(ran).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    // A blocking wait would have let no timer run at all.
    expect(ticks).toBeGreaterThanOrEqual(10);
    // The synchronous variant is excluded by it too.
    expect(() => withFileLockSync(path, () => undefined, 100)).toThrow(expect.objectContaining({ reason: 'STATE_LOCKED' }));

    holder.child.stdin!.end();
    expect((await holder.exited).code).toBe(0);
    expect(existsSync(`${path}.lock`)).toBe(false);
    await expect(withFileLock(path, async () => 'async', 1000)).resolves.toBe('async');
    expect(withFileLockSync(path, () => 'sync', 100)).toBe('sync');
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('frees the lock when the function throws; a lock taken from the holder is reported by stillHeld', async () => {
    const path = join(tmp(), 'server.json');
    await expect(
      withFileLock(path, () => {
        throw new Error('inside');
      }),
    ).rejects.toThrow('inside');
    expect(existsSync(`${path}.lock`)).toBe(false);

    // Someone removes the lock while it is held: the holder notices at its next refresh.
    const err = await withFileLock(path, async (stillHeld) => {
      stillHeld();
      rmSync(`${path}.lock`, { recursive: true });
      return eventually(
        'the holder notices its lock is gone',
        () => {
          try {
            stillHeld();
            return undefined;
          } catch (e) {
            return e;
          }
        },
        10_000,
      );
    });
    expectStateLocked(err);
    expect((err as Error).message).toContain(`lost the lock of ${path}`);
  });
});
