/**
 * The expired-renewal domain service on its own, with a real CA and registry: someone who
 * holds only a device's certificate (which is not secret) from another address can
 * neither answer the device's challenges nor use up its attempts.
 */
import { X509Certificate } from 'node:crypto';
import { ManualClock } from '../../../src/clock';
import { GatewayError } from '../../../src/errors';
import { CertificateAuthority, certIdentity, DeviceRegistry, generateKeyPair } from '../../../src/identity';
import { renewalProofMessage, signProof } from '../../../src/identity/possession-proof';
import { silentLogger } from '../../../src/logging';
import { ExpiredRenewal } from '../../../src/services/pairing/expired-renewal';
import { DEVICES, validateDeviceRecord } from '../../../src/store/device-store';
import { MemoryBackend } from '../../../src/store/memory-backend';

const DAY_MS = 24 * 3600_000;
const clock = new ManualClock(Date.now());
const { certPem, keyPem } = CertificateAuthority.create('renewal-test.local', clock.now());
const ca = new CertificateAuthority(certPem, keyPem, 'renewal-test.local');
let registry: DeviceRegistry;
let renewal: ExpiredRenewal;

beforeAll(async () => {
  registry = new DeviceRegistry({ store: await new MemoryBackend().collection(DEVICES, validateDeviceRecord), ca, clock, log: silentLogger() });
  renewal = new ExpiredRenewal({ registry, clock, log: silentLogger() });
});

/** A device whose 14-day certificate expired a day ago. */
async function expiredDevice(label: string) {
  const at = clock.now();
  clock.set(at - 15 * DAY_MS);
  const issued = await registry.provision({ role: 'node', label });
  clock.set(at);
  return issued;
}

const reasonOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as GatewayError).reason;
  }
  return 'ok';
};

/** The reason `promise` rejects with, or 'ok' when it resolves. */
const reasonOfRejection = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (err) {
    return (err as GatewayError).reason;
  }
  return 'ok';
};

function proof(issued: { certPem: string }, keyPem: string, c: { challengeId: string; nonce: Buffer }): Buffer {
  const x = new X509Certificate(issued.certPem);
  return signProof(keyPem, renewalProofMessage({ deviceId: certIdentity(issued.certPem).deviceId, serial: x.serialNumber, challengeId: c.challengeId, nonce: c.nonce }));
}

test('a challenge is answered only from the address that asked for it', async () => {
  const dev = await expiredDevice('roaming');
  const c = renewal.begin({ certPem: dev.certPem, peer: '10.0.0.1' });
  expect(await reasonOfRejection(renewal.complete({ certPem: dev.certPem, challengeId: c.challengeId, signature: proof(dev, dev.keyPem, c), peer: '10.0.0.2' }))).toBe('RENEW_CHALLENGE_MISMATCH');
  const again = renewal.begin({ certPem: dev.certPem, peer: '10.0.0.1' });
  expect((await renewal.complete({ certPem: dev.certPem, challengeId: again.challengeId, signature: proof(dev, dev.keyPem, again), peer: '10.0.0.1' })).certPem).toContain('BEGIN CERTIFICATE');
});

test('failures from one address do not block the device at another; challenges from others do not evict its own', async () => {
  const dev = await expiredDevice('targeted');
  const thief = generateKeyPair('p256');
  const mine = renewal.begin({ certPem: dev.certPem, peer: '192.0.2.7' });
  for (let i = 0; i < 12; i++) {
    const c = renewal.begin({ certPem: dev.certPem, peer: '198.51.100.9' });
    const r = await reasonOfRejection(renewal.complete({ certPem: dev.certPem, challengeId: c.challengeId, signature: proof(dev, thief.privateKeyPem, c), peer: '198.51.100.9' }));
    expect(['RENEW_PROOF_INVALID', 'RATE_LIMITED']).toContain(r);
  }
  // The attacker's address is now limited...
  const late = renewal.begin({ certPem: dev.certPem, peer: '198.51.100.9' });
  expect(await reasonOfRejection(renewal.complete({ certPem: dev.certPem, challengeId: late.challengeId, signature: proof(dev, dev.keyPem, late), peer: '198.51.100.9' }))).toBe('RATE_LIMITED');
  // ...the device's own challenge, from its own address, still works.
  expect((await renewal.complete({ certPem: dev.certPem, challengeId: mine.challengeId, signature: proof(dev, dev.keyPem, mine), peer: '192.0.2.7' })).certPem).toContain('BEGIN CERTIFICATE');
});

test('the failure window passes', async () => {
  const dev = await expiredDevice('patient');
  const thief = generateKeyPair('p256');
  for (let i = 0; i < 8; i++) {
    const c = renewal.begin({ certPem: dev.certPem, peer: '203.0.113.5' });
    expect(await reasonOfRejection(renewal.complete({ certPem: dev.certPem, challengeId: c.challengeId, signature: proof(dev, thief.privateKeyPem, c), peer: '203.0.113.5' }))).toBe('RENEW_PROOF_INVALID');
  }
  const c = renewal.begin({ certPem: dev.certPem, peer: '203.0.113.5' });
  expect(await reasonOfRejection(renewal.complete({ certPem: dev.certPem, challengeId: c.challengeId, signature: proof(dev, dev.keyPem, c), peer: '203.0.113.5' }))).toBe('RATE_LIMITED');
  clock.advance(11 * 60_000);
  const c2 = renewal.begin({ certPem: dev.certPem, peer: '203.0.113.5' });
  expect((await renewal.complete({ certPem: dev.certPem, challengeId: c2.challengeId, signature: proof(dev, dev.keyPem, c2), peer: '203.0.113.5' })).certPem).toContain('BEGIN CERTIFICATE');
});

test('a certificate that has not expired, or is oversized, is refused before anything else', async () => {
  const at = clock.now();
  const fresh = await registry.provision({ role: 'node', label: 'awake' });
  expect(reasonOf(() => renewal.begin({ certPem: fresh.certPem, peer: '10.9.9.9' }))).toBe('RENEW_NOT_EXPIRED');
  expect(reasonOf(() => renewal.begin({ certPem: 'x'.repeat(20_000), peer: '10.9.9.9' }))).toBe('CERT_TOO_LARGE');
  expect(clock.now()).toBe(at);
});

test('no certificate, or something that is not one of ours: refused before any challenge is made', () => {
  expect(reasonOf(() => renewal.begin({ certPem: '', peer: '10.8.8.8' }))).toBe('CERT_MISSING');
  expect(reasonOf(() => renewal.begin({ certPem: '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n', peer: '10.8.8.8' }))).toBe('CERT_UNTRUSTED');
});
