/**
 * Device tokens of legacy devices through the bridge, raw protocol, compared step by step
 * with what the real OpenClaw 2026.9.6 gateway answered to the same frames (its answers
 * are quoted in the comments; they were recorded against a real gateway with a device
 * that was not on loopback, so that it was not paired silently: here every device waits
 * for an operator, by design).
 */
import { createHash } from 'node:crypto';
import { connectParams, newLegacyDevice, signDevice, type Frame, type LegacyClient, type LegacyDevice } from './legacy-client';
import { LEGACY_TOKEN, startBridgeFixture, type BridgeFixture } from './fixture';

let f: BridgeFixture;
let admin: LegacyClient;
beforeAll(async () => {
  f = await startBridgeFixture();
  const adminDevice = await f.pairDevice(['operator.read', 'operator.write', 'operator.admin', 'operator.pairing']);
  admin = (await f.deviceClient(adminDevice, ['operator.read', 'operator.admin', 'operator.pairing'])).client;
});
afterAll(async () => {
  await f.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CLIENT = { id: 'cli', version: '2026.9.6', platform: 'linux', mode: 'cli', displayName: 'probe-laptop' };

/** Connects `device` (signed) asking `scopes` with these credentials. */
const as = (device: LegacyDevice, scopes: string[], auth: Record<string, string> | undefined) =>
  f.connect(connectParams({ client: CLIENT, scopes, ...(auth ? { auth } : {}) }), (p, n) => signDevice(p, device, n));

/** A connect that fails: the error and the close. */
async function refused(device: LegacyDevice | undefined, scopes: string[], auth: Record<string, string> | undefined): Promise<{ error: Frame['error']; close: { code: number; reason: string } }> {
  const { client, hello } = device ? await as(device, scopes, auth) : await f.connect(connectParams({ client: CLIENT, scopes, ...(auth ? { auth } : {}) }));
  expect(hello.ok).toBe(false);
  return { error: hello.error, close: await client.closed };
}

/** A device approved (by the admin, over the legacy protocol) for `scopes`. */
async function approved(scopes: string[]): Promise<LegacyDevice> {
  const device = newLegacyDevice();
  const ask = await refused(device, scopes, { token: LEGACY_TOKEN });
  expect((await admin.request('device.pair.approve', { requestId: ask.error.details.requestId })).ok).toBe(true);
  return device;
}

/** A hello of `device` that must succeed; returns its auth and the client. */
async function hello(device: LegacyDevice, scopes: string[], auth: Record<string, string>): Promise<{ auth: Record<string, any>; client: LegacyClient }> {
  const r = await as(device, scopes, auth);
  expect(r.hello).toMatchObject({ ok: true });
  return { auth: r.hello.payload.auth, client: r.client };
}

const DEVICE_TOKEN_MISMATCH = {
  code: 'INVALID_REQUEST',
  message: 'unauthorized: device token mismatch (rotate/reissue device token)',
  details: { code: 'AUTH_DEVICE_TOKEN_MISMATCH', authReason: 'device_token_mismatch', canRetryWithDeviceToken: false, recommendedNextStep: 'update_auth_credentials' },
};

test('the real pairing flow: request, approval, a stable device token, reconnects with it alone, and what is refused', async () => {
  const device = newLegacyDevice();
  const scopes = ['operator.read', 'operator.write'];
  const mark = admin.frames.length;

  // 1. Real: NOT_PAIRED "pairing required: device is not approved yet" {code PAIRING_REQUIRED, reason not-paired,
  //    requestId <uuid>, remediationHint, deviceId, requestedRole, requestedScopes}; close 1008 "... (requestId: <uuid>)".
  const ask = await refused(device, scopes, { token: LEGACY_TOKEN });
  const requestId = ask.error.details.requestId as string;
  expect(requestId).toMatch(UUID);
  expect(ask.error).toEqual({
    code: 'NOT_PAIRED',
    message: 'pairing required: device is not approved yet',
    details: { code: 'PAIRING_REQUIRED', reason: 'not-paired', requestId, remediationHint: 'Approve this device from the pending pairing requests.', deviceId: device.id, requestedRole: 'operator', requestedScopes: scopes },
  });
  expect(ask.close).toEqual({ code: 1008, reason: `pairing required: device is not approved yet (requestId: ${requestId})` });

  // Real device.pair.requested: {requestId, deviceId, publicKey, displayName, platform, clientId, clientMode, role, roles,
  // scopes, remoteIp, silent:false, isRepair:false, ts}. Ours adds verificationCode and kind.
  const requested = await admin.waitFor((e) => e.event === 'device.pair.requested' && e.payload.requestId === requestId, 10_000, mark);
  expect(requested.payload).toEqual({
    requestId,
    deviceId: device.id,
    publicKey: device.publicKey,
    displayName: 'probe-laptop',
    platform: 'linux',
    clientId: 'cli',
    clientMode: 'cli',
    role: 'operator',
    roles: ['operator'],
    scopes,
    remoteIp: '127.0.0.1',
    silent: false,
    isRepair: false,
    ts: expect.any(Number),
    verificationCode: expect.stringMatching(/^[2-9A-Z]{4}-[2-9A-Z]{4}$/),
    kind: 'legacy',
  });

  // 1b. Real: the same requestId while pending, and no second event.
  expect((await refused(device, scopes, { token: LEGACY_TOKEN })).error.details.requestId).toBe(requestId);

  // 2. Approval (real: the CLI's device.pair.approve): {requestId, device:{deviceId, publicKey, displayName, platform,
  //    clientId, clientMode, role, roles, scopes, remoteIp, approvedVia:"owner", createdAtMs, approvedAtMs, tokens}}.
  const approval = await admin.request('device.pair.approve', { requestId });
  expect(approval.payload).toMatchObject({
    requestId,
    device: { deviceId: device.id, publicKey: device.publicKey, displayName: 'probe-laptop', platform: 'linux', clientId: 'cli', clientMode: 'cli', role: 'operator', roles: ['operator'], scopes, approvedVia: 'owner', createdAtMs: expect.any(Number), approvedAtMs: expect.any(Number) },
  });
  const resolved = await admin.waitFor((e) => e.event === 'device.pair.resolved' && e.payload.requestId === requestId, 10_000, mark);
  expect(resolved.payload).toEqual({ requestId, deviceId: device.id, decision: 'approved', ts: expect.any(Number) });
  expect(admin.frames.slice(mark).filter((e) => e.event === 'device.pair.requested' && e.payload.requestId === requestId)).toHaveLength(1);

  // 3, 3b. Real: {method:"token", role, scopes, deviceToken (43 chars), issuedAtMs}; again: the same token.
  const first = await hello(device, scopes, { token: LEGACY_TOKEN });
  expect(first.auth).toEqual({ method: 'token', role: 'operator', scopes, deviceToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), issuedAtMs: expect.any(Number) });
  const token = first.auth.deviceToken as string;
  await first.client.close();
  const second = await hello(device, scopes, { token: LEGACY_TOKEN });
  expect(second.auth).toEqual(first.auth);
  await second.client.close();

  // 4, 5. Real: the device + auth.deviceToken only, and the device + the token in auth.token: method "device-token".
  for (const auth of [{ deviceToken: token }, { token }] as Record<string, string>[]) {
    const r = await hello(device, scopes, auth);
    expect(r.auth).toEqual({ ...first.auth, method: 'device-token' });
    await r.client.close();
  }
  // Real: a right device token next to a wrong shared token is accepted; a wrong one next to the right shared token is ignored.
  for (const auth of [
    { token: 'wrong-token', deviceToken: token },
    { token: LEGACY_TOKEN, deviceToken: 'wrong' },
  ]) {
    const r = await hello(device, scopes, auth);
    expect(r.auth.deviceToken).toBe(token);
    await r.client.close();
  }

  // 6, 7. Real: without the device: auth.deviceToken -> DEVICE_IDENTITY_REQUIRED; in auth.token -> AUTH_TOKEN_MISMATCH.
  expect(await refused(undefined, scopes, { deviceToken: token })).toEqual({ error: { code: 'NOT_PAIRED', message: 'device identity required', details: { code: 'DEVICE_IDENTITY_REQUIRED' } }, close: { code: 1008, reason: 'device identity required' } });
  expect((await refused(undefined, scopes, { token })).error.details).toEqual({ code: 'AUTH_TOKEN_MISMATCH', authReason: 'token_mismatch', canRetryWithDeviceToken: false, recommendedNextStep: 'update_auth_credentials' });

  // 8. Real: the device + a wrong auth.deviceToken: AUTH_DEVICE_TOKEN_MISMATCH, close 1008 with the message.
  expect(await refused(device, scopes, { deviceToken: `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}` })).toEqual({
    error: DEVICE_TOKEN_MISMATCH,
    close: { code: 1008, reason: DEVICE_TOKEN_MISMATCH.message },
  });
  // Real: the device token asking for more than it carries: AUTH_SCOPE_MISMATCH.
  expect((await refused(device, [...scopes, 'operator.admin'], { deviceToken: token })).error).toEqual({
    code: 'INVALID_REQUEST',
    message: 'unauthorized: device token scope mismatch (re-pair or approve scope upgrade)',
    details: { code: 'AUTH_SCOPE_MISMATCH', authReason: 'scope_mismatch', canRetryWithDeviceToken: false, recommendedNextStep: 'review_auth_configuration' },
  });

  // 9. Real: asking for more with the shared token: a scope upgrade, with what is approved now.
  const upgrade = await refused(device, [...scopes, 'operator.admin'], { token: LEGACY_TOKEN });
  expect(upgrade.error).toEqual({
    code: 'NOT_PAIRED',
    message: 'pairing required: device is asking for more scopes than currently approved',
    details: {
      code: 'PAIRING_REQUIRED',
      reason: 'scope-upgrade',
      requestId: expect.stringMatching(UUID),
      remediationHint: 'Review the requested scopes, then approve the pending upgrade.',
      deviceId: device.id,
      requestedRole: 'operator',
      requestedScopes: [...scopes, 'operator.admin'],
      approvedRoles: ['operator'],
      approvedScopes: scopes,
    },
  });
  // Real: the close reason cut to 120 bytes.
  expect(upgrade.close.reason).toBe(`pairing required: device is asking for more scopes than currently approved (requestId: ${upgrade.error.details.requestId})`.slice(0, 120));
  const repair = await admin.waitFor((e) => e.event === 'device.pair.requested' && e.payload.requestId === upgrade.error.details.requestId, 10_000, mark);
  expect(repair.payload).toMatchObject({ deviceId: device.id, isRepair: true, silent: false, scopes: [...scopes, 'operator.admin'] });

  // Real device.pair.list: the pending upgrade as above; the paired device with token metadata, never the token.
  const list = await admin.request('device.pair.list');
  expect(list.payload.pending.find((p: Frame) => p.requestId === upgrade.error.details.requestId)).toMatchObject({ deviceId: device.id, publicKey: device.publicKey, isRepair: true, remoteIp: '127.0.0.1' });
  expect(list.payload.paired.find((d: Frame) => d.deviceId === device.id)).toMatchObject({
    publicKey: device.publicKey,
    platform: 'linux',
    clientId: 'cli',
    clientMode: 'cli',
    roles: ['operator'],
    scopes,
    remoteIp: '127.0.0.1',
    approvedVia: 'owner',
    lastSeenAtMs: expect.any(Number),
    lastSeenReason: expect.stringMatching(/^(connect|device-token-auth)$/),
    connected: expect.any(Boolean),
    tokens: [{ role: 'operator', scopes, createdAtMs: first.auth.issuedAtMs, lastUsedAtMs: expect.any(Number) }],
  });
  expect(JSON.stringify(list)).not.toContain(token);
  expect((await admin.request('device.pair.reject', { requestId: upgrade.error.details.requestId })).ok).toBe(true);
});

test('the token is kept as a hash in the device record only, and never logged', async () => {
  const device = await approved(['operator.read']);
  const { auth, client } = await hello(device, ['operator.read'], { token: LEGACY_TOKEN });
  await client.close();
  const record = f.t.gw.registry.get(device.id)!;
  expect(record.legacy!.tokens!.operator.hash).toBe(createHash('sha256').update(auth.deviceToken as string).digest('hex'));
  expect(JSON.stringify(record)).not.toContain(auth.deviceToken);
  expect(JSON.stringify([...f.logs.lines, ...f.t.logs.lines])).not.toContain(auth.deviceToken);
});

test('rotation by the device itself on its token connection: the new token in the answer, then 4001 "device removed"', async () => {
  const scopes = ['operator.read', 'operator.pairing'];
  const device = await approved(scopes);
  const old = (await hello(device, scopes, { token: LEGACY_TOKEN })).auth.deviceToken as string;
  const { client } = await hello(device, scopes, { deviceToken: old });
  // Real: {deviceId, role, token, scopes, rotatedAtMs, tokenDelivery:"in-band"}, then the socket closed 4001 "device removed".
  const rotated = await client.request('device.token.rotate', { deviceId: device.id, role: 'operator' });
  expect(rotated.payload).toEqual({ deviceId: device.id, role: 'operator', token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), scopes, rotatedAtMs: expect.any(Number), tokenDelivery: 'in-band' });
  expect(await client.closed).toEqual({ code: 4001, reason: 'device removed' });
  // Real: the old token is a mismatch; the new one works and is what hello hands out now.
  expect((await refused(device, scopes, { deviceToken: old })).error).toEqual(DEVICE_TOKEN_MISMATCH);
  const next = await hello(device, scopes, { deviceToken: rotated.payload.token });
  expect(next.auth).toMatchObject({ method: 'device-token', deviceToken: rotated.payload.token, issuedAtMs: rotated.payload.rotatedAtMs });
  await next.client.close();
  expect(f.t.logs.audits('legacy.token.rotate').find((l) => l.deviceId === device.id)).toMatchObject({ delivered: true, allowed: true });
});

