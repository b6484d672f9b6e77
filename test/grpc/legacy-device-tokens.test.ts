/**
 * Legacy device tokens over gRPC, against real gateways: two replicas on one state dir
 * (files backend), each with its own gRPC server, as `openclaw-gateway start` twice.
 * The bridge (its certificate, acting for the legacy device) authorizes the device;
 * RotateLegacyDeviceToken / RevokeLegacyDeviceToken are operator calls (pairing scope)
 * that a device may make for itself through the bridge. A rotation or revocation through
 * one replica ends the device's open streams on both; a revoked role cannot be acted for.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceService, LegacyAuthService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { EventService, type SubscribeResponse } from '../../src/gen/openclaw/events/v1/events_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { expectRefused, legacyDeviceKey, StreamReader } from '../helpers/grpc-kit';

const dir = mkdtempSync(join(tmpdir(), 'ocgw-legacy-tokens-'));
let a: TestGateway;
let b: TestGateway;

beforeAll(async () => {
  a = await startTestGateway({ stateDir: dir });
  b = await startTestGateway({ stateDir: dir });
});
afterAll(async () => {
  await b.close();
  await a.close();
  rmSync(dir, { recursive: true, force: true });
});

const SCOPES = ['operator.read', 'operator.pairing'];

/** A legacy device approved through replica `t`, with its first token (the bridge checked the shared token). */
async function pairedDevice(t: TestGateway) {
  const key = legacyDeviceKey();
  const legacy = t.connect('bridge').client(LegacyAuthService);
  const ask = { deviceId: key.deviceId, publicKey: key.publicKey, role: 'operator', scopes: SCOPES, displayName: 'tablet', platform: 'linux', clientId: 'cli', clientMode: 'cli', remoteIp: '203.0.113.9', sharedSecretOk: true };
  const first = await unaryCall(legacy, legacy.authorizeLegacyDevice, ask);
  expect(first).toMatchObject({ approved: false, reason: 'not-paired' });
  const ops = t.connect('cli').client(DeviceService);
  await unaryCall(ops, ops.approvePairing, { requestId: first.requestId });
  const ok = await unaryCall(legacy, legacy.authorizeLegacyDevice, ask);
  expect(ok).toMatchObject({ approved: true, authMethod: 'token', deviceToken: expect.any(String) });
  return { key, ask, token: ok.deviceToken };
}

/** An event stream the bridge holds open for the device, on replica `t`. */
async function deviceStream(t: TestGateway, deviceId: string) {
  const md = new grpc.Metadata();
  md.set('x-openclaw-principal', deviceId);
  const s = new StreamReader<SubscribeResponse>(t.connect('bridge').client(EventService).subscribe({ types: [] }, md));
  expect((await s.next()).event?.type).toBe('subscribed');
  return s;
}

const asDevice = (deviceId: string) => ({ principal: deviceId });
const ping = (c: GatewayConnection, opts: { principal: string }) => {
  const g = c.client(GatewayService);
  return unaryCall(g, g.getStatus, {}, opts);
};

