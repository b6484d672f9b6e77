/**
 * The expired-renewal domain service with a real CA and registry, on both backends
 * (files, and a real PostgreSQL server this file starts), each replica with its own
 * backend over the same place: someone who holds only a device's certificate (which is
 * not secret) from another address can neither answer the device's challenges nor use up
 * its attempts; a challenge begun on one replica is answered on another, once.
 */
import { X509Certificate } from 'node:crypto';
import { ManualClock } from '../../../src/clock';
import { GatewayError } from '../../../src/errors';
import { CertificateAuthority, certIdentity, DeviceRegistry, generateKeyPair } from '../../../src/identity';
import { renewalProofMessage, signProof } from '../../../src/identity/possession-proof';
import { silentLogger } from '../../../src/logging';
import { ExpiredRenewal } from '../../../src/services/pairing/expired-renewal';
import { openRenewalChallenges } from '../../../src/services/pairing/renewal-challenges';
import { openDevices } from '../../../src/store/device-store';
import { storeBackends } from '../../helpers/store-backends';
import { eventually } from '../../helpers/eventually';

const DAY_MS = 24 * 3600_000;
const clock = new ManualClock(Date.now());
const { certPem, keyPem } = CertificateAuthority.create('renewal-test.local', clock.now());
const ca = new CertificateAuthority(certPem, keyPem, 'renewal-test.local');

const stores = storeBackends();
beforeAll(() => stores.start(), 60_000);
afterAll(() => stores.stop());

/** The reason `promise` rejects with, or 'ok' when it resolves. */
const reasonOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return err.reason;
  }
  return 'ok';
};

function proof(issued: { certPem: string }, keyPem: string, c: { challengeId: string; nonce: Buffer }): Buffer {
  const x = new X509Certificate(issued.certPem);
  return signProof(keyPem, renewalProofMessage({ deviceId: certIdentity(issued.certPem).deviceId, serial: x.serialNumber, challengeId: c.challengeId, nonce: c.nonce }));
}

