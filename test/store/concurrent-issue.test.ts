/**
 * Several processes provisioning at the same time against one state directory (the
 * gateway and a few certs-tools, say) never lose each other's devices: each writes
 * through a registry over the devices collection (the journal in `<state>/store`, one
 * writer at a time under its lock); 3 x 40 issued, 120 registered, every one with its
 * own key and serial.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/clock';
import { DeviceRegistry, loadOrCreateCa, statePaths } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { openDevicesAt } from '../helpers/store-writer';
import { helperScript, linesOf, startNode } from '../helpers/run-cli';
import { useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-concurrent-');
const PREFIXES = ['a-', 'b-', 'c-'];
const PER_PROCESS = 40;

it(`${PREFIXES.length} processes issuing ${PER_PROCESS} certificates each end with ${PREFIXES.length * PER_PROCESS} registered devices`, async () => {
  const total = PREFIXES.length * PER_PROCESS;
  const stateDir = join(tmp(), 'state');
  const paths = statePaths(stateDir);
  // The CA exists first (as after `certs-tools init`); the race under test is on the devices.
  const { ca } = loadOrCreateCa(paths, systemClock);

  // All workers open the state dir, then start issuing at the same moment.
  const worker = helperScript('provision-worker');
  const workers = PREFIXES.map((p) => startNode(worker, [stateDir, String(PER_PROCESS), p], { timeoutMs: 50_000 }));
  await Promise.all(workers.map((w) => w.waitForLine((l) => l === 'ready')));
  for (const w of workers) w.child.stdin!.end('go\n');
  const results = await Promise.all(workers.map((w) => w.exited));
  for (const r of results) {
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(linesOf(r.stdout).pop()).toBe(`done ${PER_PROCESS}`);
  }
  const reported = results.flatMap((r) => linesOf(r.stdout).filter((l) => l.startsWith('issued ')).map((l) => l.split(' ')[2]));
  expect(reported).toHaveLength(total);
  expect(new Set(reported).size).toBe(total);

  // What a registry over the state dir (the gateway, certs-tools list) now sees.
  const { store, devices } = await openDevicesAt(stateDir);
  const registry = new DeviceRegistry({ store: devices, ca, clock: systemClock, log: silentLogger() });
  const all = registry.list({ includeRevoked: true });
  await store.close();
  expect(all).toHaveLength(total);
  expect(all.map((d) => d.id).sort()).toEqual([...reported].sort());
  expect(all.every((d) => d.status === 'active' && d.role === 'node' && d.cert !== undefined)).toBe(true);
  expect(new Set(all.map((d) => d.cert!.serial)).size).toBe(total);
  // The workers really did run at the same time: each one's span of issue times overlaps the others'.
  const spans = PREFIXES.map((p) => {
    const times = all.filter((d) => d.label.startsWith(p)).map((d) => d.createdAt);
    return [Math.min(...times), Math.max(...times)];
  });
  for (const [from, to] of spans) for (const [otherFrom, otherTo] of spans) expect(from <= otherTo && otherFrom <= to).toBe(true);
  const labels = all.map((d) => d.label).sort();
  const expected = PREFIXES.flatMap((p) => Array.from({ length: PER_PROCESS }, (_, i) => `${p}${i}`)).sort();
  expect(labels).toEqual(expected);
  // Every worker used the CA that was there, and none left a lock or temp file behind.
  expect(loadOrCreateCa(paths, systemClock).ca.fingerprint).toBe(ca.fingerprint);
  expect(readdirSync(stateDir).sort()).toEqual(['ca', 'store']);
  expect(readdirSync(join(stateDir, 'store'))).toEqual(['devices.journal']);
});
