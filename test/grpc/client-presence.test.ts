/**
 * Client presence over gRPC: a subscriber that describes itself (SubscribeRequest
 * `client`) is listed by GetPresence while its stream is open (then as disconnected),
 * and each change is a `presence` event carrying the list and its version.
 */
import * as grpc from '@grpc/grpc-js';
import { DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { EventService, type SubscribeResponse } from '../../src/gen/openclaw/events/v1/events_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { StreamReader } from '../helpers/grpc-kit';

let t: TestGateway;
let cli: GatewayConnection;
beforeAll(async () => {
  t = await startTestGateway();
  cli = t.connect('cli');
});
afterAll(async () => {
  await t.close();
});

const client = { instanceKey: 'conn-1', clientId: 'openclaw-control-ui', mode: 'webchat', displayName: 'kitchen', version: '2026.9.6', platform: 'linux', deviceFamily: 'Linux', modelIdentifier: '', instanceId: 'inst-1', role: 'operator', scopes: ['operator.read'] };

function subscribe(c: typeof client | undefined, types = ['presence']): StreamReader<SubscribeResponse> {
  return new StreamReader(cli.client(EventService).subscribe({ types, client: c }));
}

async function nextPresence(s: StreamReader<SubscribeResponse>): Promise<{ version: number; gateway: Record<string, string>; clients: Record<string, unknown>[] }> {
  for (;;) {
    const e = (await s.next()).event!;
    if (e.type === 'presence') return JSON.parse(e.payloadJson);
  }
}

test('a described subscriber is listed while its stream is open, then as disconnected; each change is a presence event', async () => {
  const g = cli.client(GatewayService);
  const me = (await unaryCall(cli.client(DeviceService), cli.client(DeviceService).whoAmI, {})).device!.deviceId;
  const before = await unaryCall(g, g.getPresence, {});
  expect(before.gateway).toMatchObject({ host: expect.any(String), version: expect.any(String), platform: expect.any(String) });

  const watcher = subscribe(undefined);
  await watcher.next(); // subscribed
  const described = subscribe(client);
  await described.next();
  const connected = await nextPresence(watcher);
  expect(connected.version).toBe(Number(before.clientsVersion) + 1);
  expect(connected.gateway).toEqual({ host: before.gateway!.host, version: before.gateway!.version, platform: before.gateway!.platform, deviceFamily: before.gateway!.deviceFamily });
  expect(connected.clients).toEqual([expect.objectContaining({ principal: me, clientId: 'openclaw-control-ui', mode: 'webchat', displayName: 'kitchen', instanceId: 'inst-1', connected: true })]);
  const listed = await unaryCall(g, g.getPresence, {});
  expect(Number(listed.clientsVersion)).toBe(connected.version);
  expect(listed.clients.map((c) => [c.principal, c.client?.instanceKey, c.connected])).toEqual([[me, 'conn-1', true]]);

  described.call.cancel();
  const gone = await nextPresence(watcher);
  expect(gone.version).toBe(connected.version + 1);
  expect(gone.clients).toEqual([expect.objectContaining({ principal: me, connected: false })]);
  // The key that names the connection among the caller's is not published.
  expect(gone.clients[0]).not.toHaveProperty('instanceKey');
  expect((await unaryCall(g, g.getPresence, {})).clients.map((c) => c.connected)).toEqual([false]);
  watcher.call.cancel();
});

test('a subscriber that describes itself badly is refused', async () => {
  const s = subscribe({ ...client, instanceKey: '' });
  const end = await s.ended;
  expect(end.error).toMatchObject({ reason: 'INVALID_CLIENT_INFO' });
  expect(end.error?.details.grpcCode).toBe(grpc.status.INVALID_ARGUMENT);
  const long = subscribe({ ...client, displayName: 'x'.repeat(300) });
  expect((await long.ended).error).toMatchObject({ reason: 'INVALID_CLIENT_INFO' });
});