test('rotation on a shared-token connection, or by an operator for another device: withheld-cross-device; the device\'s connections close', async () => {
  const scopes = ['operator.read', 'operator.pairing'];
  const device = await approved(scopes);
  const old = (await hello(device, scopes, { token: LEGACY_TOKEN })).auth.deviceToken as string;
  // Real D/E: the device on a shared-token connection: withheld, then 4001.
  const own = (await hello(device, scopes, { token: LEGACY_TOKEN })).client;
  const self = await own.request('device.token.rotate', { deviceId: device.id, role: 'operator' });
  expect(self.payload).toEqual({ deviceId: device.id, role: 'operator', scopes, rotatedAtMs: expect.any(Number), tokenDelivery: 'withheld-cross-device' });
  expect(await own.closed).toEqual({ code: 4001, reason: 'device removed' });
  expect((await refused(device, scopes, { deviceToken: old })).error).toEqual(DEVICE_TOKEN_MISMATCH);

  // Real 12: an operator for another device: withheld; the device's live connections (with or without events) close.
  const now = (await hello(device, scopes, { token: LEGACY_TOKEN })).auth.deviceToken as string;
  const live = [(await hello(device, scopes, { deviceToken: now })).client, (await hello(device, ['operator.pairing'], { token: LEGACY_TOKEN })).client];
  const byOperator = await admin.request('device.token.rotate', { deviceId: device.id, role: 'operator' });
  expect(byOperator.payload).toEqual({ deviceId: device.id, role: 'operator', scopes, rotatedAtMs: expect.any(Number), tokenDelivery: 'withheld-cross-device' });
  for (const c of live) expect(await c.closed).toEqual({ code: 4001, reason: 'device removed' });
  // The operator's own connection goes on.
  expect((await admin.request('health')).ok).toBe(true);
  // The device picks its new token up at its next hello with the shared token.
  const picked = await hello(device, scopes, { token: LEGACY_TOKEN });
  expect(picked.auth.deviceToken).not.toBe(now);
  await picked.client.close();
});

