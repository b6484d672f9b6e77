/**
 * The HA deployment as shipped: two gateway replicas on one real PostgreSQL (started by
 * this file) behind HAProxy running the project's own deploy/haproxy.cfg in TCP mode,
 * checking each replica's GET /readyz (--health-addr) and sending each connection's
 * PROXY protocol v2 header (the replicas run with --proxy-protocol). Mutual TLS passes
 * through the balancer (each replica sees the device's certificate, and its address),
 * new connections spread over both replicas; a replica cut off from the database (its
 * connections silenced by a TCP proxy, as a partition would) is marked down and refuses
 * with STORE_STALE, and a device revoked on the other one meanwhile is never served by
 * it; when a replica is killed with SIGKILL, clients (an open connection as well as new
 * ones) carry on through the balancer on the other one.
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
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { eventually } from '../helpers/eventually';
import { GatewayError } from '../../src/errors';
import { request } from 'node:http';
import { runCertsTools } from '../helpers/run-cli';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';
import { expectRefused, grpcCodeOf, newKey } from '../helpers/grpc-kit';

let pg: TestPostgres;
let lb: TestHaproxy;
let root: string;
let url: string;
/** A replica process, the proxy between it and the database, and where it answers. */
interface Replica {
  child: Child;
  address: string;
  readyUrl: string;
  checkPort: number;
  db: TcpProxy;
}
const replicas: Replica[] = [];
const conns: GatewayConnection[] = [];

/** A replica reaching the database through a TCP proxy of its own (so that a test can cut it off), behind the balancer's PROXY protocol. */
async function startReplica(): Promise<Replica> {
  const db = await startTcpProxy(pg.port);
  const child = startNode(
    BIN.gateway,
    ['start', '--state-dir', `${root}/state`, '--grpc-port', '0', '--health-addr', '127.0.0.1:0', '--no-bridge', '--no-worker', '--log-level', 'warn', '--proxy-protocol'],
    { OPENCLAW_DATABASE_URL: db.rewrite(url) },
  );
  const port = (await child.waitFor(/gRPC \(mTLS\):\s+127\.0\.0\.1:(\d+)/))[1];
  const ready = await child.waitFor(/readiness:\s+(http:\/\/127\.0\.0\.1:(\d+)\/readyz)/);
  const r = { child, address: `127.0.0.1:${port}`, readyUrl: ready[1], checkPort: Number(ready[2]), db };
  replicas.push(r);
  return r;
}

/** GET a readiness URL: its status code. */
function readyStatus(readyUrl: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(readyUrl, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

/** Resolves once the balancer's output, after what it had written when called, matches `re`. */
function balancerSays(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  const from = lb.child.output().length;
  const p = eventually(`the balancer logs ${re}`, () => lb.child.output().slice(from).match(re) ?? undefined, timeoutMs);
  // Awaited later by the test; if the test fails before, its timeout must not outlive it as an unhandled rejection.
  p.catch(() => undefined);
  return p;
}

/** WhoAmI through `address` as the device in `dir`, on a connection of its own: its label, or the refusal (code:reason). */
async function whoAmI(address: string, dir: string): Promise<string> {
  const d = connectAs(address, dir).client(DeviceService);
  try {
    return `ok:${(await unaryCall(d, d.whoAmI, {}, { timeoutMs: 5000 })).device?.label}`;
  } catch (err) {
    if (err instanceof GatewayError) return `${grpc.status[grpcCodeOf(err) ?? -1]}:${err.reason}`;
    throw err;
  }
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
    ['laptop', 'operator'],
  ]) {
    const r = await runCertsTools(['--state-dir', `${root}/state`, 'issue', '--role', role, '--name', name, '--out', `${root}/${name}`], { env });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  }
  lb = await startHaproxy([replicas[0], replicas[1]]);
}, 90_000);

afterAll(async () => {
  for (const c of conns) c.close();
  await lb?.stop();
  for (const r of replicas) r.db.heal();
  for (const r of replicas) await r.child.kill();
  for (const r of replicas) await r.db.close();
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

test('a replica cut off from the database is marked down and refuses with STORE_STALE; a device revoked on the other meanwhile is never served by it', async () => {
  const [cut, live] = replicas;
  expect(await whoAmI(cut.address, `${root}/laptop`)).toBe('ok:laptop');
  expect(await readyStatus(cut.readyUrl)).toBe(200);

  const down = balancerSays(/Server openclaw_replicas\/replica1 is DOWN[^\n]*/);
  cut.db.partition();
  expect((await down)[0]).toMatch(/code: 503/);
  expect(await whoAmI(cut.address, `${root}/laptop`)).toBe('UNAVAILABLE:STORE_STALE');
  expect(await readyStatus(cut.readyUrl)).toBe(503);
  expect(await readyStatus(live.readyUrl)).toBe(200);

  // Revoked through the balancer (the live replica, the only one up) while the other is cut off.
  const d = connectAs(lb.address, `${root}/ops`).client(DeviceService);
  const laptop = connectAs(lb.address, `${root}/laptop`).client(DeviceService);
  const laptopId = (await unaryCall(laptop, laptop.whoAmI, {})).device!.deviceId;
  await unaryCall(d, d.revokeDevice, { deviceId: laptopId, reason: 'lost in a taxi' });
  for (let i = 0; i < 4; i++) {
    expect(await whoAmI(lb.address, `${root}/laptop`)).toBe('UNAUTHENTICATED:DEVICE_REVOKED');
    expect(await whoAmI(cut.address, `${root}/laptop`)).toBe('UNAVAILABLE:STORE_STALE');
  }
  // Other devices go on through the balancer.
  expect(await whoAmI(lb.address, `${root}/phone`)).toBe('ok:phone');

  // Back in reach: current again (the revocation included) before it serves anyone, then back in the balancer.
  const up = balancerSays(/Server openclaw_replicas\/replica1 is UP/);
  cut.db.heal();
  const seen = new Set<string>();
  await eventually(
    'the replica refuses the revoked laptop',
    async () => {
      const r = await whoAmI(cut.address, `${root}/laptop`);
      seen.add(r);
      return r === 'UNAUTHENTICATED:DEVICE_REVOKED';
    },
    20_000,
  );
  expect([...seen].filter((r) => r !== 'UNAVAILABLE:STORE_STALE' && r !== 'UNAUTHENTICATED:DEVICE_REVOKED')).toEqual([]);
  expect(await whoAmI(cut.address, `${root}/phone`)).toBe('ok:phone');
  await up;
});

test('a replica killed with SIGKILL: an open connection and new ones carry on through the balancer on the other', async () => {
  // An open connection; the replica it landed on is the one killed.
  const open = connectAs(lb.address, `${root}/ops`);
  const before = await replicaOf(open);
  const victim = replicas.find((r) => replicaName(r) === before)!;
  const survivor = replicas.find((r) => r !== victim)!;
  const down = balancerSays(new RegExp(`Server openclaw_replicas/replica${replicas.indexOf(victim) + 1} is DOWN`));
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
      expect(grpcCodeOf(err)).toBe(grpc.status.UNAVAILABLE);
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
  await down;
});
