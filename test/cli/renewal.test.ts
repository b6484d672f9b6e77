/**
 * Certificate renewal by the CLI: `renew` while valid and shortly after expiry, and the
 * automatic renewal every command does when less than a third of the lifetime is left.
 * Certificates are issued "in the past" by moving the gateway's clock back while
 * provisioning; TLS checks expiry against the real time, as in production.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/clock';
import { DeviceRegistry } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { useTmpDirs } from '../helpers/tmp';
import { cliFor, writeIdentity, type CliRunner } from './cli-harness';

const DAY_MS = 24 * 60 * 60 * 1000;
const tmp = useTmpDirs('openclaw-cli-renew-');
let t: TestGateway;
let cli: CliRunner;

beforeAll(async () => {
  t = await startTestGateway();
  cli = cliFor(t, tmp());
});
afterAll(async () => {
  await t.close();
});

/** A certificate folder provisioned `ageDays` ago (lifetime 14 days). */
async function provisionedAgo(label: string, ageDays: number): Promise<{ dir: string; deviceId: string; serial: string }> {
  const dir = tmp();
  // A registry of its own, whose clock is ageDays back, over the gateway's device store.
  const registry = new DeviceRegistry({ store: t.gw.devices, ca: t.gw.registry.ca, clock: new ManualClock(Date.now() - ageDays * DAY_MS), log: silentLogger(), policy: t.gw.registry.policy });
  const issued = await registry.provision({ role: 'operator', label });
  writeIdentity(dir, t, issued);
  return { dir, deviceId: issued.device.id, serial: issued.device.cert!.serial };
}

function certOf(dir: string): X509Certificate {
  return new X509Certificate(readFileSync(join(dir, 'cert.pem'), 'utf8'));
}

test('renew issues a new certificate for the same key and writes it', async () => {
  const { dir, deviceId } = await provisionedAgo('fresh', 0);
  const before = certOf(dir);
  const r = await cli.with({ certs: dir }).json('renew');
  expect(r).toMatchObject({ deviceId, afterExpiry: false, certs: dir });
  const after = certOf(dir);
  expect(after.serialNumber).not.toBe(before.serialNumber);
  expect(after.publicKey.export({ type: 'spki', format: 'der' })).toEqual(before.publicKey.export({ type: 'spki', format: 'der' }));
  expect(JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8'))).toMatchObject({ deviceId, serial: r.serial, notAfter: new Date(Date.parse(after.validTo)).toISOString() });
  expect((await cli.with({ certs: dir }).json('whoami')).device.serial).toBe(r.serial);
});

test('a command renews the certificate by itself when less than a third of its life is left', async () => {
  const { dir, deviceId, serial } = await provisionedAgo('aging', 10);
  const r = await cli.with({ certs: dir }).run('--json', 'status');
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const status = JSON.parse(r.stdout) as { device: { deviceId: string; serial: string; notAfterMs: string } };
  expect(status.device.deviceId).toBe(deviceId);
  expect(status.device.serial).not.toBe(serial);
  expect(Number(status.device.notAfterMs)).toBeGreaterThan(Date.now() + 13 * DAY_MS);
  expect(certOf(dir).serialNumber.toLowerCase().replace(/^0+/, '')).toBe(status.device.serial.replace(/^0+/, ''));
});

test('several CLIs that find the same certificate due renew it once and all succeed', async () => {
  const { dir, deviceId } = await provisionedAgo('shared', 11);
  const runner = cli.with({ certs: dir });
  const results = await Promise.all([1, 2, 3, 4].map(() => runner.run('--json', 'whoami')));
  for (const r of results) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const onDisk = certOf(dir).serialNumber.toLowerCase().replace(/^0+/, '');
  expect(t.gw.registry.get(deviceId)!.cert!.serial.replace(/^0+/, '')).toBe(onDisk);
  expect((await runner.json('whoami')).device.serial.replace(/^0+/, '')).toBe(onDisk);
});

test('an expired certificate is renewed (explicitly or by any command) within the window', async () => {
  const a = await provisionedAgo('expired-a', 15);
  const renewed = await cli.with({ certs: a.dir }).json('renew');
  expect(renewed).toMatchObject({ deviceId: a.deviceId, afterExpiry: true });
  await cli.with({ certs: a.dir }).ok('status');

  const b = await provisionedAgo('expired-b', 16);
  const me = await cli.with({ certs: b.dir }).json('whoami');
  expect(me.device).toMatchObject({ deviceId: b.deviceId, status: 'active' });
});

test('too long expired: the command fails saying how to get a new certificate, never "renew it" (exit 4)', async () => {
  const { dir, deviceId } = await provisionedAgo('ancient', 30);
  const r = await cli.with({ certs: dir }).fails('status');
  expect(r.code).toBe(4);
  expect(r.line).toContain(`cannot renew the certificate in ${dir}`);
  expect(r.line).toContain(`certificate of device ${deviceId} expired at`);
  expect(r.line).toContain('more than 7 days ago: beyond the renewal window');
  // A person's device: pair again, with the pinned CA and the same folder.
  expect(r.line).toContain(`pair again: openclaw-cli pair --gateway ${t.address} --ca-fingerprint SHA256:${t.gw.caFingerprint}`);
  expect(r.line).toContain(`--out ${dir}`);
  expect(r.line).not.toMatch(/renew it/);
});