test('rotate and revoke refusals: the pairing scope, another device\'s token, an unknown device (real wording)', async () => {
  const reader = await approved(['operator.read']);
  const readerToken = (await hello(reader, ['operator.read'], { token: LEGACY_TOKEN })).auth.deviceToken as string;
  const c = (await hello(reader, ['operator.read'], { deviceToken: readerToken })).client;
  // Real 10a: FORBIDDEN missing scope: operator.pairing {code, missingScope, requiredScopes}.
  expect((await c.request('device.token.rotate', { deviceId: reader.id, role: 'operator' })).error).toEqual({
    code: 'FORBIDDEN',
    message: 'missing scope: operator.pairing',
    details: { code: 'MISSING_SCOPE', missingScope: 'operator.pairing', requiredScopes: ['operator.pairing'] },
  });
  await c.close();
  // A device (no admin) on its own token may not manage another device's token (real: "device token rotation denied").
  const pairer = await approved(['operator.read', 'operator.pairing']);
  const pairerToken = (await hello(pairer, ['operator.read', 'operator.pairing'], { token: LEGACY_TOKEN })).auth.deviceToken as string;
  const p = (await hello(pairer, ['operator.read', 'operator.pairing'], { deviceToken: pairerToken })).client;
  expect((await p.request('device.token.rotate', { deviceId: reader.id, role: 'operator' })).error).toEqual({ code: 'INVALID_REQUEST', message: 'device token rotation denied' });
  expect((await p.request('device.token.revoke', { deviceId: reader.id, role: 'operator' })).error).toEqual({ code: 'INVALID_REQUEST', message: 'device token revocation denied' });
  await p.close();
  // The reader was not touched.
  const still = await hello(reader, ['operator.read'], { deviceToken: readerToken });
  await still.client.close();
  // Real 9b, 9, 9c: unknown device or request.
  expect((await admin.request('device.token.rotate', { deviceId: 'nope', role: 'operator' })).error).toEqual({ code: 'INVALID_REQUEST', message: 'device token rotation denied' });
  expect((await admin.request('device.pair.remove', { deviceId: 'f'.repeat(64) })).error).toEqual({ code: 'INVALID_REQUEST', message: 'unknown deviceId' });
  expect((await admin.request('device.pair.reject', { requestId: 'nope' })).error).toEqual({ code: 'INVALID_REQUEST', message: 'unknown requestId' });
  expect((await admin.request('device.pair.approve', { requestId: 'nope' })).error).toEqual({ code: 'INVALID_REQUEST', message: 'unknown requestId' });
  const denials = f.t.logs.audits('legacy.token.rotate').filter((l) => l.allowed === false).map((l) => l.reason);
  expect(denials).toEqual(expect.arrayContaining(['device-ownership-mismatch', 'unknown-device-or-role']));
});

