/**
 * Child-process helper for crash and lock tests. Most modes write the devices collection
 * of a state directory the way the gateway and certs-tools do (openStore + openDevices:
 * the journal `<state>/store/devices.journal` and its lock `devices.journal.lock`). Usage:
 *   node store-writer.js <stateDir> loop [padBytes]
 *       adds one device per transaction and prints "commit <i> <deviceId>" once it is
 *       acknowledged (durable), until killed (or 60 s)
 *   node store-writer.js <stateDir> churn <slots> [padBytes]
 *       transaction i rewrites device slot (i % slots) with generation i (so the journal
 *       grows while the records do not, and gets compacted every ~1000 commits); prints
 *       "commit <i>" once acknowledged, until killed (or 60 s)
 *   node store-writer.js <stateDir> hold-lock
 *       starts a transaction that stages a device "held", prints "locked <pid>" from
 *       inside it and blocks there (holding the journal's lock, never committing) until
 *       killed (or 60 s)
 *   node store-writer.js <stateDir> open
 *       opens the devices collection with its log lines (JSON) on stdout, prints
 *       "devices <ids, sorted, comma-separated>" and exits
 *   node store-writer.js <path> hold-file-lock
 *       takes the cross-process lock of <path> (withFileLock: what certs-tools and the
 *       gateway take for the CA and server certificate files, and the same lock
 *       directory `<path>.lock` a journal at <path> uses), prints "locked <pid>", keeps
 *       it fresh until its stdin ends, then releases it and exits
 * Output goes through writeSync so a line is out before the next step starts.
 */
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { statePaths } from '../../src/identity';
import pino from 'pino';
import { createLogger, silentLogger, type Logger } from '../../src/logging';
import type { Collection, StoreBackend } from '../../src/store/collection';
import { openDevices, type DeviceRecord } from '../../src/store/device-store';
import { withFileLock } from '../../src/store/file-lock';
import { openStore } from '../../src/store/open-store';

const GIVE_UP_MS = 60_000;

/** The (64-hex) device id used for a fake device called `name`. */
export function fakeDeviceId(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

/** A device record the devices collection accepts; padding makes each write longer. */
export function fakeDevice(name: string, pad = 0, generation = 0): DeviceRecord {
  return {
    id: fakeDeviceId(name),
    label: `writer-${name}${'x'.repeat(pad)}`,
    role: 'node',
    scopes: [],
    status: 'active',
    source: 'provisioned',
    cert: { serial: '01', notBefore: 0, notAfter: 1, issuedAt: generation },
    previousSerials: [],
    createdAt: generation,
  };
}

/** The devices collection of a state directory, opened as the gateway and certs-tools open it. Close `store` when done. */
export async function openDevicesAt(stateDir: string, log: Logger = silentLogger()): Promise<{ store: StoreBackend; devices: Collection<DeviceRecord> }> {
  const store = await openStore({ stateDir, log });
  try {
    return { store, devices: await openDevices(store, statePaths(stateDir).devices) };
  } catch (err) {
    await store.close();
    throw err;
  }
}

const MODES = ['loop', 'churn', 'hold-lock', 'open', 'hold-file-lock'];

async function main(): Promise<void> {
  const [stateDir, mode, ...rest] = process.argv.slice(2);
  const started = Date.now();
  if (!stateDir || !MODES.includes(mode)) {
    process.stderr.write('usage: store-writer <stateDir> loop [padBytes] | churn <slots> [padBytes] | hold-lock | open; store-writer <path> hold-file-lock\n');
    process.exit(2);
  }
  if (mode === 'hold-file-lock') {
    await withFileLock(stateDir, async () => {
      writeSync(1, `locked ${process.pid}\n`);
      process.stdin.resume();
      await new Promise((resolve) => process.stdin.once('end', resolve));
    });
    return;
  }
  if (mode === 'open') {
    const { store, devices } = await openDevicesAt(stateDir, createLogger({ destination: pino.destination({ dest: 1, sync: true }) }));
    writeSync(1, `devices ${devices.list().map((d) => d.id).sort().join(',')}\n`);
    await store.close();
    return;
  }
  const { store, devices } = await openDevicesAt(stateDir);
  if (mode === 'loop') {
    const pad = Number(rest[0] ?? '0');
    for (let i = 0; Date.now() - started < GIVE_UP_MS; i++) {
      const name = `${process.pid}-${i}`;
      await devices.mutate((tx) => tx.put(fakeDevice(name, pad, i)));
      writeSync(1, `commit ${i} ${fakeDeviceId(name)}\n`);
    }
  } else if (mode === 'churn') {
    const slots = Number(rest[0]);
    const pad = Number(rest[1] ?? '0');
    for (let i = 0; Date.now() - started < GIVE_UP_MS; i++) {
      await devices.mutate((tx) => tx.put(fakeDevice(`slot-${i % slots}`, pad, i)));
      writeSync(1, `commit ${i}\n`);
    }
  } else {
    await devices.mutate((tx) => {
      tx.put(fakeDevice('held'));
      writeSync(1, `locked ${process.pid}\n`);
      // Block (no event loop: the lock's mtime is never refreshed) until killed.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, GIVE_UP_MS);
    });
  }
  await store.close();
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`store-writer: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
