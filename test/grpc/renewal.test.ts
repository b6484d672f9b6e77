/**
 * Certificate renewal over the real gateway: over mTLS with the same key (new serial,
 * the old one is superseded at once) or a new key (new device id, the old device is
 * revoked as "rekeyed"); and after expiry, anonymously within the renew window, by a
 * signature over a fresh single-use challenge, for the same key only, never for a
 * revoked device or a certificate that has not expired. The gateway runs on a ManualClock
 * for its own (registry-side) view of expiry; certificates that must be expired for
 * the TLS layer (real clock) are issued "in the past" by a second registry.
 */
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { renewalProofMessage, signProof } from '../../src/identity/possession-proof';
import { ManualClock } from '../../src/clock';
import { certIdentity, createCsr, deviceIdFromPublicKeyPem, generateKeyPair } from '../../src/identity';
import { DeviceService, PairingService, PairingState } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { EventService } from '../../src/gen/openclaw/events/v1/events_pb';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { opensslOk } from '../helpers/openssl';
import {
  Connections,
  DAY_MS,
  expectRefused,
  foreignIdentity,
  grpcCodeOf,
  newKey,
  normSerial,
  provision,
  provisionAt,
  publicKeyOf,
  StreamReader,
} from '../helpers/grpc-kit';

const clock = new ManualClock();
const conns = new Connections();
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({ clock });
});
afterAll(async () => {
  conns.closeAll();
  await t.close();
});

const connectAs = (id: { keyPem: string; certPem: string }) => conns.connect(t.address, { caPem: t.gw.registry.ca.certPem, keyPem: id.keyPem, certPem: id.certPem });
const status = (c: GatewayConnection) => {
  const g = c.client(GatewayService);
  return unaryCall(g, g.getStatus, {});
};
const csrOf = (keyPem: string, label = 'renewing') => createCsr({ privateKeyPem: keyPem, publicKeyPem: publicKeyOf(keyPem), label });
const anonPairing = () => conns.connect(t.address, { caPem: t.gw.registry.ca.certPem }).client(PairingService);
const beginExpired = (certPem: string) => {
  const p = anonPairing();
  return unaryCall(p, p.beginExpiredRenewal, { certPem });
};
/** The whole expired path as a device does it: a challenge, signed with `signingKeyPem`. */
const renewExpired = async (certPem: string, signingKeyPem: string) => {
  const c = await beginExpired(certPem);
  const x = new X509Certificate(certPem);
  const message = renewalProofMessage({ deviceId: certIdentity(certPem).deviceId, serial: x.serialNumber, challengeId: c.challengeId, nonce: c.nonce });
  const p = anonPairing();
  return unaryCall(p, p.renewExpiredCertificate, { certPem, challengeId: c.challengeId, signature: signProof(signingKeyPem, message) });
};