test('revoke {deviceId, role}: that role\'s token only; the device stays paired; its reconnect asks again (role-upgrade)', async () => {
  const scopes = ['operator.read', 'operator.write'];
  const device = await approved(scopes);
  const token = (await hello(device, scopes, { token: LEGACY_TOKEN })).auth.deviceToken as string;
  const live = (await hello(device, scopes, { deviceToken: token })).client;
  // Real 13: {deviceId, role, revokedAtMs}; the device's connections close (4001).
  const revoked = await admin.request('device.token.revoke', { deviceId: device.id, role: 'operator' });
  expect(revoked.payload).toEqual({ deviceId: device.id, role: 'operator', revokedAtMs: expect.any(Number) });
  expect(await live.closed).toEqual({ code: 4001, reason: 'device removed' });
  // Real 16: still listed as paired, its token with revokedAtMs.
  const listed = (await admin.request('device.pair.list')).payload.paired.find((d: Frame) => d.deviceId === device.id);
  expect(listed.tokens).toEqual([expect.objectContaining({ role: 'operator', revokedAtMs: revoked.payload.revokedAtMs })]);
  // Real 14: the shared token: PAIRING_REQUIRED role-upgrade, with what was approved.
  const again = await refused(device, scopes, { token: LEGACY_TOKEN });
  expect(again.error).toEqual({
    code: 'NOT_PAIRED',
    message: 'pairing required: device is asking for a higher role than currently approved',
    details: {
      code: 'PAIRING_REQUIRED',
      reason: 'role-upgrade',
      requestId: expect.stringMatching(UUID),
      remediationHint: 'Review the requested role upgrade, then approve the pending request.',
      deviceId: device.id,
      requestedRole: 'operator',
      requestedScopes: scopes,
      approvedRoles: ['operator'],
      approvedScopes: scopes,
    },
  });
  // Real 15 and the revoked token with its device: refused.
  expect((await refused(undefined, scopes, { deviceToken: token })).error.details.code).toBe('DEVICE_IDENTITY_REQUIRED');
  expect((await refused(device, scopes, { deviceToken: token })).error).toEqual(DEVICE_TOKEN_MISMATCH);
  // Approved again, it gets a new token.
  expect((await admin.request('device.pair.approve', { requestId: again.error.details.requestId })).ok).toBe(true);
  const back = await hello(device, scopes, { token: LEGACY_TOKEN });
  expect(back.auth.deviceToken).not.toBe(token);
  await back.client.close();
  expect(f.t.logs.audits('legacy.token.revoke').find((l) => l.deviceId === device.id)).toMatchObject({ role: 'operator', allowed: true });
});

