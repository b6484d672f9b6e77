import { DeviceService, PairingService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { createCsr, generateRsaKeyPair } from '../../src/identity';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { connectParams, newLegacyDevice, signDevice, type LegacyClient, type LegacyDevice } from './legacy-client';
import { LEGACY_TOKEN, PAIRING_CLOSE, startBridgeFixture, type BridgeFixture } from './fixture';

let f: BridgeFixture;
let admin: LegacyDevice;
let adminClient: LegacyClient;
beforeAll(async () => {
  f = await startBridgeFixture();
  admin = await f.pairDevice(['operator.read', 'operator.write', 'operator.admin', 'operator.pairing']);
  adminClient = (await f.deviceClient(admin, ['operator.read', 'operator.admin', 'operator.pairing'])).client;
});
afterAll(async () => {
  await f.close();
});

test('pairing round trip: NOT_PAIRED with the request id, operator approves over gRPC, reconnect gets a device token', async () => {
  const device = newLegacyDevice();
  const scopes = ['operator.read', 'operator.write'];
  const params = connectParams({ scopes, auth: { token: LEGACY_TOKEN }, client: { id: 'openclaw-control-ui', version: '1', platform: 'Linux', mode: 'ui', displayName: 'Laptop browser' } });
  const first = await f.connect(params, (p, n) => signDevice(p, device, n));
  expect(first.hello.ok).toBe(false);
  expect(first.hello.error).toMatchObject({
    code: 'NOT_PAIRED',
    message: 'pairing required: device is not approved yet',
    details: {
      code: 'PAIRING_REQUIRED',
      reason: 'not-paired',
      requestId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      remediationHint: 'Approve this device from the pending pairing requests.',
      deviceId: device.id,
      requestedRole: 'operator',
      requestedScopes: scopes,
    },
  });
  const closed = await first.client.closed;
  expect(closed.code).toBe(1008);
  const m = PAIRING_CLOSE.exec(closed.reason);
  expect(m?.[1]).toBe(first.hello.error.details.requestId);

  // The same approval queue as certificate requests: the gRPC operator sees it.
  const cli = f.t.connect('cli').client(DeviceService);
  const listed = await unaryCall(cli, cli.listDevices, {});
  expect(listed.pending.find((p) => p.requestId === m![1])).toMatchObject({ deviceId: device.id, kind: 'legacy', label: 'Laptop browser', scopes });

  // Asking again before approval gives the same request.
  const again = await f.connect(params, (p, n) => signDevice(p, device, n));
  expect(again.hello.error.details.requestId).toBe(m![1]);
  await again.client.closed;

  await unaryCall(cli, cli.approvePairing, { requestId: m![1] });
  const ok = await f.connect(params, (p, n) => signDevice(p, device, n));
  expect(ok.hello.ok).toBe(true);
  expect(ok.hello.payload.auth).toMatchObject({ role: 'operator', scopes, method: 'token', deviceToken: expect.any(String) });

  // Later calls run as the device: the gateway sees it as present through the bridge.
  expect(await ok.client.request('status')).toMatchObject({ ok: true });
  const g = f.t.connect('cli').client(GatewayService);
  const presence = await unaryCall(g, g.getPresence, {});
  expect(presence.entries.find((e) => e.deviceId === device.id)).toMatchObject({ transport: 'ws-bridge' });
  await ok.client.close();
});

test('asking for more than was approved is a scope upgrade through the same queue', async () => {
  const device = await f.pairDevice(['operator.read']);
  const { client, hello } = await f.deviceClient(device, ['operator.read', 'operator.admin']);
  expect(hello.error).toMatchObject({ code: 'NOT_PAIRED', message: 'pairing required: device is asking for more scopes than currently approved', details: { reason: 'scope-upgrade', deviceId: device.id } });
  // As on the real gateway, this longer close reason is cut at 120 bytes, in the request id.
  expect((await client.closed).reason).toBe(`pairing required: device is asking for more scopes than currently approved (requestId: ${hello.error.details.requestId}`.slice(0, 120));
});

test('legacy device.pair.* manage CSR and legacy requests alike; events reach pairing operators only', async () => {
  const reader = await f.tokenClient();
  // A certificate request (CSR) and a legacy request, in one queue.
  const keys = generateRsaKeyPair();
  const anon = f.t.anonymous().client(PairingService);
  const csr = await unaryCall(anon, anon.submitCsr, { csrPem: createCsr({ ...keys, label: 'phone' }), label: 'phone', role: 'operator', scopes: ['operator.read'] });
  const legacy = newLegacyDevice();
  const denied = await f.connect(connectParams({ scopes: ['operator.read'], auth: { token: LEGACY_TOKEN } }), (p, n) => signDevice(p, legacy, n));
  const legacyRequest = denied.hello.error.details.requestId as string;

  const requested = await adminClient.waitFor((e) => e.event === 'device.pair.requested' && e.payload.requestId === legacyRequest);
  expect(requested.payload).toMatchObject({ deviceId: legacy.id, kind: 'legacy' });

  const list = await adminClient.request('device.pair.list');
  expect(list.ok).toBe(true);
  const pendingIds = list.payload.pending.map((p: { requestId: string }) => p.requestId);
  expect(pendingIds).toEqual(expect.arrayContaining([csr.requestId, legacyRequest]));
  expect(list.payload.paired.find((d: { deviceId: string }) => d.deviceId === admin.id)).toMatchObject({ role: 'operator', scopes: expect.arrayContaining(['operator.pairing']) });

  expect(await adminClient.request('device.pair.approve', { requestId: csr.requestId })).toMatchObject({ ok: true, payload: { requestId: csr.requestId, device: { deviceId: csr.deviceId } } });
  // Real: {requestId, deviceId}.
  expect(await adminClient.request('device.pair.reject', { requestId: legacyRequest })).toMatchObject({ ok: true, payload: { requestId: legacyRequest, deviceId: legacy.id } });
  const resolved = await adminClient.waitFor((e) => e.event === 'device.pair.resolved' && e.payload.requestId === legacyRequest);
  expect(resolved.payload).toMatchObject({ deviceId: legacy.id, decision: 'rejected' });

  // The read-only client got later events (a cron change) but none of the pairing ones.
  const job = await adminClient.request('cron.add', { name: 'marker', schedule: { kind: 'every', everyMs: 3600_000 }, payload: { kind: 'systemEvent', text: 'x' } });
  await reader.waitFor((e) => e.event === 'cron' && e.payload.jobId === job.payload.id);
  expect(reader.events().filter((e) => String(e.event).startsWith('device.pair.'))).toEqual([]);
  expect(await reader.request('device.pair.list')).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', message: expect.stringMatching(/^missing scope: operator\.pairing/), details: { code: 'MISSING_SCOPE', missingScope: 'operator.pairing' } } });
  await reader.close();
});

test('device.pair.rename and remove; a removed device is cut off at once (4001 "device removed", as on the real gateway)', async () => {
  const device = await f.pairDevice(['operator.read']);
  const { client } = await f.deviceClient(device, ['operator.read']);
  expect(await adminClient.request('device.pair.rename', { deviceId: device.id, displayName: 'kitchen tablet' })).toMatchObject({ ok: true, payload: { device: { displayName: 'kitchen tablet' } } });
  expect(await adminClient.request('device.pair.remove', { deviceId: device.id })).toEqual(expect.objectContaining({ ok: true, payload: { deviceId: device.id } }));
  expect(await client.closed).toEqual({ code: 4001, reason: 'device removed' });
  // And it cannot come back without pairing again.
  const back = await f.deviceClient(device, ['operator.read']);
  expect(back.hello.error).toMatchObject({ code: 'NOT_PAIRED' });
});