describe('RenewCertificate over mTLS', () => {
  test('same key: a new certificate for the same device; the old one is refused at once (CERT_SUPERSEDED)', async () => {
    const dev = await provision(t, { role: 'operator', label: 'renew-same', scopes: ['operator.read'] });
    const c1 = connectAs(dev);
    await status(c1);
    const d1 = c1.client(DeviceService);
    const res = await unaryCall(d1, d1.renewCertificate, { csrPem: csrOf(dev.keyPem) });
    const oldId = certIdentity(dev.certPem);
    const newId = certIdentity(res.certPem);
    expect(newId.deviceId).toBe(dev.deviceId);
    expect(newId.serial).not.toBe(oldId.serial);
    expect(res.device).toMatchObject({ deviceId: dev.deviceId, status: 'active', scopes: ['operator.read'], label: 'renew-same' });
    expect(normSerial(res.device!.serial)).toBe(newId.serial);

    const c2 = connectAs({ keyPem: dev.keyPem, certPem: res.certPem });
    await status(c2);
    // The old certificate: on its still-open HTTP/2 connection and on a fresh one.
    await expectRefused(status(c1), grpc.status.UNAUTHENTICATED, 'CERT_SUPERSEDED');
    await expectRefused(status(connectAs(dev)), grpc.status.UNAUTHENTICATED, 'CERT_SUPERSEDED');
    expect(t.logs.audits('call.deny').some((l) => l.reason === 'CERT_SUPERSEDED' && l.deviceId === dev.deviceId)).toBe(true);
    expect(t.logs.audits('device.renew').some((l) => l.deviceId === dev.deviceId && normSerial(String(l.serial)) === newId.serial)).toBe(true);

    // The superseded serial is in the exported CRL, the current one is not.
    const op = t.connect('cli').client(DeviceService);
    const crl = await unaryCall(op, op.exportCrl, {});
    const text = opensslOk(['crl', '-noout', '-text'], { input: crl.crlPem });
    const listed = [...text.matchAll(/Serial Number: ([0-9A-Fa-f]+)/g)].map((m) => normSerial(m[1]));
    expect(listed).toContain(oldId.serial);
    expect(listed).not.toContain(newId.serial);
  });

  test('new key: a new device id; the old device is revoked as "rekeyed"', async () => {
    const dev = await provision(t, { role: 'operator', label: 'renew-rekey', scopes: ['operator.read', 'operator.write'] });
    const c1 = connectAs(dev);
    const k2 = newKey();
    const d1 = c1.client(DeviceService);
    const res = await unaryCall(d1, d1.renewCertificate, { csrPem: k2.csr('renew-rekey') });
    const newDeviceId = deviceIdFromPublicKeyPem(k2.publicKeyPem);
    expect(newDeviceId).not.toBe(dev.deviceId);
    expect(res.device).toMatchObject({ deviceId: newDeviceId, status: 'active', scopes: ['operator.read', 'operator.write'], label: 'renew-rekey' });
    expect(certIdentity(res.certPem).deviceId).toBe(newDeviceId);

    expect(t.gw.registry.get(dev.deviceId)).toMatchObject({ status: 'revoked', revokeReason: 'rekeyed' });
    const c2 = conns.connect(t.address, { caPem: res.caPem, keyPem: k2.privateKeyPem, certPem: res.certPem });
    const d2 = c2.client(DeviceService);
    expect((await unaryCall(d2, d2.whoAmI, {})).device?.deviceId).toBe(newDeviceId);
    await expectRefused(status(c1), grpc.status.UNAUTHENTICATED, 'DEVICE_REVOKED');
    expect(t.logs.audits('device.renew').some((l) => l.deviceId === newDeviceId && l.previousDeviceId === dev.deviceId && l.rekeyed === true)).toBe(true);
    expect(t.logs.audits('device.revoke').some((l) => l.deviceId === dev.deviceId && l.reason === 'rekeyed')).toBe(true);
  });

  test('an answer lost on the way: the replaced certificate may renew again for a short while, for renewal only', async () => {
    const dev = await provision(t, { role: 'operator', label: 'lossy-network', scopes: ['operator.read'] });
    const c1 = connectAs(dev);
    const d1 = c1.client(DeviceService);
    const lost = await unaryCall(d1, d1.renewCertificate, { csrPem: csrOf(dev.keyPem) });
    // The device never saw `lost`; it retries with the certificate it still has.
    const retry = await unaryCall(connectAs(dev).client(DeviceService), connectAs(dev).client(DeviceService).renewCertificate, { csrPem: csrOf(dev.keyPem) });
    expect(certIdentity(retry.certPem).deviceId).toBe(dev.deviceId);
    await status(connectAs({ keyPem: dev.keyPem, certPem: retry.certPem }));
    await expectRefused(status(connectAs({ keyPem: dev.keyPem, certPem: lost.certPem })), grpc.status.UNAUTHENTICATED, 'CERT_SUPERSEDED');
    // Anything but renewal with the replaced certificate: refused as before.
    await expectRefused(status(c1), grpc.status.UNAUTHENTICATED, 'CERT_SUPERSEDED');
    // Past the grace the replaced one is refused for renewal too.
    const d2 = connectAs({ keyPem: dev.keyPem, certPem: lost.certPem }).client(DeviceService);
    clock.advance(11 * 60_000);
    try {
      await expectRefused(unaryCall(d2, d2.renewCertificate, { csrPem: csrOf(dev.keyPem) }), grpc.status.UNAUTHENTICATED, 'CERT_SUPERSEDED');
    } finally {
      clock.advance(-11 * 60_000);
    }
  });

  test('a CSR without proof of possession is refused and changes nothing', async () => {
    const dev = await provision(t, { role: 'operator', label: 'renew-forged', scopes: ['operator.read'] });
    const c = connectAs(dev);
    // Same key type as the device's (P-256), so only the signature is wrong.
    const other = generateKeyPair('p256');
    // Signed by another key than the one it names.
    const forged = createCsr({ privateKeyPem: other.privateKeyPem, publicKeyPem: publicKeyOf(dev.keyPem), label: 'x' });
    const d = c.client(DeviceService);
    await expectRefused(unaryCall(d, d.renewCertificate, { csrPem: forged }), grpc.status.INVALID_ARGUMENT, 'CSR_SIGNATURE_INVALID');
    await status(c);
  });
});

