/**
 * Two processes provisioning at the same time against one state directory (the
 * gateway and certs-tools, say) never lose each other's devices: 2 x 50 issued,
 * 100 registered, every one with its own key.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/clock';
import { loadOrCreateCa, statePaths } from '../../src/identity';
import { FileDeviceStore } from '../../src/store/device-store';
import { helperScript, linesOf, runNode } from '../helpers/run-cli';
import { useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-concurrent-');
const PER_PROCESS = 50;

it('two processes issuing 50 certificates each end with 100 registered devices', async () => {
  const stateDir = join(tmp(), 'state');
  const paths = statePaths(stateDir);
  // The CA exists first (as after `certs-tools init`); the race under test is on devices.json.
  const { ca } = loadOrCreateCa(paths, systemClock);

  const worker = helperScript('provision-worker');
  const [a, b] = await Promise.all([
    runNode(worker, [stateDir, String(PER_PROCESS), 'a-'], { timeoutMs: 50_000 }),
    runNode(worker, [stateDir, String(PER_PROCESS), 'b-'], { timeoutMs: 50_000 }),
  ]);
  for (const r of [a, b]) {
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(linesOf(r.stdout).pop()).toBe(`done ${PER_PROCESS}`);
  }
  const reported = [a, b].flatMap((r) => linesOf(r.stdout).filter((l) => l.startsWith('issued ')).map((l) => l.split(' ')[2]));
  expect(reported).toHaveLength(2 * PER_PROCESS);
  expect(new Set(reported).size).toBe(2 * PER_PROCESS);

  const devices = new FileDeviceStore(paths.devices).list();
  expect(devices).toHaveLength(2 * PER_PROCESS);
  expect(devices.map((d) => d.id).sort()).toEqual([...reported].sort());
  expect(devices.every((d) => d.status === 'active' && d.role === 'node' && d.cert !== undefined)).toBe(true);
  const labels = devices.map((d) => d.label).sort();
  const expected = ['a-', 'b-'].flatMap((p) => Array.from({ length: PER_PROCESS }, (_, i) => `${p}${i}`)).sort();
  expect(labels).toEqual(expected);
  // Both workers used the CA that was there, and left no lock or temp files behind.
  expect(loadOrCreateCa(paths, systemClock).ca.fingerprint).toBe(ca.fingerprint);
  expect(readdirSync(stateDir).sort()).toEqual(['ca', 'devices.json']);
});