test('a removed device: its token dies with it; it may ask again (real H-K)', async () => {
  const device = await approved(['operator.read']);
  const token = (await hello(device, ['operator.read'], { token: LEGACY_TOKEN })).auth.deviceToken as string;
  expect((await admin.request('device.pair.remove', { deviceId: device.id })).payload).toEqual({ deviceId: device.id });
  expect((await refused(device, ['operator.read'], { deviceToken: token })).error).toEqual(DEVICE_TOKEN_MISMATCH);
  const ask = await refused(device, ['operator.read'], { token: LEGACY_TOKEN });
  expect(ask.error.details).toMatchObject({ reason: 'not-paired', requestId: expect.stringMatching(UUID) });
  // Rejected, it may ask again: a new request id.
  expect((await admin.request('device.pair.reject', { requestId: ask.error.details.requestId })).payload).toEqual({ requestId: ask.error.details.requestId, deviceId: device.id });
  const next = await refused(device, ['operator.read'], { token: LEGACY_TOKEN });
  expect(next.error.details.requestId).not.toBe(ask.error.details.requestId);
});

test('every device-token decision is an audit line, without the token', async () => {
  const device = await approved(['operator.read']);
  const token = (await hello(device, ['operator.read'], { token: LEGACY_TOKEN })).auth.deviceToken as string;
  await (await hello(device, ['operator.read'], { deviceToken: token })).client.close();
  await refused(device, ['operator.read'], { deviceToken: 'wrong' });
  const lines = f.t.logs.audits('legacy.device-token').filter((l) => l.deviceId === device.id);
  expect(lines.map((l) => [l.allowed, l.reason])).toEqual([
    [true, undefined],
    [false, 'device-token-mismatch'],
  ]);
  const bridge = f.logs.audits('bridge.connect').filter((l) => l.deviceId === device.id);
  expect(bridge.some((l) => l.allowed === true && l.authMethod === 'device-token')).toBe(true);
  expect(bridge.some((l) => l.allowed === false && l.reason === 'AUTH_DEVICE_TOKEN_MISMATCH')).toBe(true);
  expect(JSON.stringify([...f.logs.lines, ...f.t.logs.lines])).not.toContain(token);
});
