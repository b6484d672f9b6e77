/**
 * Two gateway processes on one real PostgreSQL (started by this file), as replicas behind
 * one address: pairing requests, expired-renewal challenges and the runtime config are
 * shared. A CSR submitted on one replica is listed and decided on the other and the
 * requester's watch on the first gets the outcome; a wrong secret is refused everywhere;
 * the same request approved on both at once issues one certificate; a renewal challenge
 * begun on one is answered on the other, once; a config patch on one is seen and applied
 * by the other, and a stale baseHash is refused.
 */
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { ManualClock } from '../../src/clock';
import { certIdentity, DeviceRegistry, loadCa, readCertsDir, statePaths } from '../../src/identity';
import { renewalProofMessage, signProof } from '../../src/identity/possession-proof';
import { silentLogger } from '../../src/logging';
import { openDevices } from '../../src/store/device-store';
import { PostgresBackend } from '../../src/store/postgres/postgres-backend';
import { ConfigService } from '../../src/gen/openclaw/config/v1/config_pb';
import { DeviceService, PairingService, PairingState, type SubmitCsrResponse, type WatchPairingResponse } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { SessionService } from '../../src/gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { BIN, startNode, type Child } from '../helpers/processes';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { runCertsTools } from '../helpers/run-cli';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';
import { Connections, DAY_MS, expectRefused, newKey, normSerial, StreamReader, type TestKey } from '../helpers/grpc-kit';
import { eventually } from '../helpers/eventually';
import { opensslOk } from '../helpers/openssl';

let pg: TestPostgres;
let root: string;
let url: string;
let caPem: string;
/** A device whose certificate expired a day ago (written into the database before the replicas start). */
let sleeper: { keyPem: string; certPem: string; deviceId: string };
const replicas: { child: Child; address: string }[] = [];
const conns = new Connections();

async function startReplica(): Promise<void> {
  const child = startNode(BIN.gateway, ['start', '--state-dir', `${root}/state`, '--grpc-port', '0', '--no-bridge', '--no-worker', '--log-level', 'warn'], { OPENCLAW_DATABASE_URL: url });
  const port = (await child.waitFor(/gRPC \(mTLS\):\s+127\.0\.0\.1:(\d+)/))[1];
  replicas.push({ child, address: `127.0.0.1:${port}` });
}

/** The operator's connection to a replica (certificate from certs-tools). */
function operatorOn(address: string): GatewayConnection {
  const c = readCertsDir(`${root}/ops`);
  return conns.connect(address, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem });
}

const A = () => replicas[0].address;
const B = () => replicas[1].address;
const anonymous = (address: string) => conns.connect(address, { caPem }).client(PairingService);
const devicesOn = (address: string) => operatorOn(address).client(DeviceService);

function submit(address: string, key: TestKey, label: string): Promise<SubmitCsrResponse> {
  const p = anonymous(address);
  return unaryCall(p, p.submitCsr, { csrPem: key.csr(label), label, role: 'operator', scopes: ['operator.read'], bootstrapToken: '' });
}

function watch(address: string, sub: { requestId: string; requestSecret: string }): StreamReader<WatchPairingResponse> {
  return new StreamReader(anonymous(address).watchPairing({ requestId: sub.requestId, requestSecret: sub.requestSecret }));
}

/** Serials the gateway's CRL lists (revoked devices and superseded certificates). */
async function crlSerials(d: ReturnType<typeof devicesOn>): Promise<string[]> {
  const crl = await unaryCall(d, d.exportCrl, {});
  const text = opensslOk(['crl', '-noout', '-text'], { input: crl.crlPem });
  return [...text.matchAll(/Serial Number: ([0-9A-Fa-f]+)/g)].map((m) => normSerial(m[1])).sort();
}

beforeAll(async () => {
  pg = await startPostgres();
  url = await pg.createDatabase('openclaw');
  root = makeTmpDir('pairing-replicas-');
  const env = { OPENCLAW_DATABASE_URL: url };
  expect((await runCertsTools(['--state-dir', `${root}/state`, 'init'], { env })).code).toBe(0);
  const ca = loadCa(statePaths(`${root}/state`))!;
  caPem = ca.certPem;
  // A device that slept through its expiry: a 14-day certificate issued 15 days ago.
  const store = await PostgresBackend.open({ url, log: silentLogger() });
  try {
    const registry = new DeviceRegistry({ store: await openDevices(store), ca, clock: new ManualClock(Date.now() - 15 * DAY_MS), log: silentLogger() });
    const issued = await registry.provision({ role: 'node', label: 'sleeper' });
    sleeper = { keyPem: issued.keyPem, certPem: issued.certPem, deviceId: issued.device.id };
  } finally {
    await store.close();
  }
  // One after the other: both would otherwise provision the local identities at once.
  await startReplica();
  await startReplica();
  const r = await runCertsTools(['--state-dir', `${root}/state`, 'issue', '--role', 'operator', '--name', 'ops', '--scopes', 'operator.read,operator.write,operator.admin,operator.pairing', '--out', `${root}/ops`], { env });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
}, 90_000);

