/**
 * Pairing over the real gRPC port: an anonymous device submits a CSR, watches its
 * request, an operator lists/approves/rejects it (or it expires), and the device uses
 * the certificate it received. Bootstrap tokens approve at once, and a failed attempt
 * must not burn them. Time moves with a ManualClock (pairing TTL, token TTL).
 */
import * as grpc from '@grpc/grpc-js';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { ManualClock } from '../../src/clock';
import { certIdentity, DEFAULT_SCOPES, deviceIdFromPublicKeyPem, verificationCode } from '../../src/identity';
import { DeviceService, PairingService, PairingState, type SubmitCsrResponse, type WatchPairingResponse } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { fetchPinnedCa } from '../../src/transport/grpc/client/pinned-ca';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { Connections, expectRefused, newKey, normSerial, pemBody, StreamReader, type TestKey } from '../helpers/grpc-kit';

const clock = new ManualClock();
const conns = new Connections();
let t: TestGateway;
let operator: GatewayConnection;
let cliDeviceId: string;

beforeAll(async () => {
  t = await startTestGateway({ clock });
  operator = t.connect('cli');
  const d = operator.client(DeviceService);
  cliDeviceId = (await unaryCall(d, d.whoAmI, {})).device!.deviceId;
});
afterAll(async () => {
  conns.closeAll();
  await t.close();
});

const anonymousPairing = () => conns.connect(t.address, { caPem: t.gw.registry.ca.certPem }).client(PairingService);
const devices = () => operator.client(DeviceService);

async function submit(key: TestKey, input: { label?: string; role?: string; scopes?: string[]; bootstrapToken?: string } = {}): Promise<SubmitCsrResponse> {
  const p = anonymousPairing();
  return unaryCall(p, p.submitCsr, { csrPem: key.csr(input.label ?? 'device'), label: input.label ?? '', role: input.role ?? 'operator', scopes: input.scopes ?? [], bootstrapToken: input.bootstrapToken ?? '' });
}

/** Watches a request as its requester (with the secret SubmitCsr returned). */
function watch(sub: { requestId: string; requestSecret: string }): StreamReader<WatchPairingResponse> {
  const p = anonymousPairing();
  return new StreamReader(p.watchPairing({ requestId: sub.requestId, requestSecret: sub.requestSecret }));
}

/** Connects with a key and the certificate the gateway issued for it, and checks it works. */
function connectAs(key: TestKey, certPem: string, caPem: string): GatewayConnection {
  return conns.connect(t.address, { caPem, keyPem: key.privateKeyPem, certPem });
}

