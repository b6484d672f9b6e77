/**
 * The one certificate-folder client (CLI, worker, bridge) against a real gateway, with
 * an injected clock for every renewal decision: not due before two thirds of the
 * lifetime, renewed over mTLS after it, renewed by a signed challenge after expiry
 * within the window, and refused beyond it with the command that gets a new
 * certificate. Certificates that must be expired for TLS (real time) are issued "in the
 * past" by moving the gateway's clock back while provisioning.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock, type Clock } from '../../src/clock';
import { certIdentity, DeviceRegistry, writeIssuedIdentity } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { GatewayError } from '../../src/errors';
import { DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { CertFolderClient, needsNewCertificate, shellQuote } from '../../src/transport/grpc/client/cert-folder-client';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { useTmpDirs } from '../helpers/tmp';
import { normSerial } from '../helpers/grpc-kit';

const DAY_MS = 24 * 3600_000;
const tmp = useTmpDirs('cert-folder-client-');
let t: TestGateway;
const clients: CertFolderClient[] = [];

beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await t.close();
});

/** A folder with a 14-day certificate issued `ageDays` ago, as `issuedBy` would write it. */
async function folderIssuedAgo(label: string, ageDays: number, opts: { role?: string; issuedBy?: string } = {}): Promise<{ dir: string; deviceId: string; serial: string }> {
  const dir = tmp();
  // A registry of its own, whose clock is ageDays back, over the gateway's device store.
  const registry = new DeviceRegistry({ store: t.gw.devices, ca: t.gw.registry.ca, clock: new ManualClock(Date.now() - ageDays * DAY_MS), log: silentLogger(), policy: t.gw.registry.policy });
  const issued = await registry.provision({ role: opts.role ?? 'operator', label });
  writeIssuedIdentity(dir, issued, t.gw.registry.ca, { issuedBy: opts.issuedBy ?? 'openclaw-cli pair', gateway: t.address });
  return { dir, deviceId: issued.device.id, serial: issued.device.cert!.serial };
}

