/**
 * Bad input on the real gRPC port: CSRs that are garbage, the wrong key type or size,
 * without proof of possession, or too large; unknown roles and scopes; oversized
 * messages; unknown methods; and the limits of the anonymous pairing RPC (queue bound,
 * per-address rate limit). After each, the gateway keeps answering.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/clock';
import { createCsr } from '../../src/identity';
import { ConfigService } from '../../src/gen/openclaw/config/v1/config_pb';
import { DeviceService, PairingService, PairingState } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { opensslOk } from '../helpers/openssl';
import { Connections, expectRefused, grpcCodeOf, newKey, rawUnary, type TestKey } from '../helpers/grpc-kit';
import { readCertsDir } from '../../src/identity';
import { GatewayError } from '../../src/errors';

const clock = new ManualClock();
const conns = new Connections();
let t: TestGateway;
let cli: GatewayConnection;
let key: TestKey;
let scratch: string;

beforeAll(async () => {
  t = await startTestGateway({ clock, realLimits: true });
  cli = t.connect('cli');
  key = newKey();
  scratch = mkdtempSync(join(tmpdir(), 'ocgw-bad-input-'));
});
afterAll(async () => {
  conns.closeAll();
  await t.close();
  rmSync(scratch, { recursive: true, force: true });
});

const pairing = () => conns.connect(t.address, { caPem: t.gw.registry.ca.certPem }).client(PairingService);
const submit = (csrPem: string, extra: { role?: string; scopes?: string[] } = {}) => {
  const p = pairing();
  return unaryCall(p, p.submitCsr, { csrPem, label: 'bad-input', role: extra.role ?? 'operator', scopes: extra.scopes ?? ['operator.read'] });
};
const ping = (c: GatewayConnection, payload: Uint8Array = new Uint8Array([1, 2, 3])) => {
  const g = c.client(GatewayService);
  return unaryCall(g, g.ping, { payload }, { timeoutMs: 20_000 });
};

/** A CSR made by openssl (an independent implementation), with a throwaway key. */
function opensslCsr(keyArgs: string[], extra: string[] = []): string {
  return opensslOk(['req', '-new', ...keyArgs, '-nodes', '-subj', '/CN=x', '-keyout', join(scratch, 'throwaway.key'), ...extra]);
}

describe('CSRs that are refused with INVALID_ARGUMENT and a reason', () => {
  test('garbage, empty, not a CSR', async () => {
    await expectRefused(submit('hello'), grpc.status.INVALID_ARGUMENT, 'CSR_MALFORMED');
    await expectRefused(submit(''), grpc.status.INVALID_ARGUMENT, 'CSR_MISSING');
    await expectRefused(submit('-----BEGIN CERTIFICATE REQUEST-----\nMIIBzz==\n-----END CERTIFICATE REQUEST-----\n'), grpc.status.INVALID_ARGUMENT, 'CSR_MALFORMED');
    // A certificate is not a CSR.
    await expectRefused(submit(t.gw.registry.ca.certPem), grpc.status.INVALID_ARGUMENT, 'CSR_MALFORMED');
  });

  test('EC curves other than P-256/P-384: CSR_KEY_TYPE naming the curve', async () => {
    const p521 = opensslCsr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp521r1']);
    const err = await expectRefused(submit(p521), grpc.status.INVALID_ARGUMENT, 'CSR_KEY_TYPE');
    expect(err.message).toMatch(/secp521r1/);
    const k1 = opensslCsr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1']);
    expect((await expectRefused(submit(k1), grpc.status.INVALID_ARGUMENT, 'CSR_KEY_TYPE')).message).toMatch(/secp256k1/);
  });

  test('SHA-1 signature: CSR_SIGNATURE_ALGORITHM', async () => {
    await expectRefused(submit(opensslCsr(['-newkey', 'rsa:2048', '-sha1'])), grpc.status.INVALID_ARGUMENT, 'CSR_SIGNATURE_ALGORITHM');
  });

  test('no proof of possession (signed by another key): CSR_SIGNATURE_INVALID', async () => {
    const other = newKey();
    const forged = createCsr({ privateKeyPem: other.privateKeyPem, publicKeyPem: key.publicKeyPem, label: 'forged' });
    await expectRefused(submit(forged), grpc.status.INVALID_ARGUMENT, 'CSR_SIGNATURE_INVALID');
  });

  test('larger than 16 KiB: CSR_TOO_LARGE', async () => {
    await expectRefused(submit(key.csr() + '#'.repeat(17 * 1024)), grpc.status.INVALID_ARGUMENT, 'CSR_TOO_LARGE');
  });

  test('unknown role or scope: UNKNOWN_ROLE / UNKNOWN_SCOPE', async () => {
    await expectRefused(submit(key.csr(), { role: 'root' }), grpc.status.INVALID_ARGUMENT, 'UNKNOWN_ROLE');
    await expectRefused(submit(key.csr(), { scopes: ['operator.read', 'operator.root'] }), grpc.status.INVALID_ARGUMENT, 'UNKNOWN_SCOPE');
    const d = cli.client(DeviceService);
    await expectRefused(unaryCall(d, d.createBootstrapToken, { label: 'x', role: 'superuser', scopes: [] }), grpc.status.INVALID_ARGUMENT, 'UNKNOWN_ROLE');
    await expectRefused(unaryCall(d, d.createBootstrapToken, { label: 'x', role: 'operator', scopes: ['everything'] }), grpc.status.INVALID_ARGUMENT, 'UNKNOWN_SCOPE');
    await expectRefused(unaryCall(d, d.createBootstrapToken, { label: 'x', role: 'operator', scopes: ['operator.read'], ttlMs: 1000n }), grpc.status.INVALID_ARGUMENT, 'INVALID_TTL');
    await expectRefused(unaryCall(d, d.createBootstrapToken, { label: 'x', role: 'operator', scopes: ['operator.read'], uses: 5000 }), grpc.status.INVALID_ARGUMENT, 'INVALID_USES');
  });

  test('none of it left a pending request or a device behind', async () => {
    const d = cli.client(DeviceService);
    const list = await unaryCall(d, d.listDevices, { includeRevoked: true });
    expect(list.pending).toEqual([]);
    expect(list.devices.map((x) => x.label).sort()).toEqual(['local-bridge', 'local-cli', 'local-worker']);
  });
});

