/**
 * Child-process helper that writes a devices.json the way the registry does, for
 * crash and lock tests. Usage:
 *   node store-writer.js <devicesJson> loop [padBytes]  add a record per transaction,
 *       printing "count <n>" (records on disk) after each commit, until killed (or 60 s)
 *   node store-writer.js <devicesJson> hold-lock         take the file's lock, print
 *       "locked <pid>" and hold it until killed (or 60 s)
 * Output goes through writeSync so a line is out before the next step starts.
 */
import { writeSync } from 'node:fs';
import { FileDeviceStore, type DeviceRecord } from '../../src/store/device-store';
import { withFileLockSync } from '../../src/store/file-lock';

const GIVE_UP_MS = 60_000;

/** A syntactically valid device record; padding makes each write take longer. */
export function fakeDevice(id: string, pad = 0): DeviceRecord {
  return {
    id,
    label: `writer-${id}${'x'.repeat(pad)}`,
    role: 'node',
    scopes: [],
    status: 'active',
    source: 'provisioned',
    cert: { serial: '01', notBefore: 0, notAfter: 1, issuedAt: 0 },
    previousSerials: [],
    createdAt: 0,
  };
}

function main(): void {
  const [path, mode, padText] = process.argv.slice(2);
  const started = Date.now();
  if (mode === 'loop') {
    const pad = Number(padText ?? '0');
    const store = new FileDeviceStore(path);
    for (let i = 0; Date.now() - started < GIVE_UP_MS; i++) {
      const n = store.transaction((devices) => {
        const id = `${process.pid}-${i}`;
        devices[id] = fakeDevice(id, pad);
        return Object.keys(devices).length;
      });
      writeSync(1, `count ${n}\n`);
    }
    return;
  }
  if (mode === 'hold-lock') {
    withFileLockSync(path, () => {
      writeSync(1, `locked ${process.pid}\n`);
      // Block (no event loop, so the lock's mtime is never refreshed) until killed.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, GIVE_UP_MS);
    });
    return;
  }
  process.stderr.write('usage: store-writer <devicesJson> loop [padBytes] | hold-lock\n');
  process.exit(2);
}

if (require.main === module) main();