describe('pairing by CSR and operator approval', () => {
  test('full flow: submit -> pending with code -> operator sees it -> approve -> watcher gets the certificate -> device works', async () => {
    const key = newKey();
    const deviceId = deviceIdFromPublicKeyPem(key.publicKeyPem);

    const sub = await submit(key, { label: 'phone', scopes: ['operator.read', 'operator.write'] });
    expect(sub.state).toBe(PairingState.PENDING);
    expect(sub.requestId).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(sub.deviceId).toBe(deviceId);
    expect(sub.verificationCode).toBe(verificationCode(deviceId));
    expect(sub.verificationCode).toMatch(/^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/);
    expect(sub.certPem).toBe('');
    expect(Number(sub.expiresAtMs)).toBe(clock.now() + 5 * 60_000);

    const w = watch(sub);
    const first = await w.next();
    expect(first).toMatchObject({ state: PairingState.PENDING, deviceId, certPem: '', caPem: '' });

    // The operator sees the same request, with the same code, and no device yet.
    const list = await unaryCall(devices(), devices().listDevices, {});
    const pending = list.pending.find((p) => p.requestId === sub.requestId);
    expect(pending).toMatchObject({ deviceId, verificationCode: sub.verificationCode, label: 'phone', role: 'operator', scopes: ['operator.read', 'operator.write'], kind: 'csr' });
    expect(list.devices.map((d) => d.deviceId)).not.toContain(deviceId);

    const approved = await unaryCall(devices(), devices().approvePairing, { requestId: sub.requestId });
    expect(approved.device).toMatchObject({ deviceId, label: 'phone', role: 'operator', status: 'active', source: 'paired', scopes: ['operator.read', 'operator.write'] });

    const final = await w.next();
    expect(final.state).toBe(PairingState.APPROVED);
    expect(final.deviceId).toBe(deviceId);
    expect(final.scopes).toEqual(['operator.read', 'operator.write']);
    expect(pemBody(final.caPem)).toBe(pemBody(t.gw.registry.ca.certPem));
    const end = await w.ended;
    expect(end.error).toBeUndefined();

    // The certificate: signed by our CA, for this key, the SPIFFE id of the device, the serial the registry holds.
    const x = new X509Certificate(final.certPem);
    expect(x.verify(new X509Certificate(final.caPem).publicKey)).toBe(true);
    expect(x.checkPrivateKey(createPrivateKey(key.privateKeyPem))).toBe(true);
    const id = certIdentity(final.certPem);
    expect(id).toMatchObject({ deviceId, role: 'operator', trustDomain: t.gw.trustDomain, serial: normSerial(approved.device!.serial) });
    expect(x.subjectAltName).toBe(`URI:spiffe://${t.gw.trustDomain}/operator/${deviceId}`);

    // The device can now use the API with its own certificate.
    const dev = connectAs(key, final.certPem, final.caPem);
    const g = dev.client(GatewayService);
    const status = await unaryCall(g, g.getStatus, {});
    expect(status.caFingerprintSha256).toBe(t.gw.caFingerprint);
    const d = dev.client(DeviceService);
    const me = await unaryCall(d, d.whoAmI, {});
    expect(me.device).toMatchObject({ deviceId, label: 'phone', role: 'operator', status: 'active', scopes: ['operator.read', 'operator.write'] });
    expect(me.principalDeviceId).toBe('');
    // ...but only within what was approved: no operator.pairing.
    await expectRefused(unaryCall(d, d.listDevices, {}), grpc.status.PERMISSION_DENIED, 'MISSING_SCOPE');

    // Decided: approving it again says so, and by whom.
    const again = await expectRefused(unaryCall(devices(), devices().approvePairing, { requestId: sub.requestId }), grpc.status.FAILED_PRECONDITION, 'PAIRING_ALREADY_DECIDED');
    expect(again.message).toBe(`pairing request ${sub.requestId} was already approved (by ${cliDeviceId})`);
    expect(t.logs.audits('pairing.approve.denied').some((l) => l.requestId === sub.requestId && l.reason === 'PAIRING_ALREADY_DECIDED' && l.allowed === false)).toBe(true);
    // A late watcher still learns the outcome.
    const late = watch(sub);
    expect((await late.next()).state).toBe(PairingState.APPROVED);
    await late.ended;

    expect(t.logs.audits('pairing.request').some((l) => l.requestId === sub.requestId && l.deviceId === deviceId)).toBe(true);
    expect(t.logs.audits('pairing.approve').some((l) => l.requestId === sub.requestId && l.deviceId === deviceId && l.actor === cliDeviceId)).toBe(true);
  });

  test('approval can narrow the requested scopes, never widen them', async () => {
    const key = newKey();
    const sub = await submit(key, { label: 'tablet', scopes: ['operator.read', 'operator.write', 'operator.pairing'] });
    const w = watch(sub);
    expect((await w.next()).state).toBe(PairingState.PENDING);

    // A scope the device did not ask for, or no scope at all, is refused and the request stays pending.
    const stillPending = async () => (await unaryCall(devices(), devices().listDevices, {})).pending.some((p) => p.requestId === sub.requestId);
    await expectRefused(unaryCall(devices(), devices().approvePairing, { requestId: sub.requestId, scopes: ['operator.admin'] }), grpc.status.INVALID_ARGUMENT, 'SCOPES_NOT_REQUESTED');
    expect(await stillPending()).toBe(true);
    await expectRefused(unaryCall(devices(), devices().approvePairing, { requestId: sub.requestId, scopes: ['operator.everything'] }), grpc.status.INVALID_ARGUMENT, 'UNKNOWN_SCOPE');
    expect(await stillPending()).toBe(true);

    const approved = await unaryCall(devices(), devices().approvePairing, { requestId: sub.requestId, scopes: ['operator.read'] });
    expect(approved.device!.scopes).toEqual(['operator.read']);
    const final = await w.next();
    expect(final).toMatchObject({ state: PairingState.APPROVED, scopes: ['operator.read'] });
    await w.ended;

    const dev = connectAs(key, final.certPem, final.caPem);
    const g = dev.client(GatewayService);
    await unaryCall(g, g.getStatus, {});
    const d = dev.client(DeviceService);
    expect((await unaryCall(d, d.whoAmI, {})).device!.scopes).toEqual(['operator.read']);
    await expectRefused(unaryCall(d, d.listDevices, {}), grpc.status.PERMISSION_DENIED, 'MISSING_SCOPE');
    expect(t.logs.audits('pairing.approve').some((l) => l.requestId === sub.requestId && JSON.stringify(l.scopes) === '["operator.read"]')).toBe(true);
  });

  test('rejection: the watcher gets REJECTED with the reason, and no certificate', async () => {
    const key = newKey();
    const sub = await submit(key, { label: 'unknown-laptop', scopes: ['operator.read'] });
    const w = watch(sub);
    expect((await w.next()).state).toBe(PairingState.PENDING);
    await unaryCall(devices(), devices().rejectPairing, { requestId: sub.requestId, reason: 'not ours' });
    const final = await w.next();
    expect(final).toMatchObject({ state: PairingState.REJECTED, deviceId: sub.deviceId, certPem: '', caPem: '', reason: 'not ours' });
    expect((await w.ended).error).toBeUndefined();
    await expectRefused(unaryCall(devices(), devices().approvePairing, { requestId: sub.requestId }), grpc.status.FAILED_PRECONDITION, 'PAIRING_ALREADY_DECIDED');
    await expectRefused(unaryCall(devices(), devices().rejectPairing, { requestId: sub.requestId }), grpc.status.FAILED_PRECONDITION, 'PAIRING_ALREADY_DECIDED');
    const list = await unaryCall(devices(), devices().listDevices, { includeRevoked: true });
    expect(list.devices.map((d) => d.deviceId)).not.toContain(sub.deviceId);
    expect(t.logs.audits('pairing.reject').some((l) => l.requestId === sub.requestId && l.actor === cliDeviceId && l.reason === 'not ours')).toBe(true);
  });

  test('watching an unknown request is NOT_FOUND', async () => {
    const w = watch({ requestId: 'no-such-request-id', requestSecret: 'x' });
    const end = await w.ended;
    expect(end.error).toBeDefined();
    expect(end.error!.details.grpcCode).toBe(grpc.status.NOT_FOUND);
    expect(end.error!.reason).toBe('PAIRING_REQUEST_NOT_FOUND');
  });

  test('the result goes only to the requester: without its secret a request id shows nothing, before or after approval', async () => {
    const key = newKey();
    const sub = await submit(key, { label: 'secretive', scopes: ['operator.read'] });
    expect(sub.requestSecret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const refused = async (secret: string) => {
      const end = await watch({ requestId: sub.requestId, requestSecret: secret }).ended;
      expect({ code: end.error?.details.grpcCode, reason: end.error?.reason }).toEqual({ code: grpc.status.NOT_FOUND, reason: 'PAIRING_REQUEST_NOT_FOUND' });
    };
    await refused('');
    await refused(sub.requestSecret.slice(0, -1) + (sub.requestSecret.endsWith('A') ? 'B' : 'A'));
    // Someone who replays the same CSR gets a secret of its own, which does not take the
    // result away from the device (and a certificate is useless to it without the key).
    const replay = await submit(key, { label: 'secretive', scopes: ['operator.read'] });
    expect(replay.requestId).toBe(sub.requestId);
    expect(replay.requestSecret).not.toBe(sub.requestSecret);

    const w = watch(sub);
    expect((await w.next()).state).toBe(PairingState.PENDING);
    await unaryCall(devices(), devices().approvePairing, { requestId: sub.requestId });
    const final = await w.next();
    expect(final.state).toBe(PairingState.APPROVED);
    expect(final.certPem).toContain('BEGIN CERTIFICATE');
    // After approval: the outcome (with the certificate) for the requester, nothing for others.
    await refused('');
    await refused('not-the-secret');
    expect((await watch(sub).next()).certPem).toBe(final.certPem);
    expect(t.logs.audits('pairing.watch.denied').filter((l) => l.requestId === sub.requestId && l.allowed === false).length).toBeGreaterThanOrEqual(3);
  });
});

describe('pinned CA', () => {
  test('fetchPinnedCa returns the CA for the right fingerprint and refuses a wrong one', async () => {
    const ca = await fetchPinnedCa('127.0.0.1', t.gw.grpcPort, t.gw.caFingerprint);
    expect(pemBody(ca)).toBe(pemBody(t.gw.registry.ca.certPem));
    // Colons and case do not matter.
    const bare = t.gw.caFingerprint.replace(/:/g, '').toUpperCase();
    expect(pemBody(await fetchPinnedCa('127.0.0.1', t.gw.grpcPort, bare))).toBe(pemBody(ca));

    const hex = t.gw.caFingerprint.replace(/:/g, '');
    const wrong = (hex[0] === '0' ? '1' : '0') + hex.slice(1);
    await expect(fetchPinnedCa('127.0.0.1', t.gw.grpcPort, wrong)).rejects.toMatchObject({ reason: 'CA_FINGERPRINT_MISMATCH' });
    await expect(fetchPinnedCa('127.0.0.1', t.gw.grpcPort, 'abcd')).rejects.toMatchObject({ reason: 'BAD_FINGERPRINT' });
  });

  test('GetCaBundle (anonymous) agrees with the pinned fingerprint', async () => {
    const p = anonymousPairing();
    const b = await unaryCall(p, p.getCaBundle, {});
    expect(b).toMatchObject({ fingerprintSha256: t.gw.caFingerprint, trustDomain: t.gw.trustDomain });
    expect(pemBody(b.caPem)).toBe(pemBody(t.gw.registry.ca.certPem));
  });
});

describe('bootstrap tokens', () => {
  async function tokenInfo(tokenId: string) {
    const res = await unaryCall(devices(), devices().listBootstrapTokens, {});
    return res.tokens.find((x) => x.tokenId === tokenId);
  }

  test('a token approves at once; failed attempts do not burn it; a used token is refused', async () => {
    const created = await unaryCall(devices(), devices().createBootstrapToken, { label: 'ci-runner', role: 'operator', scopes: ['operator.read'], uses: 1, ttlMs: 600_000n });
    expect(created.token).toMatch(/^ocbt_[0-9a-f]{12}\.[A-Za-z0-9_-]+$/);
    expect(created.info).toMatchObject({ role: 'operator', scopes: ['operator.read'], usesLeft: 1, revoked: false });
    const tokenId = created.info!.tokenId;
    const secret = created.token.split('.')[1];

    const key = newKey();
    // Over the ceiling: scope and role.
    await expectRefused(submit(key, { scopes: ['operator.admin'], bootstrapToken: created.token }), grpc.status.PERMISSION_DENIED, 'TOKEN_SCOPE');
    await expectRefused(submit(key, { role: 'node', scopes: ['operator.read'], bootstrapToken: created.token }), grpc.status.PERMISSION_DENIED, 'TOKEN_ROLE');
    // A bad CSR.
    const p = anonymousPairing();
    await expectRefused(unaryCall(p, p.submitCsr, { csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', role: 'operator', scopes: ['operator.read'], bootstrapToken: created.token }), grpc.status.INVALID_ARGUMENT, 'CSR_MALFORMED');
    expect((await tokenInfo(tokenId))!.usesLeft).toBe(1);

    // The correct attempt is approved immediately, with a working certificate.
    const ok = await submit(key, { label: 'ci-box', scopes: ['operator.read'], bootstrapToken: created.token });
    expect(ok.state).toBe(PairingState.APPROVED);
    expect(ok.deviceId).toBe(deviceIdFromPublicKeyPem(key.publicKeyPem));
    expect(ok.certPem).toContain('BEGIN CERTIFICATE');
    expect(pemBody(ok.caPem)).toBe(pemBody(t.gw.registry.ca.certPem));
    expect((await tokenInfo(tokenId))!.usesLeft).toBe(0);
    const dev = connectAs(key, ok.certPem, ok.caPem);
    const d = dev.client(DeviceService);
    expect((await unaryCall(d, d.whoAmI, {})).device).toMatchObject({ deviceId: ok.deviceId, source: 'bootstrap', scopes: ['operator.read'], label: 'ci-box' });
    const g = dev.client(GatewayService);
    await unaryCall(g, g.getStatus, {});

    // Single use: a second device cannot use it.
    const other = newKey();
    await expectRefused(submit(other, { scopes: ['operator.read'], bootstrapToken: created.token }), grpc.status.UNAUTHENTICATED, 'TOKEN_USED');

    expect(t.logs.audits('pairing.approve').some((l) => l.deviceId === ok.deviceId && l.by === `bootstrap-token:${tokenId}`)).toBe(true);
    // The secret never reaches the log, nor the token list.
    expect(t.logs.lines.some((l) => JSON.stringify(l).includes(secret))).toBe(false);
    expect(JSON.stringify(await unaryCall(devices(), devices().listBootstrapTokens, {}), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(secret);
  });

  test('a token created without scopes grants its role\'s defaults, and a device asking for nothing gets them', async () => {
    const created = await unaryCall(devices(), devices().createBootstrapToken, { label: 'defaults', role: 'operator', scopes: [], uses: 1, ttlMs: 600_000n });
    const defaults = [...DEFAULT_SCOPES.operator];
    expect(defaults.length).toBeGreaterThan(0);
    expect(created.info!.scopes).toEqual(defaults);
    const key = newKey();
    const ok = await submit(key, { label: 'sensor', role: '', scopes: [], bootstrapToken: created.token });
    expect(ok.state).toBe(PairingState.APPROVED);
    expect(t.gw.registry.get(ok.deviceId)).toMatchObject({ role: 'operator', scopes: defaults });
  });

  test('no token for the bridge role: it acts for legacy principals and is provisioned with certs-tools, never paired', async () => {
    const err = await expectRefused(unaryCall(devices(), devices().createBootstrapToken, { label: 'sneaky', role: 'bridge', scopes: [], uses: 1, ttlMs: 600_000n }), grpc.status.INVALID_ARGUMENT, 'TOKEN_ROLE_NOT_ALLOWED');
    expect(err.message).toContain('cannot grant role bridge');
    expect((await unaryCall(devices(), devices().listBootstrapTokens, {})).tokens.some((x) => x.label === 'sneaky')).toBe(false);
  });

  test('a token is never spent on a key that is already paired or revoked: the device keeps its certificate', async () => {
    const created = await unaryCall(devices(), devices().createBootstrapToken, { label: 'replay', role: 'operator', scopes: ['operator.read'], uses: 2, ttlMs: 600_000n });
    const victimKey = newKey();
    const first = await submit(victimKey, { label: 'victim', scopes: ['operator.read'], bootstrapToken: created.token });
    expect(first.state).toBe(PairingState.APPROVED);
    const serial = t.gw.registry.get(first.deviceId)!.cert!.serial;
    // The same CSR again (anyone who saw it), with a token: refused, the token kept.
    const again = await expectRefused(submit(victimKey, { label: 'attacker-label', scopes: ['operator.read'], bootstrapToken: created.token }), grpc.status.FAILED_PRECONDITION, 'DEVICE_ALREADY_PAIRED');
    expect(again.message).toContain('renews its certificate over mTLS');
    expect(t.gw.registry.get(first.deviceId)).toMatchObject({ label: 'victim', status: 'active', cert: { serial } });
    expect((await tokenInfo(created.info!.tokenId))!.usesLeft).toBe(1);
    // A revoked device does not come back through a token either.
    await t.gw.registry.revoke(first.deviceId, 'lost');
    await expectRefused(submit(victimKey, { label: 'victim', scopes: ['operator.read'], bootstrapToken: created.token }), grpc.status.FAILED_PRECONDITION, 'DEVICE_ALREADY_PAIRED');
    expect(t.gw.registry.get(first.deviceId)!.status).toBe('revoked');
    expect((await tokenInfo(created.info!.tokenId))!.usesLeft).toBe(1);
    expect(t.logs.audits('pairing.denied').some((l) => l.deviceId === first.deviceId && l.reason === 'DEVICE_ALREADY_PAIRED')).toBe(true);
  });

  test('the same CSR submitted twice at once with a token is approved once; the other use is given back', async () => {
    const created = await unaryCall(devices(), devices().createBootstrapToken, { label: 'race', role: 'operator', scopes: ['operator.read'], uses: 3, ttlMs: 600_000n });
    const key = newKey();
    const results = await Promise.allSettled([1, 2].map(() => submit(key, { label: 'racer', scopes: ['operator.read'], bootstrapToken: created.token })));
    const approved = results.filter((r) => r.status === 'fulfilled' && r.value.state === PairingState.APPROVED);
    const refused = results.filter((r) => r.status === 'rejected' && (r.reason as { reason?: string }).reason === 'DEVICE_ALREADY_PAIRED');
    expect({ approved: approved.length, refused: refused.length }).toEqual({ approved: 1, refused: 1 });
    expect((await tokenInfo(created.info!.tokenId))!.usesLeft).toBe(2);
    const issued = (approved[0] as PromiseFulfilledResult<SubmitCsrResponse>).value;
    expect(normSerial(t.gw.registry.get(issued.deviceId)!.cert!.serial)).toBe(certIdentity(issued.certPem).serial);
  });

  test('a label with control characters reaches operators cleaned', async () => {
    const key = newKey();
    const sub = await submit(key, { label: 'evil\u001b[2J\u0007name\u202e', scopes: ['operator.read'] });
    const pending = (await unaryCall(devices(), devices().listDevices, {})).pending.find((p) => p.requestId === sub.requestId);
    expect(pending!.label).toBe('evil[2Jname');
  });

  test('garbage, forged, revoked and expired tokens are refused', async () => {
    const key = newKey();
    await expectRefused(submit(key, { scopes: ['operator.read'], bootstrapToken: 'garbage' }), grpc.status.UNAUTHENTICATED, 'TOKEN_INVALID');

    const created = await unaryCall(devices(), devices().createBootstrapToken, { label: 'x', role: 'operator', scopes: ['operator.read'], uses: 2, ttlMs: 120_000n });
    const [prefix, secret] = created.token.split('.');
    // Right id, wrong secret.
    const forged = `${prefix}.${secret.slice(0, -2)}${secret.endsWith('AA') ? 'BB' : 'AA'}`;
    await expectRefused(submit(key, { scopes: ['operator.read'], bootstrapToken: forged }), grpc.status.UNAUTHENTICATED, 'TOKEN_INVALID');
    // Unknown id.
    await expectRefused(submit(key, { scopes: ['operator.read'], bootstrapToken: `ocbt_000000000000.${secret}` }), grpc.status.UNAUTHENTICATED, 'TOKEN_INVALID');

    const revoked = await unaryCall(devices(), devices().createBootstrapToken, { label: 'y', role: 'operator', scopes: ['operator.read'], uses: 1, ttlMs: 120_000n });
    await unaryCall(devices(), devices().revokeBootstrapToken, { tokenId: revoked.info!.tokenId });
    await expectRefused(submit(key, { scopes: ['operator.read'], bootstrapToken: revoked.token }), grpc.status.UNAUTHENTICATED, 'TOKEN_REVOKED');

    // Past its TTL (2 minutes; the clock moves 3): expired. The rate limiter refills meanwhile.
    clock.advance(3 * 60_000);
    await expectRefused(submit(key, { scopes: ['operator.read'], bootstrapToken: created.token }), grpc.status.UNAUTHENTICATED, 'TOKEN_EXPIRED');
    expect(t.logs.lines.some((l) => JSON.stringify(l).includes(secret))).toBe(false);
  });

  test('only operator.admin may create tokens', async () => {
    const reader = await t.gw.registry.provision({ role: 'operator', label: 'pairing-only-op', scopes: ['operator.read', 'operator.pairing'] });
    const c = conns.connect(t.address, { caPem: reader.caPem, keyPem: reader.keyPem, certPem: reader.certPem }).client(DeviceService);
    await expectRefused(unaryCall(c, c.createBootstrapToken, { label: 'x', role: 'operator', scopes: ['operator.read'], uses: 1 }), grpc.status.PERMISSION_DENIED, 'MISSING_SCOPE');
    await expectRefused(unaryCall(c, c.listBootstrapTokens, {}), grpc.status.PERMISSION_DENIED, 'MISSING_SCOPE');
  });
});

// Last in this file: it moves the gateway clock past the pairing TTL. Certificates issued
// after this would start in the (real) future, so nothing below issues any.
describe('pairing request expiry', () => {
  test('after the TTL the watcher gets EXPIRED and approving is NOT_FOUND', async () => {
    const key = newKey();
    const sub = await submit(key, { label: 'slow-approver', scopes: ['operator.read'] });
    const w = watch(sub);
    expect((await w.next()).state).toBe(PairingState.PENDING);

    clock.advance(5 * 60_000 + 1000);
    // Listing sweeps expired requests (the 1 s sweep timer may have done it already).
    const list = await unaryCall(devices(), devices().listDevices, {});
    expect(list.pending.map((p) => p.requestId)).not.toContain(sub.requestId);
    const final = await w.next();
    expect(final).toMatchObject({ state: PairingState.EXPIRED, deviceId: sub.deviceId, certPem: '' });
    expect(final.reason).toMatch(/expired/);
    await w.ended;
    await expectRefused(unaryCall(devices(), devices().approvePairing, { requestId: sub.requestId }), grpc.status.NOT_FOUND, 'PAIRING_REQUEST_NOT_FOUND');
    expect(t.logs.audits('pairing.expire').some((l) => l.requestId === sub.requestId)).toBe(true);
  });
});
