/**
 * Device presence (GatewayService.GetPresence, `openclaw-cli presence`): a device is
 * listed while it has an open stream, and a device that only makes calls for a minute
 * after its last one; it leaves as soon as its last stream ends, and a revoked device
 * leaves at once (its streams are ended too), also when it made a call a moment ago.
 */
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { ManualClock } from '../../src/clock';
import { DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { EventService, type SubscribeResponse } from '../../src/gen/openclaw/events/v1/events_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { PRESENT_FOR_MS } from '../../src/services/presence/presence-tracker';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { eventually } from '../helpers/eventually';
import { Connections, grpcCodeOf, provision, StreamReader } from '../helpers/grpc-kit';
import { useTmpDirs } from '../helpers/tmp';
import { cliFor, writeIdentity } from '../cli/cli-harness';

const conns = new Connections();
const tmp = useTmpDirs('presence-');
let t: TestGateway;
let cli: GatewayConnection;
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  t = await startTestGateway({ clock });
  cli = t.connect('cli');
});
afterAll(async () => {
  conns.closeAll();
  await t.close();
});

async function listed(): Promise<{ deviceId: string; streams: number }[]> {
  const g = cli.client(GatewayService);
  return (await unaryCall(g, g.getPresence, {})).entries.map((e) => ({ deviceId: e.deviceId, streams: e.streams }));
}

async function device(label: string): Promise<{ id: string; conn: GatewayConnection }> {
  const d = await provision(t, { role: 'operator', label, scopes: ['operator.read'] });
  return { id: d.deviceId, conn: conns.connect(t.address, d) };
}

async function ping(conn: GatewayConnection): Promise<void> {
  const g = conn.client(GatewayService);
  await unaryCall(g, g.ping, {});
}

test('a device whose last stream ends leaves at once; one that only calls stays a minute after its last call', async () => {
  const streamer = await device('streamer');
  const s = new StreamReader<SubscribeResponse>(streamer.conn.client(EventService).subscribe({ types: ['never.published'] }));
  await s.next();
  expect(await listed()).toContainEqual({ deviceId: streamer.id, streams: 1 });
  await s.cancel();
  // No minute passes: the stream's end is what makes it leave.
  await eventually('the streamer left', async () => !(await listed()).some((e) => e.deviceId === streamer.id));

  const caller = await device('caller');
  await ping(caller.conn);
  expect(await listed()).toContainEqual({ deviceId: caller.id, streams: 0 });
  clock.advance(PRESENT_FOR_MS - 1000);
  expect((await listed()).map((e) => e.deviceId)).toContain(caller.id);
  clock.advance(1001);
  expect((await listed()).map((e) => e.deviceId)).not.toContain(caller.id);
  // A new call lists it again.
  await ping(caller.conn);
  expect((await listed()).map((e) => e.deviceId)).toContain(caller.id);
});

test('a revoked device leaves presence at once, and its open streams end (UNAUTHENTICATED / DEVICE_REVOKED)', async () => {
  const streaming = await device('revoked-streaming');
  const calling = await device('revoked-calling');
  const s = new StreamReader<SubscribeResponse>(streaming.conn.client(EventService).subscribe({ types: [] }));
  await s.next();
  await ping(calling.conn);
  const before = (await listed()).map((e) => e.deviceId);
  expect(before).toEqual(expect.arrayContaining([streaming.id, calling.id]));

  const d = cli.client(DeviceService);
  for (const id of [streaming.id, calling.id]) await unaryCall(d, d.revokeDevice, { deviceId: id, reason: 'lost' });
  const end = await s.endWithin(3000);
  expect({ code: grpcCodeOf(end.error), reason: end.error?.reason }).toEqual({ code: grpc.status.UNAUTHENTICATED, reason: 'DEVICE_REVOKED' });
  const after = (await listed()).map((e) => e.deviceId);
  expect(after).not.toContain(streaming.id);
  expect(after).not.toContain(calling.id);
});

test('openclaw-cli presence: a CLI following events is listed while it runs and not once it was killed', async () => {
  const issued = await t.gw.registry.provision({ role: 'operator', label: 'cli-follower', scopes: ['operator.read'] });
  const dir = join(tmp(), 'follower');
  writeIdentity(dir, t, issued);
  const runner = cliFor(t, tmp());
  const follower = runner.with({ certs: dir }).start('events', '--types', 'never.published');
  await follower.waitForLine((l) => l.length > 0);
  const listedBy = async () => (await runner.json<{ entries: { deviceId: string; streams: number }[] }>('presence')).entries.find((e) => e.deviceId === issued.device.id);
  expect(await listedBy()).toMatchObject({ streams: 1 });
  follower.child.kill('SIGKILL');
  await follower.exited;
  // Its connection is gone with the process: it leaves without waiting for its last call to age.
  await eventually('the killed CLI left', async () => (await listedBy()) === undefined, 10_000);
}, 30_000);