describe('transport-level abuse', () => {
  test('a 5 MiB request: RESOURCE_EXHAUSTED, and the gateway still answers on the same connection', async () => {
    await ping(cli);
    let err: unknown;
    await ping(cli, new Uint8Array(5 * 1024 * 1024)).catch((e: unknown) => (err = e));
    expect(err).toBeInstanceOf(GatewayError);
    expect(grpcCodeOf(err)).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const back = await ping(cli, new Uint8Array([9, 9]));
    expect(Buffer.from(back.payload)).toEqual(Buffer.from([9, 9]));
    // Just under the limit works.
    const big = await ping(cli, new Uint8Array(3 * 1024 * 1024));
    expect(big.payload.length).toBe(3 * 1024 * 1024);
  });

  test('unknown methods and services: UNIMPLEMENTED, with or without a certificate', async () => {
    const c = readCertsDir(t.gw.identities.cli);
    const withCert = conns.raw(t.address, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem });
    const anon = conns.raw(t.address, { caPem: t.gw.registry.ca.certPem });
    for (const client of [withCert, anon]) {
      await expectRefused(rawUnary(client, '/openclaw.devices.v1.DeviceService/DeleteEverything'), grpc.status.UNIMPLEMENTED, 'UNIMPLEMENTED');
      await expectRefused(rawUnary(client, '/no.such.v1.Service/Method'), grpc.status.UNIMPLEMENTED, 'UNIMPLEMENTED');
    }
    await ping(cli);
  });

  test('a request body that is not protobuf is refused; the gateway still answers', async () => {
    const c = readCertsDir(t.gw.identities.cli);
    const raw = conns.raw(t.address, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem });
    let err: unknown;
    await rawUnary(raw, '/openclaw.gateway.v1.GatewayService/Ping', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])).catch((e: unknown) => (err = e));
    expect(err).toBeInstanceOf(GatewayError);
    expect(grpcCodeOf(err)).not.toBe(grpc.status.OK);
    await ping(cli);
  });
});

describe('limits of anonymous pairing', () => {
  test('the pending queue is bounded (maxPending): PAIRING_QUEUE_FULL; the same device asking again is not a new entry', async () => {
    const cfg = cli.client(ConfigService);
    await unaryCall(cfg, cfg.patchConfig, { patchJson: JSON.stringify({ pairing: { maxPending: 1 } }) });
    try {
      const first = await submit(key.csr('queued'));
      expect(first.state).toBe(PairingState.PENDING);
      const again = await submit(key.csr('queued'));
      expect(again.requestId).toBe(first.requestId);
      const other = newKey();
      await expectRefused(submit(other.csr('overflow')), grpc.status.RESOURCE_EXHAUSTED, 'PAIRING_QUEUE_FULL');
      expect(t.logs.audits('pairing.denied').some((l) => l.reason === 'queue full')).toBe(true);
    } finally {
      await unaryCall(cfg, cfg.patchConfig, { patchJson: JSON.stringify({ pairing: { maxPending: null } }) });
    }
  });

  // Last in this file: it drains the per-address bucket and then moves the clock.
  test('more than 20 quick SubmitCsr from one address: RESOURCE_EXHAUSTED / RATE_LIMITED, refilled over time', async () => {
    const results = await Promise.allSettled(Array.from({ length: 25 }, () => submit('garbage')));
    const reasons = results.map((r) => (r.status === 'rejected' ? (r.reason as GatewayError).reason : 'ACCEPTED'));
    const limited = results.filter((r) => r.status === 'rejected' && grpcCodeOf(r.reason) === grpc.status.RESOURCE_EXHAUSTED && (r.reason as GatewayError).reason === 'RATE_LIMITED');
    // Earlier tests of this file used part of the bucket (capacity 20): at least 5 of 25 are limited.
    expect(limited.length).toBeGreaterThanOrEqual(5);
    expect(reasons.filter((r) => r !== 'RATE_LIMITED').every((r) => r === 'CSR_MALFORMED')).toBe(true);
    // The limit applies before any CSR work: a valid request is limited too.
    await expectRefused(submit(key.csr('limited')), grpc.status.RESOURCE_EXHAUSTED, 'RATE_LIMITED');
    expect(t.logs.audits('pairing.denied').some((l) => l.reason === 'rate limited' && l.peer === '127.0.0.1')).toBe(true);
    // Authenticated calls are not affected.
    await ping(cli);

    // 10 per minute come back.
    clock.advance(60_000);
    const ok = await submit(key.csr('after-refill'));
    expect(ok.state).toBe(PairingState.PENDING);
  });
});
