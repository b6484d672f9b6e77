/**
 * Standard gRPC health checking and server reflection on the gateway's mTLS port,
 * reachable without a client certificate (probes, grpcurl), and with one.
 */
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { Connections, expectRefused, reflectionListServices, rawUnary } from '../helpers/grpc-kit';
import { readCertsDir } from '../../src/identity';

const conns = new Connections();
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  conns.closeAll();
  await t.close();
});

const OUR_SERVICES = [
  'openclaw.config.v1.ConfigService',
  'openclaw.cron.v1.CronService',
  'openclaw.devices.v1.DeviceService',
  'openclaw.devices.v1.LegacyAuthService',
  'openclaw.devices.v1.PairingService',
  'openclaw.events.v1.EventService',
  'openclaw.gateway.v1.GatewayService',
  'openclaw.logs.v1.LogService',
  'openclaw.sessions.v1.SessionService',
];

async function healthCheck(client: grpc.Client, service: string): Promise<string> {
  const body = healthService.Check.requestSerialize({ service }) as Buffer;
  const res = await rawUnary(client, '/grpc.health.v1.Health/Check', body);
  return (healthService.Check.responseDeserialize(res) as { status: string }).status;
}

test('anonymous health check: the server and each service are SERVING; unknown services are NOT_FOUND', async () => {
  const anon = conns.raw(t.address, { caPem: t.gw.registry.ca.certPem });
  expect(await healthCheck(anon, '')).toBe('SERVING');
  for (const s of OUR_SERVICES) expect([s, await healthCheck(anon, s)]).toEqual([s, 'SERVING']);
  await expectRefused(healthCheck(anon, 'no.such.Service'), grpc.status.NOT_FOUND, 'NOT_FOUND');
});

test('health check with a client certificate works the same', async () => {
  const cli = readCertsDir(t.gw.identities.cli);
  const c = conns.raw(t.address, { caPem: cli.caPem, keyPem: cli.keyPem, certPem: cli.certPem });
  expect(await healthCheck(c, 'openclaw.devices.v1.DeviceService')).toBe('SERVING');
});

test('anonymous reflection (v1 and v1alpha) lists every service, health and reflection included', async () => {
  const anon = conns.raw(t.address, { caPem: t.gw.registry.ca.certPem });
  for (const version of ['v1', 'v1alpha'] as const) {
    const names = await reflectionListServices(anon, version);
    expect(names).toContain('openclaw.devices.v1.DeviceService');
    for (const s of OUR_SERVICES) expect(names).toContain(s);
    expect(names).toContain('grpc.health.v1.Health');
  }
});