describe('renewal after expiry (anonymous, signed challenge)', () => {
  test('within the window, same key: a new certificate that works', async () => {
    // 14-day certificate issued 15 days ago: expired a day ago for TLS and for the registry.
    const old = await provisionAt(t, clock.now() - 15 * DAY_MS, { role: 'operator', label: 'sleeper', scopes: ['operator.read'] });
    await expectRefused(status(connectAs(old)), grpc.status.UNAUTHENTICATED, 'CERT_EXPIRED');

    const res = await renewExpired(old.certPem, old.keyPem);
    const id = certIdentity(res.certPem);
    expect(id.deviceId).toBe(old.deviceId);
    expect(id.notAfter).toBeGreaterThan(clock.now() + 13 * DAY_MS);
    await status(connectAs({ keyPem: old.keyPem, certPem: res.certPem }));
    expect(t.logs.audits('device.renew').some((l) => l.deviceId === old.deviceId && l.afterExpiry === true)).toBe(true);
    expect(t.logs.audits('device.renew.challenge').some((l) => l.deviceId === old.deviceId)).toBe(true);

    // The old certificate once more, after the short grace for lost answers: no longer current.
    clock.advance(11 * 60_000);
    try {
      await expectRefused(renewExpired(old.certPem, old.keyPem), grpc.status.UNAUTHENTICATED, 'CERT_SUPERSEDED');
    } finally {
      clock.advance(-11 * 60_000);
    }
  });

  test.each(['rsa', 'p256', 'p384', 'ed25519'] as const)('the signed challenge works with a %s device key', async (keyType) => {
    const old = await provisionAt(t, clock.now() - 15 * DAY_MS, { role: 'node', label: `sleeper-${keyType}`, keyType });
    const res = await renewExpired(old.certPem, old.keyPem);
    expect(certIdentity(res.certPem).deviceId).toBe(old.deviceId);
    const d = connectAs({ keyPem: old.keyPem, certPem: res.certPem }).client(DeviceService);
    expect((await unaryCall(d, d.whoAmI, {})).device?.deviceId).toBe(old.deviceId);
  });

  test('a replayed CSR is no proof: without a signed challenge the request is refused (RENEW_PROOF_REQUIRED)', async () => {
    const old = await provisionAt(t, clock.now() - 15 * DAY_MS, { role: 'operator', label: 'sleeper-csr-replay', scopes: ['operator.read'] });
    const p = anonPairing();
    await expectRefused(unaryCall(p, p.renewExpiredCertificate, { certPem: old.certPem, csrPem: csrOf(old.keyPem) }), grpc.status.UNAUTHENTICATED, 'RENEW_PROOF_REQUIRED');
    expect(normSerial(t.gw.registry.get(old.deviceId)!.cert!.serial)).toBe(certIdentity(old.certPem).serial);
    expect(t.logs.audits('device.renew.denied').some((l) => l.deviceId === old.deviceId && l.reason === 'RENEW_PROOF_REQUIRED' && l.allowed === false)).toBe(true);
  });

  test('a certificate that has NOT expired is refused on the anonymous path and its device keeps working', async () => {
    const dev = await provision(t, { role: 'operator', label: 'awake', scopes: ['operator.read'] });
    await expectRefused(beginExpired(dev.certPem), grpc.status.FAILED_PRECONDITION, 'RENEW_NOT_EXPIRED');
    const p = anonPairing();
    await expectRefused(unaryCall(p, p.renewExpiredCertificate, { certPem: dev.certPem, csrPem: csrOf(dev.keyPem) }), grpc.status.FAILED_PRECONDITION, 'RENEW_NOT_EXPIRED');
    await status(connectAs(dev));
    expect(normSerial(t.gw.registry.get(dev.deviceId)!.cert!.serial)).toBe(certIdentity(dev.certPem).serial);
  });

  test('a signature by another key: refused (RENEW_PROOF_INVALID), nothing changes', async () => {
    const old = await provisionAt(t, clock.now() - 15 * DAY_MS, { role: 'operator', label: 'sleeper-stolen-cert', scopes: ['operator.read'] });
    const thief = newKey();
    await expectRefused(renewExpired(old.certPem, thief.privateKeyPem), grpc.status.UNAUTHENTICATED, 'RENEW_PROOF_INVALID');
    expect(normSerial(t.gw.registry.get(old.deviceId)!.cert!.serial)).toBe(certIdentity(old.certPem).serial);
  });

  test('a challenge is good once, only for its certificate, and a signature over another challenge fails', async () => {
    const a = await provisionAt(t, clock.now() - 15 * DAY_MS, { role: 'operator', label: 'sleeper-a', scopes: ['operator.read'] });
    const b = await provisionAt(t, clock.now() - 15 * DAY_MS, { role: 'operator', label: 'sleeper-b', scopes: ['operator.read'] });
    const p = anonPairing();
    const ca = await beginExpired(a.certPem);
    const cb = await beginExpired(b.certPem);
    const sign = (who: typeof a, c: typeof ca) => {
      const x = new X509Certificate(who.certPem);
      return signProof(who.keyPem, renewalProofMessage({ deviceId: who.deviceId, serial: x.serialNumber, challengeId: c.challengeId, nonce: c.nonce }));
    };
    // b's challenge used with a's certificate (signed properly by a): another certificate's challenge.
    await expectRefused(unaryCall(p, p.renewExpiredCertificate, { certPem: a.certPem, challengeId: cb.challengeId, signature: sign(a, cb) }), grpc.status.UNAUTHENTICATED, 'RENEW_CHALLENGE_MISMATCH');
    // ...which burnt b's challenge.
    await expectRefused(unaryCall(p, p.renewExpiredCertificate, { certPem: b.certPem, challengeId: cb.challengeId, signature: sign(b, cb) }), grpc.status.UNAUTHENTICATED, 'RENEW_CHALLENGE_UNKNOWN');
    // A signature made for a's challenge under another nonce does not verify.
    const forged = signProof(a.keyPem, renewalProofMessage({ deviceId: a.deviceId, serial: new X509Certificate(a.certPem).serialNumber, challengeId: ca.challengeId, nonce: Buffer.alloc(32) }));
    await expectRefused(unaryCall(p, p.renewExpiredCertificate, { certPem: a.certPem, challengeId: ca.challengeId, signature: forged }), grpc.status.UNAUTHENTICATED, 'RENEW_PROOF_INVALID');
    // A made-up challenge id.
    await expectRefused(unaryCall(p, p.renewExpiredCertificate, { certPem: a.certPem, challengeId: 'nope', signature: forged }), grpc.status.UNAUTHENTICATED, 'RENEW_CHALLENGE_UNKNOWN');
    // A fresh challenge works, once.
    const c2 = await beginExpired(a.certPem);
    const ok = await unaryCall(p, p.renewExpiredCertificate, { certPem: a.certPem, challengeId: c2.challengeId, signature: sign(a, c2) });
    expect(certIdentity(ok.certPem).deviceId).toBe(a.deviceId);
    await expectRefused(unaryCall(p, p.renewExpiredCertificate, { certPem: a.certPem, challengeId: c2.challengeId, signature: sign(a, c2) }), grpc.status.UNAUTHENTICATED, 'RENEW_CHALLENGE_UNKNOWN');
  });

  test('for a revoked device: refused (DEVICE_REVOKED)', async () => {
    const old = await provisionAt(t, clock.now() - 15 * DAY_MS, { role: 'operator', label: 'sleeper-revoked', scopes: ['operator.read'] });
    await t.gw.registry.revoke(old.deviceId, 'lost');
    await expectRefused(renewExpired(old.certPem, old.keyPem), grpc.status.UNAUTHENTICATED, 'DEVICE_REVOKED');
  });

  test('past the renew window (7 days): refused (RENEW_WINDOW_PASSED)', async () => {
    const old = await provisionAt(t, clock.now() - 30 * DAY_MS, { role: 'operator', label: 'hibernator', scopes: ['operator.read'] });
    const e = await expectRefused(beginExpired(old.certPem), grpc.status.UNAUTHENTICATED, 'RENEW_WINDOW_PASSED');
    expect(e.message).toContain('renewal window');
  });

  test('a certificate from another CA: refused (CERT_UNTRUSTED)', async () => {
    const foreign = foreignIdentity({ trustDomain: t.gw.trustDomain });
    await expectRefused(beginExpired(foreign.certPem), grpc.status.UNAUTHENTICATED, 'CERT_UNTRUSTED');
  });

  test('failed proofs are limited per device and address; outstanding challenges are capped', async () => {
    const old = await provisionAt(t, clock.now() - 15 * DAY_MS, { role: 'operator', label: 'sleeper-flood', scopes: ['operator.read'] });
    const p = anonPairing();
    // Four challenges: the first is evicted (three outstanding per device and address).
    const cs: Awaited<ReturnType<typeof beginExpired>>[] = [];
    for (let i = 0; i < 4; i++) cs.push(await beginExpired(old.certPem));
    const thief = newKey();
    const proofBy = (keyPem: string, c: (typeof cs)[number]) =>
      signProof(keyPem, renewalProofMessage({ deviceId: old.deviceId, serial: new X509Certificate(old.certPem).serialNumber, challengeId: c.challengeId, nonce: c.nonce }));
    await expectRefused(unaryCall(p, p.renewExpiredCertificate, { certPem: old.certPem, challengeId: cs[0].challengeId, signature: proofBy(old.keyPem, cs[0]) }), grpc.status.UNAUTHENTICATED, 'RENEW_CHALLENGE_UNKNOWN');
    // Wrong proofs count; after eight failures this address must wait, even with a good proof.
    for (let i = 1; i < 8; i++) {
      const c = i < 4 ? cs[i] : await beginExpired(old.certPem);
      await expectRefused(unaryCall(p, p.renewExpiredCertificate, { certPem: old.certPem, challengeId: c.challengeId, signature: proofBy(thief.privateKeyPem, c) }), grpc.status.UNAUTHENTICATED, 'RENEW_PROOF_INVALID');
    }
    const last = await beginExpired(old.certPem);
    await expectRefused(unaryCall(p, p.renewExpiredCertificate, { certPem: old.certPem, challengeId: last.challengeId, signature: proofBy(old.keyPem, last) }), grpc.status.RESOURCE_EXHAUSTED, 'RATE_LIMITED');
    expect(t.logs.audits('device.renew.denied').some((l) => l.deviceId === old.deviceId && l.reason === 'RATE_LIMITED')).toBe(true);
    expect(normSerial(t.gw.registry.get(old.deviceId)!.cert!.serial)).toBe(certIdentity(old.certPem).serial);
  });

  test('past the renew window, SubmitCsr with the same key does not hand out a certificate without approval', async () => {
    const old = await provisionAt(t, clock.now() - 30 * DAY_MS, { role: 'operator', label: 'hibernator-2', scopes: ['operator.read'] });
    const p = anonPairing();
    const res = await unaryCall(p, p.submitCsr, { csrPem: csrOf(old.keyPem, 'hibernator-2'), role: 'operator', scopes: ['operator.read'] });
    expect(res.certPem).toBe('');
    expect(res.state).not.toBe(PairingState.APPROVED);
  });
});