function client(dir: string, clock: Clock = { now: () => Date.now() }): CertFolderClient {
  const c = new CertFolderClient({ dir, target: t.address, clock, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
  clients.push(c);
  return c;
}

const serialOnDisk = (dir: string) => normSerial(certIdentity(readFileSync(join(dir, 'cert.pem'), 'utf8')).serial);
const whoAmI = async (c: CertFolderClient) => (await c.connection().unary(DeviceService.method.whoAmI, {})).device!;
const renewAudits = (deviceId: string) => t.logs.audits('device.renew').filter((l) => l.deviceId === deviceId);

test('before two thirds of the lifetime: nothing is renewed', async () => {
  const f = await folderIssuedAgo('young', 0);
  const clock = new ManualClock(Date.now() + 9 * DAY_MS); // 9 of 14 days: 64 %
  const c = client(f.dir, clock);
  expect(c.due()).toBe(false);
  await c.ensureFresh();
  expect(serialOnDisk(f.dir)).toBe(normSerial(f.serial));
  expect(renewAudits(f.deviceId)).toEqual([]);
  expect((await whoAmI(c)).deviceId).toBe(f.deviceId);
});

test('past two thirds (injected clock): renewed over mTLS with the same key, and the connection follows', async () => {
  const f = await folderIssuedAgo('middle-aged', 0);
  const clock = new ManualClock(Date.now() + 10 * DAY_MS); // 10 of 14 days: 71 %
  const c = client(f.dir, clock);
  expect((await whoAmI(c)).serial).toBe(normSerial(f.serial));
  expect(c.due()).toBe(true);
  const certs = await c.ensureFresh();
  const renewed = certIdentity(certs.certPem);
  expect(renewed.deviceId).toBe(f.deviceId);
  expect(renewed.serial).not.toBe(normSerial(f.serial));
  expect(serialOnDisk(f.dir)).toBe(renewed.serial);
  expect(JSON.parse(readFileSync(join(f.dir, 'identity.json'), 'utf8'))).toMatchObject({ deviceId: f.deviceId, serial: renewed.serial, issuedBy: 'openclaw-cli pair' });
  expect(renewAudits(f.deviceId)).toEqual([expect.objectContaining({ afterExpiry: false, allowed: true })]);
  // The connection switched: the superseded certificate would be refused now.
  expect(normSerial((await whoAmI(c)).serial)).toBe(renewed.serial);
});

test('after expiry, within the window: renewed through the signed challenge', async () => {
  const f = await folderIssuedAgo('sleeper', 15); // expired a day ago
  const c = client(f.dir);
  const out = await c.renew({ onlyIfDue: true });
  expect(out.kind).toBe('renewed');
  if (out.kind !== 'renewed') return;
  expect(out.renewal).toMatchObject({ deviceId: f.deviceId, afterExpiry: true });
  expect(out.renewal.notAfter).toBeGreaterThan(Date.now() + 13 * DAY_MS);
  expect(renewAudits(f.deviceId)).toEqual([expect.objectContaining({ afterExpiry: true })]);
  expect(t.logs.audits('device.renew.challenge').filter((l) => l.deviceId === f.deviceId)).toHaveLength(1);
  expect((await whoAmI(c)).deviceId).toBe(f.deviceId);
});

test('beyond the window: a person\'s device is told to pair again, with the pinned CA and the same folder', async () => {
  const f = await folderIssuedAgo('hibernator', 30);
  const c = client(f.dir);
  const err = (await c.ensureFresh().catch((e: unknown) => e)) as GatewayError;
  expect(err).toBeInstanceOf(GatewayError);
  expect(err.reason).toBe('CERT_EXPIRED_BEYOND_WINDOW');
  expect(needsNewCertificate(err)).toBe(true);
  expect(err.message).toContain(`cannot renew the certificate in ${f.dir}`);
  expect(err.message).toContain(`pair again: openclaw-cli pair --gateway ${t.address} --ca-fingerprint SHA256:${t.gw.caFingerprint} --name hibernator --out ${f.dir} --force`);
  expect(err.message).not.toMatch(/renew it/);
  expect(serialOnDisk(f.dir)).toBe(normSerial(f.serial));
  const denials = () => t.logs.audits('device.renew.denied').filter((l) => l.deviceId === f.deviceId && l.reason === 'RENEW_WINDOW_PASSED').length;
  expect(denials()).toBe(1);
  // Asked again (a long-running process checks every minute): the same answer, without asking the gateway.
  const again = (await c.ensureFresh().catch((e: unknown) => e)) as GatewayError;
  expect(again.reason).toBe('CERT_EXPIRED_BEYOND_WINDOW');
  expect(denials()).toBe(1);
});

test('a clock ahead of the gateway\'s: the certificate looks expired here, the gateway renews it over mTLS', async () => {
  const f = await folderIssuedAgo('clock-ahead', 0);
  const c = client(f.dir, new ManualClock(Date.now() + 15 * DAY_MS));
  const out = await c.renew({ onlyIfDue: true });
  expect(out.kind).toBe('renewed');
  expect(serialOnDisk(f.dir)).not.toBe(normSerial(f.serial));
  expect(renewAudits(f.deviceId)).toEqual([expect.objectContaining({ afterExpiry: false })]);
});

test('beyond the window: a provisioned backend is told the certs-tools command; a local identity to restart the gateway', async () => {
  const backend = await folderIssuedAgo('cron-runner', 30, { role: 'backend', issuedBy: 'certs-tools' });
  const e1 = (await client(backend.dir).ensureFresh().catch((e: unknown) => e)) as GatewayError;
  expect(e1.reason).toBe('CERT_EXPIRED_BEYOND_WINDOW');
  expect(e1.message).toContain(`issue a new one on the gateway host: certs-tools issue --role backend --name cron-runner --out ${backend.dir}`);

  const local = await folderIssuedAgo('local-thing', 30, { role: 'bridge', issuedBy: 'gateway-first-start' });
  const e2 = (await client(local.dir).ensureFresh().catch((e: unknown) => e)) as GatewayError;
  expect(e2.message).toContain('restart the gateway (it re-issues its local identities');
});

test('a revoked device: renewal is refused and the error says how to get a new certificate', async () => {
  const f = await folderIssuedAgo('stolen', 15, { role: 'node', issuedBy: 'certs-tools' });
  await t.gw.registry.revoke(f.deviceId, 'lost');
  const err = (await client(f.dir).ensureFresh().catch((e: unknown) => e)) as GatewayError;
  expect(err.reason).toBe('DEVICE_REVOKED');
  expect(needsNewCertificate(err)).toBe(true);
  expect(err.message).toContain('certs-tools issue --role node');
});

test('a still-valid certificate whose renewal fails: kept, with a warning, never an error', async () => {
  const f = await folderIssuedAgo('unlucky', 0);
  // A gateway that is not there: nothing answers on this port.
  const c = new CertFolderClient({ dir: f.dir, target: '127.0.0.1:1', clock: new ManualClock(Date.now() + 11 * DAY_MS), timeoutMs: 2000 });
  clients.push(c);
  const warnings: string[] = [];
  const certs = await c.ensureFresh((w) => warnings.push(w));
  expect(normSerial(certIdentity(certs.certPem).serial)).toBe(normSerial(f.serial));
  expect(warnings).toEqual([expect.stringContaining(`could not renew the certificate in ${f.dir}`)]);
});

test('several clients that find the same folder due renew it once (folder lock) and all end on the new certificate', async () => {
  const f = await folderIssuedAgo('shared-folder', 11);
  const results = await Promise.all([1, 2, 3, 4].map(() => client(f.dir).ensureFresh()));
  const serials = new Set(results.map((r) => certIdentity(r.certPem).serial));
  expect(serials.size).toBe(1);
  expect([...serials][0]).toBe(serialOnDisk(f.dir));
  expect(renewAudits(f.deviceId)).toHaveLength(1);
});

test('keepFresh: a long-running holder renews when its clock passes the threshold, and its calls go on', async () => {
  const f = await folderIssuedAgo('long-runner', 0);
  const clock = new ManualClock(Date.now());
  const c = client(f.dir, clock);
  expect((await whoAmI(c)).deviceId).toBe(f.deviceId);
  const renewed = new Promise<string>((resolve) => {
    const stop = c.keepFresh({
      everyMs: 50,
      onRenewed: (certs) => {
        stop();
        resolve(certIdentity(certs.certPem).serial);
      },
    });
  });
  // The machine "slept" ten days: the next check compares dates and renews.
  clock.advance(10 * DAY_MS);
  const serial = await renewed;
  expect(serial).not.toBe(normSerial(f.serial));
  expect(normSerial((await whoAmI(c)).serial)).toBe(serial);
});

test('printed commands are quoted for a shell where they need it', () => {
  expect(shellQuote('plain-name_1.2')).toBe('plain-name_1.2');
  expect(shellQuote('/tmp/with space')).toBe("'/tmp/with space'");
  expect(shellQuote("it's $HOME `x`")).toBe("'it'\\''s $HOME `x`'");
});
