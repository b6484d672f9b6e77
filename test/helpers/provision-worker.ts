/**
 * Child-process helper: provisions `count` devices (fresh key + certificate each)
 * against a state directory, the way `certs-tools issue` does, but in one process.
 * Usage: node provision-worker.js <stateDir> <count> <labelPrefix> [role]
 * Prints "issued <i> <deviceId>" per device and "done <count>" at the end.
 */
import { writeSync } from 'node:fs';
import { systemClock } from '../../src/clock';
import { DeviceRegistry, loadOrCreateCa, statePaths } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { FileDeviceStore } from '../../src/store/device-store';

function main(): void {
  const [stateDir, countText, prefix, role = 'node'] = process.argv.slice(2);
  const count = Number(countText);
  if (!stateDir || !Number.isInteger(count) || count < 0 || !prefix) {
    process.stderr.write('usage: provision-worker <stateDir> <count> <labelPrefix> [role]\n');
    process.exit(2);
  }
  const paths = statePaths(stateDir);
  const { ca } = loadOrCreateCa(paths, systemClock);
  const registry = new DeviceRegistry({ store: new FileDeviceStore(paths.devices), ca, clock: systemClock, log: silentLogger() });
  for (let i = 0; i < count; i++) {
    const issued = registry.provision({ role, label: `${prefix}${i}` });
    writeSync(1, `issued ${i} ${issued.device.id}\n`);
  }
  writeSync(1, `done ${count}\n`);
}

main();