describe('a replayed CSR of a paired device', () => {
  test('is queued for an operator and does not supersede the device\'s certificate', async () => {
    const dev = await provision(t, { role: 'operator', label: 'replay-target', scopes: ['operator.read'] });
    const before = t.gw.registry.get(dev.deviceId)!.cert!.serial;
    const p = anonPairing();
    // Anyone who saw one of the device's CSRs could send it again.
    const res = await unaryCall(p, p.submitCsr, { csrPem: csrOf(dev.keyPem, 'replay-target'), role: 'operator', scopes: ['operator.read'] });
    expect(res.certPem).toBe('');
    expect(res.state).toBe(PairingState.PENDING);
    expect(t.gw.registry.get(dev.deviceId)!.cert!.serial).toBe(before);
    await status(connectAs(dev));
  });
});

// Last in this file: moves the gateway clock two weeks ahead, after which every
// certificate the gateway issued earlier is expired in its registry.
describe('registry-side expiry (ManualClock)', () => {
  test('a certificate that expires while a stream is open: the stream is cut, new calls get CERT_EXPIRED', async () => {
    const dev = await provision(t, { role: 'operator', label: 'long-lived-stream', scopes: ['operator.read'] });
    const c = connectAs(dev);
    const s = new StreamReader(c.client(EventService).subscribe({ types: ['device.pair.requested'] }));
    expect((await s.next()).event?.type).toBe('subscribed');

    const notAfter = certIdentity(dev.certPem).notAfter;
    clock.set(notAfter + 60_000);
    // The gateway checks stream holders twice a second.
    const end = await s.endWithin(2000);
    expect(grpcCodeOf(end.error)).toBe(grpc.status.UNAUTHENTICATED);
    // The stream is cut as if revoked; CERT_EXPIRED would be the precise reason (reported).
    expect(['CERT_EXPIRED', 'DEVICE_REVOKED']).toContain(end.error!.reason);

    // TLS (real clock) still accepts the certificate; the registry does not.
    await expectRefused(status(c), grpc.status.UNAUTHENTICATED, 'CERT_EXPIRED');
    // Renewal over mTLS is refused too: an expired device uses the anonymous renew-after-expiry RPC.
    const d = c.client(DeviceService);
    await expectRefused(unaryCall(d, d.renewCertificate, { csrPem: csrOf(dev.keyPem) }), grpc.status.UNAUTHENTICATED, 'CERT_EXPIRED');
    const res = await renewExpired(dev.certPem, dev.keyPem);
    const id = certIdentity(res.certPem);
    expect(id.deviceId).toBe(dev.deviceId);
    expect(id.notAfter).toBeGreaterThan(clock.now());
  });
});