describe.each(stores.all)('expired renewal ($label)', (b) => {
  /** One gateway replica: its own backend over the shared place, registry and renewal service. */
  interface Replica {
    registry: DeviceRegistry;
    renewal: ExpiredRenewal;
  }
  let a: Replica;
  let other: Replica;

  const replica = async (place: string): Promise<Replica> => {
    const store = await b.open(place);
    const registry = new DeviceRegistry({ store: await openDevices(store), ca, clock, log: silentLogger() });
    return { registry, renewal: new ExpiredRenewal({ registry, challenges: await openRenewalChallenges(store), clock, log: silentLogger() }) };
  };

  beforeAll(async () => {
    const place = await b.newPlace();
    a = await replica(place);
    other = await replica(place);
  });

  /** A device whose 14-day certificate expired a day ago, known to both replicas. */
  async function expiredDevice(label: string) {
    const at = clock.now();
    clock.set(at - 15 * DAY_MS);
    const issued = await a.registry.provision({ role: 'node', label });
    clock.set(at);
    await eventually('the other replica knows the device', () => other.registry.get(issued.device.id) !== undefined);
    return issued;
  }

  const complete = (r: Replica, dev: { certPem: string }, signingKeyPem: string, c: { challengeId: string; nonce: Buffer }, peer: string) =>
    r.renewal.complete({ certPem: dev.certPem, challengeId: c.challengeId, signature: proof(dev, signingKeyPem, c), peer });

  test('a challenge is answered only from the address that asked for it', async () => {
    const dev = await expiredDevice('roaming');
    const c = await a.renewal.begin({ certPem: dev.certPem, peer: '10.0.0.1' });
    expect(await reasonOf(complete(a, dev, dev.keyPem, c, '10.0.0.2'))).toBe('RENEW_CHALLENGE_MISMATCH');
    const again = await a.renewal.begin({ certPem: dev.certPem, peer: '10.0.0.1' });
    expect((await complete(a, dev, dev.keyPem, again, '10.0.0.1')).certPem).toContain('BEGIN CERTIFICATE');
  });

  test('begun on one replica, answered on the other; the challenge cannot be used again on either', async () => {
    const dev = await expiredDevice('traveller');
    const c = await a.renewal.begin({ certPem: dev.certPem, peer: '10.1.0.1' });
    const renewed = await complete(other, dev, dev.keyPem, c, '10.1.0.1');
    expect(certIdentity(renewed.certPem).deviceId).toBe(dev.device.id);
    for (const r of [a, other]) expect(await reasonOf(complete(r, dev, dev.keyPem, c, '10.1.0.1'))).toBe('RENEW_CHALLENGE_UNKNOWN');
  });

  test('the same challenge answered on both replicas at once: one certificate, one refusal', async () => {
    const dev = await expiredDevice('twin');
    const c = await a.renewal.begin({ certPem: dev.certPem, peer: '10.2.0.1' });
    const results = await Promise.all([reasonOf(complete(a, dev, dev.keyPem, c, '10.2.0.1')), reasonOf(complete(other, dev, dev.keyPem, c, '10.2.0.1'))]);
    expect(results.sort()).toEqual(['RENEW_CHALLENGE_UNKNOWN', 'ok']);
  });

  test('a challenge expires after a minute, whichever replica is asked', async () => {
    const dev = await expiredDevice('dawdler');
    const c = await a.renewal.begin({ certPem: dev.certPem, peer: '10.3.0.1' });
    clock.advance(60_000);
    try {
      expect(await reasonOf(complete(other, dev, dev.keyPem, c, '10.3.0.1'))).toBe('RENEW_CHALLENGE_UNKNOWN');
    } finally {
      clock.advance(-60_000);
    }
  });

  test('at most three challenges per device and address, counted across replicas: a fourth evicts the oldest', async () => {
    const dev = await expiredDevice('impatient');
    const first = await a.renewal.begin({ certPem: dev.certPem, peer: '10.4.0.1' });
    clock.advance(1);
    await other.renewal.begin({ certPem: dev.certPem, peer: '10.4.0.1' });
    clock.advance(1);
    await a.renewal.begin({ certPem: dev.certPem, peer: '10.4.0.1' });
    clock.advance(1);
    const fourth = await other.renewal.begin({ certPem: dev.certPem, peer: '10.4.0.1' });
    expect(await reasonOf(complete(a, dev, dev.keyPem, first, '10.4.0.1'))).toBe('RENEW_CHALLENGE_UNKNOWN');
    expect((await complete(a, dev, dev.keyPem, fourth, '10.4.0.1')).certPem).toContain('BEGIN CERTIFICATE');
  });

  test('a made-up, malformed or missing challenge id is refused', async () => {
    const dev = await expiredDevice('guesser');
    const forged = { challengeId: 'A'.repeat(22), nonce: Buffer.alloc(32) };
    expect(await reasonOf(complete(a, dev, dev.keyPem, forged, '10.5.0.1'))).toBe('RENEW_CHALLENGE_UNKNOWN');
    expect(await reasonOf(complete(a, dev, dev.keyPem, { challengeId: "x' OR 1=1 --", nonce: Buffer.alloc(32) }, '10.5.0.1'))).toBe('RENEW_CHALLENGE_UNKNOWN');
    expect(await reasonOf(a.renewal.complete({ certPem: dev.certPem, challengeId: '', signature: Buffer.alloc(64), peer: '10.5.0.1' }))).toBe('RENEW_PROOF_REQUIRED');
  });

  test('failures from one address do not block the device at another; challenges from others do not evict its own', async () => {
    const dev = await expiredDevice('targeted');
    const thief = generateKeyPair('p256');
    const mine = await a.renewal.begin({ certPem: dev.certPem, peer: '192.0.2.7' });
    for (let i = 0; i < 12; i++) {
      const c = await a.renewal.begin({ certPem: dev.certPem, peer: '198.51.100.9' });
      expect(['RENEW_PROOF_INVALID', 'RATE_LIMITED']).toContain(await reasonOf(complete(a, dev, thief.privateKeyPem, c, '198.51.100.9')));
    }
    // The attacker's address is now limited...
    const late = await a.renewal.begin({ certPem: dev.certPem, peer: '198.51.100.9' });
    expect(await reasonOf(complete(a, dev, dev.keyPem, late, '198.51.100.9'))).toBe('RATE_LIMITED');
    // ...the device's own challenge, from its own address, still works.
    expect((await complete(a, dev, dev.keyPem, mine, '192.0.2.7')).certPem).toContain('BEGIN CERTIFICATE');
  });

  test('the failure window passes', async () => {
    const dev = await expiredDevice('patient');
    const thief = generateKeyPair('p256');
    for (let i = 0; i < 8; i++) {
      const c = await a.renewal.begin({ certPem: dev.certPem, peer: '203.0.113.5' });
      expect(await reasonOf(complete(a, dev, thief.privateKeyPem, c, '203.0.113.5'))).toBe('RENEW_PROOF_INVALID');
    }
    const c = await a.renewal.begin({ certPem: dev.certPem, peer: '203.0.113.5' });
    expect(await reasonOf(complete(a, dev, dev.keyPem, c, '203.0.113.5'))).toBe('RATE_LIMITED');
    clock.advance(11 * 60_000);
    const c2 = await a.renewal.begin({ certPem: dev.certPem, peer: '203.0.113.5' });
    expect((await complete(a, dev, dev.keyPem, c2, '203.0.113.5')).certPem).toContain('BEGIN CERTIFICATE');
  });

  test('a certificate that has not expired, or is oversized, is refused before anything else', async () => {
    const at = clock.now();
    const fresh = await a.registry.provision({ role: 'node', label: 'awake' });
    expect(await reasonOf(a.renewal.begin({ certPem: fresh.certPem, peer: '10.9.9.9' }))).toBe('RENEW_NOT_EXPIRED');
    expect(await reasonOf(a.renewal.begin({ certPem: 'x'.repeat(20_000), peer: '10.9.9.9' }))).toBe('CERT_TOO_LARGE');
    expect(clock.now()).toBe(at);
  });

  test('no certificate, or something that is not one of ours: refused before any challenge is made', async () => {
    expect(await reasonOf(a.renewal.begin({ certPem: '', peer: '10.8.8.8' }))).toBe('CERT_MISSING');
    expect(await reasonOf(a.renewal.begin({ certPem: '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n', peer: '10.8.8.8' }))).toBe('CERT_UNTRUSTED');
  });
});
