/**
 * Presence through the bridge when a legacy device is revoked (over gRPC, by an
 * operator): its connection is closed (4001, as the legacy gateway closes a removed
 * device), and it leaves the presence list at once, not even listed as disconnected;
 * other clients get a `presence` event without it, and `system-presence` agrees.
 */
import { DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { LEGACY_TOKEN, startBridgeFixture, type BridgeFixture } from './fixture';
import { connectParams, LegacyClient, type Frame } from './legacy-client';

let f: BridgeFixture;
beforeAll(async () => {
  f = await startBridgeFixture();
});
afterAll(async () => {
  await f.close();
});

const WEBCHAT = { id: 'openclaw-control-ui', version: '2026.9.6', platform: 'linux', mode: 'webchat' };
const instances = (presence: Record<string, unknown>[]) => presence.filter((p) => p.mode !== 'gateway').map((p) => [p.instanceId, p.reason]);

test('a revoked legacy device is disconnected and leaves presence at once', async () => {
  const watcherConn = await LegacyClient.open(f.url);
  await watcherConn.challenge();
  const w = await watcherConn.request('connect', connectParams({ client: { ...WEBCHAT, instanceId: 'watcher' }, auth: { token: LEGACY_TOKEN } }));
  expect(w.ok).toBe(true);

  const device = await f.pairDevice(['operator.read']);
  const { client: phone, hello } = await f.deviceClient(device, ['operator.read'], { client: { ...WEBCHAT, instanceId: 'phone' } });
  expect(hello.ok).toBe(true);
  const joined = await watcherConn.waitFor((e) => e.event === 'presence' && instances(e.payload.presence).some(([i, r]) => i === 'phone' && r === 'connect'));
  const from = watcherConn.frames.indexOf(joined) + 1;

  const d = f.t.connect('cli').client(DeviceService);
  await unaryCall(d, d.revokeDevice, { deviceId: device.id, reason: 'lost phone' });
  expect((await phone.closed).code).toBe(4001);

  // The change the watcher hears last does not list the phone at all (not as disconnected either).
  const without = await watcherConn.waitFor((e: Frame) => e.event === 'presence' && !instances(e.payload.presence).some(([i]) => i === 'phone'), 10_000, from);
  expect(instances(without.payload.presence)).toContainEqual(['watcher', 'connect']);
  const later = watcherConn.events('presence').filter((e) => watcherConn.frames.indexOf(e) > watcherConn.frames.indexOf(without));
  for (const e of later) expect(instances(e.payload.presence).map(([i]) => i)).not.toContain('phone');
  const listed = await watcherConn.request('system-presence');
  expect(instances(listed.payload)).toEqual([['watcher', 'connect']]);
  await watcherConn.close();
});
