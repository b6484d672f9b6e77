/**
 * Every RPC open without a client certificate spends from a rate budget per source
 * address (pairing, renewal after expiry, probes), with the gateway's real limits; a
 * caller with a valid device certificate is not limited by them. Denials are audited.
 */
import * as grpc from '@grpc/grpc-js';
import { PairingService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { ANONYMOUS_BUDGETS } from '../../src/transport/grpc/server/authz-table';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { Connections, expectRefused, provisionAt, DAY_MS } from '../helpers/grpc-kit';

const conns = new Connections();
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({ realLimits: true });
});
afterAll(async () => {
  conns.closeAll();
  await t.close();
});

const anonymous = () => conns.connect(t.address, { caPem: t.gw.registry.ca.certPem });

test('pairing calls without a certificate: the per-address budget runs out with RATE_LIMITED, and it is audited', async () => {
  const p = anonymous().client(PairingService);
  const budget = ANONYMOUS_BUDGETS.pairing.perAddress.capacity;
  const results = await Promise.allSettled(Array.from({ length: budget + 10 }, () => unaryCall(p, p.getCaBundle, {})));
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  const limited = results.filter((r) => r.status === 'rejected' && (r.reason as { reason?: string }).reason === 'RATE_LIMITED').length;
  // The bucket refills while the calls run, so a few more than its capacity may pass.
  expect(ok).toBeGreaterThanOrEqual(budget);
  expect(ok).toBeLessThan(budget + 5);
  expect(ok + limited).toBe(budget + 10);
  await expectRefused(unaryCall(p, p.getCaBundle, {}), grpc.status.RESOURCE_EXHAUSTED, 'RATE_LIMITED');
  expect(t.logs.audits('call.deny').some((l) => l.reason === 'RATE_LIMITED' && l.method === '/openclaw.devices.v1.PairingService/GetCaBundle' && l.allowed === false)).toBe(true);
});

test('renewal after expiry has its own, smaller budget per address', async () => {
  const p = anonymous().client(PairingService);
  const old = await provisionAt(t, Date.now() - 15 * DAY_MS, { role: 'operator', label: 'flooder', scopes: ['operator.read'] });
  const budget = ANONYMOUS_BUDGETS.renewal.perAddress.capacity;
  const results = await Promise.allSettled(Array.from({ length: budget + 5 }, () => unaryCall(p, p.beginExpiredRenewal, { certPem: old.certPem })));
  const addressLimited = results.filter((r) => r.status === 'rejected' && /from 127\.0\.0\.1/.test((r.reason as Error).message));
  expect(addressLimited.length).toBeGreaterThanOrEqual(4);
});

test('a device with a valid certificate is not limited by the anonymous budgets', async () => {
  // The pairing budget of 127.0.0.1 is spent (first test); a device still gets through.
  const cli = t.connect('cli');
  const p = cli.client(PairingService);
  for (let i = 0; i < 5; i++) expect((await unaryCall(p, p.getCaBundle, {})).fingerprintSha256).toBe(t.gw.caFingerprint);
  const g = cli.client(GatewayService);
  await unaryCall(g, g.getStatus, {});
});

test('a dual-stack gateway keeps an IPv4 client under its IPv4 address (not ::ffff:...) and an IPv6 client under its /64', async () => {
  const dual = await startTestGateway({ realLimits: true, grpcHost: '::' });
  try {
    const budget = ANONYMOUS_BUDGETS.pairing.perAddress.capacity;
    for (const [address, key] of [
      [`127.0.0.1:${dual.gw.grpcPort}`, '127.0.0.1'],
      [`[::1]:${dual.gw.grpcPort}`, '::/64'],
    ]) {
      const p = conns.connect(address, { caPem: dual.gw.registry.ca.certPem }).client(PairingService);
      const results = await Promise.allSettled(Array.from({ length: budget + 10 }, () => unaryCall(p, p.getCaBundle, {})));
      const messages = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
      expect({ address, some: messages.length > 0 }).toEqual({ address, some: true });
      for (const m of messages) expect(m).toBe(`too many unauthenticated pairing calls from ${key}; wait a minute and try again`);
    }
  } finally {
    await dual.close();
  }
});
