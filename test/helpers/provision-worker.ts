/**
 * Child-process helper: provisions `count` devices (fresh key + certificate each)
 * against a state directory, the way `certs-tools issue` does (a registry over the
 * state dir's devices collection: openStore + openDevices), but in one process.
 * Usage: node provision-worker.js <stateDir> <count> <labelPrefix> [role]
 * Once its registry is open it prints "ready" and waits for a line on stdin (or its end)
 * before issuing, so that a test can start several workers at the same moment. Prints
 * "issued <i> <deviceId>" once each device is committed and "done <count>" at the end.
 */
import { writeSync } from 'node:fs';
import { systemClock } from '../../src/clock';
import { DeviceRegistry, loadOrCreateCa, statePaths } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { openDevices } from '../../src/store/device-store';
import { openStore } from '../../src/store/open-store';

/** Resolves at the first line on stdin, or when stdin ends. */
function go(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.stdin.off('data', onData);
      process.stdin.off('end', done);
      process.stdin.pause();
      resolve();
    };
    const onData = (chunk: Buffer) => {
      if (chunk.includes(0x0a)) done();
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', done);
  });
}

async function main(): Promise<void> {
  const [stateDir, countText, prefix, role = 'node'] = process.argv.slice(2);
  const count = Number(countText);
  if (!stateDir || !Number.isInteger(count) || count < 0 || !prefix) {
    process.stderr.write('usage: provision-worker <stateDir> <count> <labelPrefix> [role]\n');
    process.exit(2);
  }
  const paths = statePaths(stateDir);
  const { ca } = loadOrCreateCa(paths, systemClock);
  const log = silentLogger();
  const store = await openStore({ stateDir, log });
  try {
    const devices = await openDevices(store, paths.devices);
    const registry = new DeviceRegistry({ store: devices, ca, clock: systemClock, log });
    writeSync(1, 'ready\n');
    await go();
    for (let i = 0; i < count; i++) {
      const issued = await registry.provision({ role, label: `${prefix}${i}` });
      writeSync(1, `issued ${i} ${issued.device.id}\n`);
    }
  } finally {
    await store.close();
  }
  writeSync(1, `done ${count}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`provision-worker: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
