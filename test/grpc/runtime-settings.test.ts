/**
 * Runtime settings apply without a restart (ConfigService.PatchConfig, as
 * `openclaw-cli gateway-config patch` sends it): `logging.level` changes which lines the
 * gateway writes at once (once set it is the level; removed, the start level applies
 * again); `certs.clientLifetimeDays` is the lifetime of the next certificate issued;
 * `certs.renewAfterExpiryDays` is the window the next expired renewal is checked against.
 */
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { ManualClock } from '../../src/clock';
import { ConfigService } from '../../src/gen/openclaw/config/v1/config_pb';
import { DeviceService, PairingService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { EventService } from '../../src/gen/openclaw/events/v1/events_pb';
import { certIdentity, createCsr } from '../../src/identity';
import { renewalProofMessage, signProof } from '../../src/identity/possession-proof';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { Connections, DAY_MS, expectRefused, provision, publicKeyOf } from '../helpers/grpc-kit';

const clock = new ManualClock(Date.now());
const conns = new Connections();
let t: TestGateway;
let cli: GatewayConnection;

beforeAll(async () => {
  // The test gateway starts with --log-level debug.
  t = await startTestGateway({ clock });
  // An admin whose certificate outlives the days this file moves the gateway's clock on.
  const admin = await t.gw.registry.provision({ role: 'operator', label: 'settings-admin', scopes: ['operator.admin', 'operator.read'], lifetimeMs: 365 * DAY_MS });
  cli = conns.connect(t.address, { caPem: admin.caPem, keyPem: admin.keyPem, certPem: admin.certPem });
});
afterAll(async () => {
  conns.closeAll();
  await t.close();
});

async function patch(p: unknown): Promise<void> {
  const c = cli.client(ConfigService);
  await unaryCall(c, c.patchConfig, { patchJson: JSON.stringify(p), baseHash: '' });
}

/** Makes the gateway write one debug line (a refused call) and says whether it did. */
async function debugLineWritten(): Promise<boolean> {
  const marker = `probe-${Math.random().toString(36).slice(2)}`;
  const e = cli.client(EventService);
  await expectRefused(unaryCall(e, e.unsubscribe, { subscriptionId: marker }), grpc.status.NOT_FOUND, 'SUBSCRIPTION_NOT_FOUND');
  // The refusal is answered after it was logged (same turn): no waiting needed.
  return t.logs.lines.some((l) => l.level === 20 && typeof l.detail === 'string' && l.detail.includes(marker));
}

test('logging.level applies at once: set, it is the level; removed, the start level applies again', async () => {
  expect(await debugLineWritten()).toBe(true);
  await patch({ logging: { level: 'warn' } });
  expect(await debugLineWritten()).toBe(false);
  await patch({ logging: { level: 'debug' } });
  expect(await debugLineWritten()).toBe(true);
  // "info" is also the default value: set explicitly it still applies (the start level was debug).
  await patch({ logging: { level: 'info' } });
  expect(await debugLineWritten()).toBe(false);
  // Each change is logged at info (so not the one to warn).
  expect(t.logs.lines.filter((l) => l.msg === 'log level changed').map((l) => l.logLevel)).toEqual(['debug', 'info']);
  await patch({ logging: { level: null } });
  expect(await debugLineWritten()).toBe(true);
});

test('certs.clientLifetimeDays is the lifetime of the next certificate issued (here a renewal over mTLS)', async () => {
  const dev = await provision(t, { role: 'operator', label: 'lifetime', scopes: ['operator.read'] });
  const first = new X509Certificate(dev.certPem);
  expect(Date.parse(first.validTo) - Date.parse(first.validFrom)).toBeGreaterThan(13 * DAY_MS);
  await patch({ certs: { clientLifetimeDays: 3 } });
  const c = conns.connect(t.address, dev);
  const d = c.client(DeviceService);
  const res = await unaryCall(d, d.renewCertificate, { csrPem: createCsr({ privateKeyPem: dev.keyPem, publicKeyPem: publicKeyOf(dev.keyPem), label: 'lifetime' }) });
  const renewed = new X509Certificate(res.certPem);
  const days = (Date.parse(renewed.validTo) - Date.parse(renewed.validFrom)) / DAY_MS;
  expect(days).toBeGreaterThan(2.9);
  expect(days).toBeLessThan(3.1);
  await patch({ certs: { clientLifetimeDays: null } });
});

test('certs.renewAfterExpiryDays is the window the next expired renewal is checked against', async () => {
  const a = await provision(t, { role: 'operator', label: 'window-a', scopes: ['operator.read'] });
  const b = await provision(t, { role: 'operator', label: 'window-b', scopes: ['operator.read'] });
  // Both expired two days ago (by the gateway's clock).
  clock.advance(Date.parse(new X509Certificate(a.certPem).validTo) - clock.now() + 2 * DAY_MS);
  const p = conns.connect(t.address, { caPem: t.gw.registry.ca.certPem }).client(PairingService);
  const renewExpired = async (certPem: string, keyPem: string) => {
    const ch = await unaryCall(p, p.beginExpiredRenewal, { certPem });
    const message = renewalProofMessage({ deviceId: certIdentity(certPem).deviceId, serial: new X509Certificate(certPem).serialNumber, challengeId: ch.challengeId, nonce: ch.nonce });
    return unaryCall(p, p.renewExpiredCertificate, { certPem, challengeId: ch.challengeId, signature: signProof(keyPem, message) });
  };
  // Default window (7 days): renewed.
  expect((await renewExpired(a.certPem, a.keyPem)).certPem).toContain('BEGIN CERTIFICATE');
  await patch({ certs: { renewAfterExpiryDays: 1 } });
  await expectRefused(renewExpired(b.certPem, b.keyPem), grpc.status.UNAUTHENTICATED, 'RENEW_WINDOW_PASSED');
  await patch({ certs: { renewAfterExpiryDays: 3 } });
  expect((await renewExpired(b.certPem, b.keyPem)).certPem).toContain('BEGIN CERTIFICATE');
});
