/**
 * The HA deployment as shipped: two gateway replicas on one real PostgreSQL (started by
 * this file) behind HAProxy running the project's own deploy/haproxy.cfg in TCP mode.
 * Mutual TLS passes through the balancer (each replica sees the device's certificate),
 * new connections spread over both replicas, and when one replica is killed with
 * SIGKILL, clients (an open connection as well as new ones) carry on through the
 * balancer on the other one.
 */
import * as grpc from '@grpc/grpc-js';
import { connect, createServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { readCertsDir } from '../../src/identity';
import { DeviceService, PairingService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { GatewayConnection, unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { BIN, startNode, type Child } from '../helpers/processes';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { startHaproxy, type TestHaproxy } from '../helpers/haproxy';
import { runCertsTools } from '../helpers/run-cli';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';
import { expectRefused, newKey } from '../helpers/grpc-kit';

let pg: TestPostgres;
let lb: TestHaproxy;
let root: string;
let url: string;
const replicas: { child: Child; address: string }[] = [];
const conns: GatewayConnection[] = [];

async function startReplica(): Promise<{ child: Child; address: string }> {
  const child = startNode(BIN.gateway, ['start', '--state-dir', `${root}/state`, '--grpc-port', '0', '--no-bridge', '--no-worker', '--log-level', 'warn', '--proxy-protocol'], { OPENCLAW_DATABASE_URL: url });
  const port = (await child.waitFor(/gRPC \(mTLS\):\s+127\.0\.0\.1:(\d+)/))[1];
  const r = { child, address: `127.0.0.1:${port}` };
  replicas.push(r);
  return r;
}

/** A connection of its own (not shared with other channels to the same address): one TCP connection through the balancer. */
function connectAs(address: string, dir: string): GatewayConnection {
  const c = readCertsDir(dir);
  const conn = new GatewayConnection(address, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
  conns.push(conn);
  return conn;
}

async function replicaOf(conn: GatewayConnection): Promise<string> {
  const g = conn.client(GatewayService);
  const s = await unaryCall(g, g.getStatus, {}, { timeoutMs: 5000 });
  expect(s.storage).toBe('postgres');
  return s.replica;
}

/** What GetStatus reports as `replica` for a replica process. */
const replicaName = (r: { child: Child }) => `${hostname()}/${r.child.proc.pid}`;

beforeAll(async () => {
  pg = await startPostgres();
  url = await pg.createDatabase('openclaw');
  root = makeTmpDir('ha-');
  const env = { OPENCLAW_DATABASE_URL: url };
  expect((await runCertsTools(['--state-dir', `${root}/state`, 'init'], { env })).code).toBe(0);
  await startReplica();
  await startReplica();
  for (const [name, role] of [
    ['ops', 'operator'],
    ['phone', 'operator'],
  ]) {
    const r = await runCertsTools(['--state-dir', `${root}/state`, 'issue', '--role', role, '--name', name, '--out', `${root}/${name}`], { env });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  }
  lb = await startHaproxy([replicas[0].address, replicas[1].address]);
}, 90_000);

afterAll(async () => {
  for (const c of conns) c.close();
  await lb?.stop();
  for (const r of replicas) await r.child.kill();
  await pg?.stop();
  if (root) removeTmpDir(root);
});

test('mTLS passes through the balancer: the replica sees the device, and a connection without a certificate is refused', async () => {
  const d = connectAs(lb.address, `${root}/phone`).client(DeviceService);
  expect((await unaryCall(d, d.whoAmI, {})).device).toMatchObject({ label: 'phone', status: 'active' });
  const c = readCertsDir(`${root}/phone`);
  const anon = new GatewayConnection(lb.address, { caPem: c.caPem }, { 'grpc.use_local_subchannel_pool': 1 });
  conns.push(anon);
  const g = anon.client(GatewayService);
  await expectRefused(unaryCall(g, g.getStatus, {}), grpc.status.UNAUTHENTICATED, 'NO_CLIENT_CERT');
});

test('the replicas see the device\'s own address, not the balancer\'s (PROXY protocol v2)', async () => {
  // The device connects from 127.0.0.2 (a relay bound there stands in for a device on
  // another host); the balancer itself connects to the replicas from 127.0.0.1.
  const relay = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: Number(lb.address.split(':')[1]), localAddress: '127.0.0.2' }, () => {
      client.pipe(upstream);
      upstream.pipe(client);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  try {
    const c = readCertsDir(`${root}/ops`);
    const device = new GatewayConnection(`127.0.0.1:${(relay.address() as AddressInfo).port}`, { caPem: c.caPem }, { 'grpc.use_local_subchannel_pool': 1 });
    conns.push(device);
    const p = device.client(PairingService);
    const res = await unaryCall(p, p.submitCsr, { csrPem: newKey().csr('far-away'), label: 'far-away', role: 'operator', scopes: [], bootstrapToken: '' });
    // Whichever replica took it, the request (shared) names where the device is.
    const d = connectAs(lb.address, `${root}/ops`).client(DeviceService);
    const pending = (await unaryCall(d, d.listDevices, {})).pending.find((r) => r.requestId === res.requestId);
    expect(pending?.clientInfo).toBe('127.0.0.2');
  } finally {
    relay.close();
  }
});

test('new connections are spread over both replicas', async () => {
  const seen = new Set<string>();
  // leastconn: with the earlier connections still open, new ones alternate between the replicas.
  for (let i = 0; i < 6; i++) seen.add(await replicaOf(connectAs(lb.address, `${root}/ops`)));
  expect([...seen].sort()).toEqual(replicas.map(replicaName).sort());
});

test('a replica killed with SIGKILL: an open connection and new ones carry on through the balancer on the other', async () => {
  // An open connection; the replica it landed on is the one killed.
  const open = connectAs(lb.address, `${root}/ops`);
  const before = await replicaOf(open);
  const victim = replicas.find((r) => replicaName(r) === before)!;
  const survivor = replicas.find((r) => r !== victim)!;
  victim.child.proc.kill('SIGKILL');
  await victim.child.exited;

  // The open connection's next calls fail over: grpc-js reconnects through the balancer,
  // which sends it to the live replica (a refused connect is redispatched). A call that
  // was in flight when the replica died may fail (UNAVAILABLE): bounded retries.
  let after = '';
  const deadline = Date.now() + 10_000;
  while (!after) {
    try {
      after = await replicaOf(open);
    } catch (err) {
      expect((err as { code?: number }).code).toBe(grpc.status.UNAVAILABLE);
      if (Date.now() > deadline) throw err;
    }
  }
  expect(after).toBe(replicaName(survivor));

  // New connections all land on the survivor, and the shared state is all there.
  for (let i = 0; i < 4; i++) {
    const conn = connectAs(lb.address, `${root}/phone`);
    expect(await replicaOf(conn)).toBe(replicaName(survivor));
    const d = conn.client(DeviceService);
    expect((await unaryCall(d, d.whoAmI, {})).device?.label).toBe('phone');
  }
  await lb.child.waitFor(/Server openclaw_replicas\/replica[12] is DOWN/, 10_000);
});
