/**
 * Two gateway processes sharing a device registry on a real PostgreSQL (started by this
 * file), as replicas behind one address would: `certs-tools --database-url` issues into
 * the database, either replica serves the device, and a device revoked through one
 * replica is refused by the other within a second, its open event stream cut there too.
 */
import * as grpc from '@grpc/grpc-js';
import { readCertsDir } from '../../src/identity';
import { EventService } from '../../src/gen/openclaw/events/v1/events_pb';
import { DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { GatewayConnection, unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { BIN, startNode, type Child } from '../helpers/processes';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { runCertsTools } from '../helpers/run-cli';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';
import { expectRefused, StreamReader } from '../helpers/grpc-kit';

let pg: TestPostgres;
let root: string;
let url: string;
const replicas: { child: Child; address: string }[] = [];
const conns: GatewayConnection[] = [];

async function startReplica(): Promise<{ child: Child; address: string }> {
  const child = startNode(BIN.gateway, ['start', '--state-dir', `${root}/state`, '--grpc-port', '0', '--no-bridge', '--no-worker', '--log-level', 'warn'], { OPENCLAW_DATABASE_URL: url });
  const port = (await child.waitFor(/gRPC \(mTLS\):\s+127\.0\.0\.1:(\d+)/))[1];
  const r = { child, address: `127.0.0.1:${port}` };
  replicas.push(r);
  return r;
}

function connect(address: string, dir: string): GatewayConnection {
  const c = readCertsDir(dir);
  const conn = new GatewayConnection(address, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
  conns.push(conn);
  return conn;
}

beforeAll(async () => {
  pg = await startPostgres();
  url = await pg.createDatabase('openclaw');
  root = makeTmpDir('replicas-');
  const env = { OPENCLAW_DATABASE_URL: url };
  expect((await runCertsTools(['--state-dir', `${root}/state`, 'init'], { env })).code).toBe(0);
  // One after the other: both would otherwise provision the local identities at once.
  await startReplica();
  await startReplica();
  for (const [name, role] of [
    ['ops', 'operator'],
    ['phone', 'operator'],
  ]) {
    const r = await runCertsTools(['--state-dir', `${root}/state`, 'issue', '--role', role, '--name', name, '--out', `${root}/${name}`], { env });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  }
}, 60_000);

afterAll(async () => {
  for (const c of conns) c.close();
  for (const r of replicas) await r.child.kill();
  await pg?.stop();
  if (root) removeTmpDir(root);
});

test('a device issued into the database is served by either replica', async () => {
  for (const r of replicas) {
    const d = connect(r.address, `${root}/phone`).client(DeviceService);
    expect((await unaryCall(d, d.whoAmI, {})).device).toMatchObject({ label: 'phone', status: 'active' });
  }
});

test('revoked through one replica: refused by the other within a second, and its stream there is cut', async () => {
  const [a, b] = replicas;
  const onB = connect(b.address, `${root}/phone`);
  const stream = new StreamReader(onB.client(EventService).subscribe({ types: ['cron'] }));
  expect((await stream.next()).event?.type).toBe('subscribed');

  const ops = connect(a.address, `${root}/ops`).client(DeviceService);
  const phoneId = readCertsDir(`${root}/phone`).meta!.deviceId;
  const d = onB.client(DeviceService);
  await unaryCall(d, d.whoAmI, {});
  await unaryCall(ops, ops.revokeDevice, { deviceId: phoneId, reason: 'lost on the train' });
  const revokedAt = Date.now();

  // Calls on the other replica, one after another, until it refuses (bounded): how long the revocation took to get there.
  let refusedAfter = -1;
  while (Date.now() - revokedAt < 3000) {
    try {
      await unaryCall(d, d.whoAmI, {}, { timeoutMs: 1000 });
    } catch (err) {
      expect((err as { reason?: string }).reason).toBe('DEVICE_REVOKED');
      refusedAfter = Date.now() - revokedAt;
      break;
    }
  }
  expect(refusedAfter).toBeGreaterThanOrEqual(0);
  expect(refusedAfter).toBeLessThan(1000);
  // Its open stream on that replica is cut as well.
  const end = await stream.endWithin(2000);
  expect(end.error?.details.grpcCode).toBe(grpc.status.UNAUTHENTICATED);
  await expectRefused(unaryCall(d, d.whoAmI, {}), grpc.status.UNAUTHENTICATED, 'DEVICE_REVOKED');
});

test('a replica with another CA (e.g. an empty state dir) is refused by the shared store, in one line', async () => {
  const child = startNode(BIN.gateway, ['start', '--state-dir', `${root}/other-state`, '--grpc-port', '0', '--no-bridge', '--no-worker', '--log-level', 'warn'], { OPENCLAW_DATABASE_URL: url });
  const code = await child.exited;
  expect(code).not.toBe(0);
  expect(child.output()).toMatch(/openclaw-gateway: error: the devices in this store belong to the CA SHA256:[0-9a-f:]{95} \(trust domain [^)]+\), not to this state dir's CA SHA256:[0-9a-f:]{95}; give every replica \(and certs-tools\) the same CA folder/);
});

test('two replicas starting at the same moment on a fresh state dir share one set of local identities', async () => {
  const url2 = await pg.createDatabase('fresh');
  const state = `${root}/fresh-state`;
  const start = () => startNode(BIN.gateway, ['start', '--state-dir', state, '--grpc-port', '0', '--no-bridge', '--no-worker', '--log-level', 'warn'], { OPENCLAW_DATABASE_URL: url2 });
  const both = [start(), start()];
  try {
    const ports = await Promise.all(both.map(async (c) => (await c.waitFor(/gRPC \(mTLS\):\s+127\.0\.0\.1:(\d+)/))[1]));
    // The local CLI identity works on both, and nothing was rotated away.
    for (const port of ports) {
      const d = connect(`127.0.0.1:${port}`, `${state}/identities/cli`).client(DeviceService);
      const listed = await unaryCall(d, d.listDevices, { includeRevoked: true });
      expect(listed.devices.map((x) => `${x.label}:${x.status}`).sort()).toEqual(['local-bridge:active', 'local-cli:active', 'local-worker:active']);
    }
  } finally {
    for (const c of both) await c.kill();
  }
});