afterAll(async () => {
  conns.closeAll();
  for (const r of replicas) await r.child.kill();
  await pg?.stop();
  if (root) removeTmpDir(root);
});

describe('pairing across replicas', () => {
  test('a CSR submitted on A is listed and approved on B; the watch on A gets the certificate, which works on both', async () => {
    const key = newKey();
    const sub = await submit(A(), key, 'phone');
    expect(sub.state).toBe(PairingState.PENDING);
    const w = watch(A(), sub);
    expect((await w.next()).state).toBe(PairingState.PENDING);

    const onB = devicesOn(B());
    const pendingOnB = async () => (await unaryCall(onB, onB.listDevices, {})).pending.find((p) => p.requestId === sub.requestId);
    await eventually('B lists the request', async () => (await pendingOnB()) !== undefined);
    const listed = await pendingOnB();
    expect(listed).toMatchObject({ deviceId: sub.deviceId, verificationCode: sub.verificationCode, label: 'phone', kind: 'csr' });
    const approved = await unaryCall(onB, onB.approvePairing, { requestId: sub.requestId });

    const final = await w.next();
    expect(final).toMatchObject({ state: PairingState.APPROVED, deviceId: sub.deviceId, scopes: ['operator.read'] });
    expect((await w.ended).error).toBeUndefined();
    expect(certIdentity(final.certPem).serial).toBe(normSerial(approved.device!.serial));
    for (const address of [A(), B()]) {
      const d = conns.connect(address, { caPem: final.caPem, keyPem: key.privateKeyPem, certPem: final.certPem }).client(DeviceService);
      expect((await unaryCall(d, d.whoAmI, {})).device).toMatchObject({ deviceId: sub.deviceId, label: 'phone', status: 'active' });
    }
  });

  test('a rejection on B reaches the watcher on A', async () => {
    const sub = await submit(A(), newKey(), 'stranger');
    const w = watch(A(), sub);
    expect((await w.next()).state).toBe(PairingState.PENDING);
    const onB = devicesOn(B());
    await unaryCall(onB, onB.rejectPairing, { requestId: sub.requestId, reason: 'not ours' });
    expect(await w.next()).toMatchObject({ state: PairingState.REJECTED, deviceId: sub.deviceId, certPem: '', reason: 'not ours' });
    expect((await w.ended).error).toBeUndefined();
  });

  test('a wrong or missing secret is refused on either replica, before and after the decision', async () => {
    const sub = await submit(A(), newKey(), 'secretive');
    const wrong = sub.requestSecret.slice(0, -1) + (sub.requestSecret.endsWith('A') ? 'B' : 'A');
    const refusedEverywhere = async () => {
      for (const address of [A(), B()]) {
        for (const requestSecret of [wrong, '']) {
          const end = await watch(address, { requestId: sub.requestId, requestSecret }).ended;
          expect({ code: end.error?.details.grpcCode, reason: end.error?.reason }).toEqual({ code: grpc.status.NOT_FOUND, reason: 'PAIRING_REQUEST_NOT_FOUND' });
        }
      }
    };
    await refusedEverywhere();
    // The real secret works on the other replica too.
    expect((await watch(B(), sub).next()).state).toBe(PairingState.PENDING);
    const onA = devicesOn(A());
    await unaryCall(onA, onA.approvePairing, { requestId: sub.requestId });
    await refusedEverywhere();
    expect((await watch(B(), sub).next()).certPem).toContain('BEGIN CERTIFICATE');
  });

  test('the same request approved on A and B at once: one certificate, one clear refusal', async () => {
    const sub = await submit(A(), newKey(), 'contested');
    const w = watch(B(), sub);
    expect((await w.next()).state).toBe(PairingState.PENDING);
    const onA = devicesOn(A());
    const onB = devicesOn(B());
    const crlBefore = await crlSerials(onA);
    const results = await Promise.allSettled([unaryCall(onA, onA.approvePairing, { requestId: sub.requestId }), unaryCall(onB, onB.approvePairing, { requestId: sub.requestId })]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as { reason: string; message: string; details: { grpcCode: number } });
    expect(ok).toHaveLength(1);
    expect(refused.map((e) => [e.details.grpcCode, e.reason])).toEqual([[grpc.status.FAILED_PRECONDITION, 'PAIRING_ALREADY_DECIDED']]);
    expect(refused[0].message).toMatch(new RegExp(`^pairing request ${sub.requestId} (is being approved right now|was already approved) \\(by [0-9a-f]{64}\\)$`));
    const device = (ok[0] as PromiseFulfilledResult<{ device?: { serial: string } }>).value.device!;
    const final = await w.next();
    expect(certIdentity(final.certPem).serial).toBe(normSerial(device.serial));
    // A second certificate would have superseded the first one, whose serial the CRL would then list.
    expect(await crlSerials(onB)).toEqual(crlBefore);
    const listed = (await unaryCall(onB, onB.listDevices, {})).devices.filter((d) => d.deviceId === sub.deviceId);
    expect(listed.map((d) => normSerial(d.serial))).toEqual([normSerial(device.serial)]);
  });
});