test('ListDevices shows a legacy device as the legacy gateway would (client fields, token metadata, never the token)', async () => {
  const { key, token } = await pairedDevice(a);
  const ops = b.connect('cli').client(DeviceService);
  const list = await unaryCall(ops, ops.listDevices, {});
  const d = list.devices.find((x) => x.deviceId === key.deviceId)!;
  expect(d.legacy).toMatchObject({ publicKey: key.publicKey, platform: 'linux', clientId: 'cli', clientMode: 'cli', remoteIp: '203.0.113.9', lastSeenReason: 'connect' });
  expect(d.legacy!.tokens).toEqual([expect.objectContaining({ role: 'operator', scopes: SCOPES, revokedAtMs: 0n })]);
  expect(JSON.stringify(list, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(token);
});

test('rotation by an operator on one replica: the token is withheld, the device\'s streams on both replicas end, the old token is refused', async () => {
  const { key, ask, token } = await pairedDevice(a);
  const onA = await deviceStream(a, key.deviceId);
  const onB = await deviceStream(b, key.deviceId);
  const ops = a.connect('cli').client(DeviceService);
  const t0 = Date.now();
  const res = await unaryCall(ops, ops.rotateLegacyDeviceToken, { deviceId: key.deviceId, role: 'operator', viaDeviceToken: true });
  expect(res).toMatchObject({ deviceId: key.deviceId, role: 'operator', scopes: SCOPES, token: '' });
  expect((await onA.endWithin(1000)).error?.reason).toBe('DEVICE_TOKEN_ROTATED');
  // The other replica learns it from the store (its stream sweep runs twice a second).
  const endB = await onB.endWithin(3000);
  expect(endB.error?.reason).toBe('DEVICE_TOKEN_ROTATED');
  expect(endB.at - t0).toBeLessThan(3000);
  const legacy = b.connect('bridge').client(LegacyAuthService);
  expect(await unaryCall(legacy, legacy.authorizeLegacyDevice, { ...ask, sharedSecretOk: false, deviceToken: token })).toMatchObject({ approved: false, authFailure: 'device-token-mismatch' });
  // Still paired and usable: a new stream opened after the rotation stays open, and calls work.
  const fresh = await deviceStream(b, key.deviceId);
  await ping(b.connect('bridge'), asDevice(key.deviceId));
  await fresh.cancel();
});

test('rotation by the device itself through the bridge: the new token comes back in the answer', async () => {
  const { key, ask } = await pairedDevice(a);
  const d = a.connect('bridge').client(DeviceService);
  const res = await unaryCall(d, d.rotateLegacyDeviceToken, { deviceId: key.deviceId, role: 'operator', viaDeviceToken: true }, asDevice(key.deviceId));
  expect(res.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const legacy = b.connect('bridge').client(LegacyAuthService);
  expect(await unaryCall(legacy, legacy.authorizeLegacyDevice, { ...ask, sharedSecretOk: false, deviceToken: res.token })).toMatchObject({ approved: true, authMethod: 'device-token', deviceToken: res.token });
  // Another device's token it may not touch (no admin): refused, and the refusal is audited.
  const victim = await pairedDevice(a);
  await expectRefused(unaryCall(d, d.rotateLegacyDeviceToken, { deviceId: victim.key.deviceId, role: 'operator', viaDeviceToken: true }, asDevice(key.deviceId)), grpc.status.FAILED_PRECONDITION, 'DEVICE_TOKEN_ROTATION_DENIED');
  expect(a.logs.audits('legacy.token.rotate').find((l) => l.deviceId === victim.key.deviceId)).toMatchObject({ reason: 'device-ownership-mismatch', allowed: false });
});

test('revocation through one replica: streams end, the bridge can no longer act for it on either replica, the device stays paired', async () => {
  const { key, ask, token } = await pairedDevice(a);
  const onB = await deviceStream(b, key.deviceId);
  const ops = a.connect('cli').client(DeviceService);
  const res = await unaryCall(ops, ops.revokeLegacyDeviceToken, { deviceId: key.deviceId, role: 'operator' });
  expect(res).toMatchObject({ deviceId: key.deviceId, role: 'operator', revokedAtMs: expect.any(BigInt) });
  expect((await onB.endWithin(3000)).error?.reason).toBe('DEVICE_TOKEN_REVOKED');
  for (const t of [a, b]) await expectRefused(ping(t.connect('bridge'), asDevice(key.deviceId)), grpc.status.UNAUTHENTICATED, 'DEVICE_TOKEN_REVOKED');
  const list = await unaryCall(ops, ops.listDevices, {});
  const d = list.devices.find((x) => x.deviceId === key.deviceId)!;
  expect(d.status).toBe('active');
  expect(d.legacy!.tokens[0].revokedAtMs).toBe(res.revokedAtMs);
  const legacy = b.connect('bridge').client(LegacyAuthService);
  expect(await unaryCall(legacy, legacy.authorizeLegacyDevice, { ...ask, sharedSecretOk: false, deviceToken: token })).toMatchObject({ approved: false, authFailure: 'device-token-mismatch' });
  const again = await unaryCall(legacy, legacy.authorizeLegacyDevice, ask);
  expect(again).toMatchObject({ approved: false, reason: 'role-upgrade', approvedRoles: ['operator'], approvedScopes: SCOPES });
});

test('a device token without the device is nothing: AuthorizeLegacyDevice needs one credential; VerifyDeviceToken needs the device id', async () => {
  const { key, ask, token } = await pairedDevice(a);
  const legacy = a.connect('bridge').client(LegacyAuthService);
  expect(await unaryCall(legacy, legacy.authorizeLegacyDevice, { ...ask, sharedSecretOk: false })).toMatchObject({ approved: false, authFailure: 'credential-missing', requestId: '' });
  expect(await unaryCall(legacy, legacy.verifyDeviceToken, { deviceToken: token })).toMatchObject({ valid: false });
  expect(await unaryCall(legacy, legacy.verifyDeviceToken, { deviceToken: token, deviceId: key.deviceId })).toMatchObject({ valid: true, deviceId: key.deviceId });
});
