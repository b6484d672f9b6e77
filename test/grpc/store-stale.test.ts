/**
 * A gateway replica cut off from its PostgreSQL (through a TCP proxy the test silences,
 * as a partition would) stops deciding from its copy once it is stale: calls that need
 * a device get UNAVAILABLE STORE_STALE, the gRPC health says NOT_SERVING and GET
 * /readyz answers 503 with the reason; a device revoked on another replica meanwhile
 * is never served here. Reconnected, it catches up, serves again and refuses the
 * revoked device. A gateway on files is never stale; /readyz refuses other paths and
 * methods.
 */
import * as grpc from '@grpc/grpc-js';
import { request } from 'node:http';
import { service as healthService } from 'grpc-health-check';
import { resolveGatewayConfig } from '../../src/config/gateway-config';
import { DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { GatewayError } from '../../src/errors';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { eventually } from '../helpers/eventually';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { Connections, expectRefused, grpcCodeOf, provision, rawUnary } from '../helpers/grpc-kit';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

let pg: TestPostgres;
let proxy: TcpProxy;
let cut: TestGateway;
let other: TestGateway;
let files: TestGateway;
const conns = new Connections();

beforeAll(async () => {
  pg = await startPostgres();
  const url = await pg.createDatabase();
  proxy = await startTcpProxy(pg.port);
  cut = await startTestGateway({ databaseUrl: proxy.rewrite(url), healthAddr: '127.0.0.1:0' });
  // Another replica: the same state dir (CA), the database directly.
  other = await startTestGateway({ databaseUrl: url, stateDir: cut.stateDir });
  files = await startTestGateway({ healthAddr: '127.0.0.1:0' });
}, 60_000);
afterAll(async () => {
  conns.closeAll();
  proxy?.heal();
  for (const t of [files, other, cut]) await t?.close();
  await proxy?.close();
  await pg?.stop();
});

function get(url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function health(t: TestGateway): Promise<string> {
  const anon = conns.raw(t.address, { caPem: t.gw.registry.ca.certPem });
  const res = await rawUnary(anon, '/grpc.health.v1.Health/Check', healthService.Check.requestSerialize({ service: '' }) as Buffer);
  return (healthService.Check.responseDeserialize(res) as { status: string }).status;
}

/** WhoAmI through `t` as `who`: the device's label, or the refusal's reason. */
async function whoAmI(t: TestGateway, who: { keyPem: string; certPem: string; caPem: string }): Promise<string> {
  const d = conns.connect(t.address, who).client(DeviceService);
  try {
    return `ok:${(await unaryCall(d, d.whoAmI, {}, { timeoutMs: 5000 })).device?.label}`;
  } catch (err) {
    if (err instanceof GatewayError) return `${grpc.status[grpcCodeOf(err) ?? -1]}:${err.reason}`;
    throw err;
  }
}

test('cut off from its database: STORE_STALE, NOT_SERVING, /readyz 503; a device revoked elsewhere meanwhile is never served; back: current again', async () => {
  const phone = await provision(other, { role: 'operator', label: 'phone' });
  await eventually('the cut-off replica knows the phone', async () => (await whoAmI(cut, phone)) === 'ok:phone');
  expect(await get(cut.gw.readyUrl!)).toEqual({ status: 200, body: '{"ready":true}\n' });
  expect(await health(cut)).toBe('SERVING');

  proxy.partition();
  const stale = await eventually('the replica refuses as stale', async () => {
    const r = await whoAmI(cut, phone);
    if (r === 'ok:phone') return undefined;
    return r;
  }, 15_000);
  expect(stale).toBe('UNAVAILABLE:STORE_STALE');
  const onCut = conns.connect(cut.address, phone).client(DeviceService);
  const refused = await expectRefused(unaryCall(onCut, onCut.whoAmI, {}), grpc.status.UNAVAILABLE, 'STORE_STALE');
  expect(refused.message).toMatch(/has not reached its database for [\d.]+ s.*refuses authenticated calls until it is current again/);
  await eventually('health says NOT_SERVING', async () => (await health(cut)) === 'NOT_SERVING');
  const ready = await get(cut.gw.readyUrl!);
  expect(ready.status).toBe(503);
  expect(JSON.parse(ready.body)).toEqual({ ready: false, reason: expect.stringMatching(/^store stale: the database has not confirmed this replica's copy for [\d.]+ s$/) });
  expect(cut.logs.lines.some((l) => String(l.msg).startsWith('the store copy is stale'))).toBe(true);

  // Revoked through the other replica during the partition: never served by this one.
  await other.gw.registry.revoke(phone.deviceId, 'lost');
  expect(await whoAmI(other, phone)).toBe('UNAUTHENTICATED:DEVICE_REVOKED');
  for (let i = 0; i < 5; i++) expect(await whoAmI(cut, phone)).toBe('UNAVAILABLE:STORE_STALE');

  proxy.heal();
  const outcomes = new Set<string>();
  await eventually(
    'the replica is current again and refuses the revoked phone',
    async () => {
      const r = await whoAmI(cut, phone);
      outcomes.add(r);
      return r === 'UNAUTHENTICATED:DEVICE_REVOKED';
    },
    20_000,
  );
  expect([...outcomes].filter((o) => o !== 'UNAVAILABLE:STORE_STALE' && o !== 'UNAUTHENTICATED:DEVICE_REVOKED')).toEqual([]);
  await eventually('health says SERVING', async () => (await health(cut)) === 'SERVING');
  expect((await get(cut.gw.readyUrl!)).status).toBe(200);
  const cli = cut.connect('cli').client(DeviceService);
  expect((await unaryCall(cli, cli.whoAmI, {})).device?.label).toBeTruthy();
});

test('a gateway on files is never stale; /readyz answers GET and HEAD only, at /readyz only', async () => {
  expect(files.gw.store.freshness).toBeUndefined();
  expect(await get(files.gw.readyUrl!)).toEqual({ status: 200, body: '{"ready":true}\n' });
  expect(await get(files.gw.readyUrl!, 'HEAD')).toEqual({ status: 200, body: '' });
  expect((await get(files.gw.readyUrl!, 'POST')).status).toBe(405);
  expect((await get(files.gw.readyUrl!.replace('/readyz', '/metrics'))).status).toBe(404);
  expect(files.gw.readyUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/readyz$/);
});

test('--health-addr / OPENCLAW_HEALTH_ADDR: HOST:PORT, checked at start', () => {
  expect(resolveGatewayConfig({}, { OPENCLAW_HEALTH_ADDR: '0.0.0.0:18791' }).healthAddr).toBe('0.0.0.0:18791');
  expect(resolveGatewayConfig({ healthAddr: '127.0.0.1:9000' }, { OPENCLAW_HEALTH_ADDR: '0.0.0.0:18791' }).healthAddr).toBe('127.0.0.1:9000');
  expect(resolveGatewayConfig({}, {}).healthAddr).toBeUndefined();
  expect(() => resolveGatewayConfig({ healthAddr: 'nope' }, {})).toThrow(/health address must be HOST:PORT/);
});