describe('renewal of an expired certificate across replicas', () => {
  const proofFor = (c: { challengeId: string; nonce: Uint8Array }) =>
    signProof(sleeper.keyPem, renewalProofMessage({ deviceId: sleeper.deviceId, serial: new X509Certificate(sleeper.certPem).serialNumber, challengeId: c.challengeId, nonce: Buffer.from(c.nonce) }));

  test('BeginExpiredRenewal on A, RenewExpiredCertificate on B; the challenge cannot be used again on A', async () => {
    const onA = anonymous(A());
    const onB = anonymous(B());
    const c = await unaryCall(onA, onA.beginExpiredRenewal, { certPem: sleeper.certPem });
    const renewed = await unaryCall(onB, onB.renewExpiredCertificate, { certPem: sleeper.certPem, challengeId: c.challengeId, signature: proofFor(c) });
    const id = certIdentity(renewed.certPem);
    expect(id.deviceId).toBe(sleeper.deviceId);
    expect(id.notAfter).toBeGreaterThan(Date.now());
    await expectRefused(unaryCall(onA, onA.renewExpiredCertificate, { certPem: sleeper.certPem, challengeId: c.challengeId, signature: proofFor(c) }), grpc.status.UNAUTHENTICATED, 'RENEW_CHALLENGE_UNKNOWN');
    // The new certificate works on B at once, and on A as soon as A's change feed brought it (within a second).
    const whoAmIOn = (address: string) => {
      const d = conns.connect(address, { caPem, keyPem: sleeper.keyPem, certPem: renewed.certPem }).client(DeviceService);
      return unaryCall(d, d.whoAmI, {});
    };
    expect((await whoAmIOn(B())).device).toMatchObject({ deviceId: sleeper.deviceId, status: 'active' });
    await eventually('A accepts the renewed certificate', () => whoAmIOn(A()).then(() => true, () => false), 1000);
  });
});

describe('runtime config across replicas', () => {
  test('a patch on A is seen by B\'s GetConfig and applied there; a stale baseHash is refused on B', async () => {
    const cfgA = operatorOn(A()).client(ConfigService);
    const cfgB = operatorOn(B()).client(ConfigService);
    const before = await unaryCall(cfgB, cfgB.getConfig, {});
    const patched = await unaryCall(cfgA, cfgA.patchConfig, {
      patchJson: JSON.stringify({ pairing: { pendingTtlSeconds: 600 }, agents: { list: [{ id: 'main', provider: 'builtin' }, { id: 'ops', name: 'Ops', provider: 'builtin' }] } }),
      baseHash: before.hash,
    });
    expect(patched.hash).not.toBe(before.hash);
    await eventually("B's GetConfig shows the patch", async () => (await unaryCall(cfgB, cfgB.getConfig, {})).hash === patched.hash);
    expect(JSON.parse((await unaryCall(cfgB, cfgB.getConfig, {})).configJson)).toMatchObject({ pairing: { pendingTtlSeconds: 600 } });

    // Applied on B: its agent catalog was rebuilt (a config listener), and its pairing queue uses the new TTL.
    const sessionsB = operatorOn(B()).client(SessionService);
    await eventually("B's agent catalog has the new agent", async () => (await unaryCall(sessionsB, sessionsB.listAgents, {})).agents.some((x) => x.agentId === 'ops'));
    const t0 = Date.now();
    const sub = await submit(B(), newKey(), 'ttl-probe');
    expect(Number(sub.expiresAtMs) - t0).toBeGreaterThanOrEqual(600_000 - 1000);
    expect(Number(sub.expiresAtMs) - Date.now()).toBeLessThanOrEqual(600_000);

    // The hash B read before the patch is stale on B as well.
    const stale = await expectRefused(unaryCall(cfgB, cfgB.patchConfig, { patchJson: JSON.stringify({ cron: { enabled: false } }), baseHash: before.hash }), grpc.status.FAILED_PRECONDITION, 'CONFIG_CHANGED');
    expect(stale.message).toContain('get it again');
    expect(JSON.parse((await unaryCall(cfgA, cfgA.getConfig, {})).configJson).cron.enabled).toBe(true);
  });
});
