/**
 * Events across two gateway processes on one real PostgreSQL (started by this file): an
 * event caused through one replica (a cron job added) reaches a subscriber on the other
 * within a second; a subscription resumes on the other replica (after SIGKILL of the one
 * it was on) with every event published meanwhile, no gap, no repeat; the resume errors
 * (RESUME_TOO_OLD, RESUME_AHEAD, SUBSCRIPTION_NOT_FOUND, another owner) hold across
 * replicas; a device revoked through one replica has its streams on the other cut
 * (events and WatchPairing); a replica killed with SIGKILL right after acknowledging a
 * change does not take the change's event with it.
 */
import * as grpc from '@grpc/grpc-js';
import { Client } from 'pg';
import { readCertsDir } from '../../src/identity';
import { CronService } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { DeviceService, PairingService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { EventService, type SubscribeResponse } from '../../src/gen/openclaw/events/v1/events_pb';
import { GatewayConnection, unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { withOutboxHeld } from '../helpers/held-outbox';
import { BIN, startNode, type Child } from '../helpers/processes';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { runCertsTools } from '../helpers/run-cli';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';
import { grpcCodeOf, newKey, StreamReader } from '../helpers/grpc-kit';

let pg: TestPostgres;
let root: string;
let url: string;
let a: Replica;
let b: Replica;
const children: Child[] = [];
const conns: GatewayConnection[] = [];

interface Replica {
  child: Child;
  address: string;
}

async function startReplica(): Promise<Replica> {
  const child = startNode(BIN.gateway, ['start', '--state-dir', `${root}/state`, '--grpc-port', '0', '--no-bridge', '--no-worker', '--log-level', 'warn'], { OPENCLAW_DATABASE_URL: url });
  children.push(child);
  const port = (await child.waitFor(/gRPC \(mTLS\):\s+127\.0\.0\.1:(\d+)/))[1];
  return { child, address: `127.0.0.1:${port}` };
}

function connect(r: Replica, who: string): GatewayConnection {
  const c = readCertsDir(`${root}/${who}`);
  const conn = new GatewayConnection(r.address, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
  conns.push(conn);
  return conn;
}

function subscribe(r: Replica, who: string, req: { types?: string[]; subscriptionId?: string; resumeAfterSeq?: bigint } = {}): StreamReader<SubscribeResponse> {
  return new StreamReader(connect(r, who).client(EventService).subscribe({ types: req.types ?? [], subscriptionId: req.subscriptionId ?? '', resumeAfterSeq: req.resumeAfterSeq ?? 0n }));
}

/** Adds a (disabled) cron job through a replica: the gateway publishes a `cron` event. */
async function addJob(r: Replica, name: string): Promise<string> {
  const cron = connect(r, 'ops').client(CronService);
  const res = await unaryCall(cron, cron.addJob, { name, enabled: false, schedule: { kind: { case: 'everyMs', value: 3_600_000n } }, payload: { kind: { case: 'systemEvent', value: { text: name } } } });
  return res.job!.jobId;
}

/** The next event of a stream (past the `subscribed` marker), as (seq, job id). */
async function nextJob(s: StreamReader<SubscribeResponse>): Promise<{ seq: bigint; jobId: string }> {
  const e = (await s.next()).event!;
  expect(e.type).toBe('cron');
  return { seq: e.seq, jobId: (JSON.parse(e.payloadJson) as { jobId: string }).jobId };
}

async function marker(s: StreamReader<SubscribeResponse>): Promise<string> {
  const e = (await s.next()).event!;
  expect({ seq: e.seq, type: e.type }).toEqual({ seq: 0n, type: 'subscribed' });
  return e.subscriptionId;
}

beforeAll(async () => {
  pg = await startPostgres();
  url = await pg.createDatabase('openclaw');
  root = makeTmpDir('events-replicas-');
  const env = { OPENCLAW_DATABASE_URL: url };
  expect((await runCertsTools(['--state-dir', `${root}/state`, 'init'], { env })).code).toBe(0);
  // One after the other: both would otherwise provision the local identities at once.
  a = await startReplica();
  b = await startReplica();
  for (const name of ['ops', 'other', 'phone']) {
    const r = await runCertsTools(['--state-dir', `${root}/state`, 'issue', '--role', 'operator', '--name', name, '--out', `${root}/${name}`], { env });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  }
}, 60_000);

afterAll(async () => {
  for (const c of conns) c.close();
  for (const c of children) await c.kill();
  await pg?.stop();
  if (root) removeTmpDir(root);
});

test('an event caused through one replica reaches a subscriber on the other within a second', async () => {
  const onA = subscribe(a, 'ops', { types: ['cron'] });
  await marker(onA);
  const jobId = await addJob(b, 'from-b');
  const added = Date.now();
  const e = await nextJob(onA);
  expect(Date.now() - added).toBeLessThan(1000);
  expect(e.jobId).toBe(jobId);
  await onA.cancel();
});

test('resume errors hold on the other replica: unknown, another owner, ahead, too old', async () => {
  const onA = subscribe(a, 'ops', { types: ['cron'] });
  const id = await marker(onA);
  await addJob(a, 'err-1');
  const { seq } = await nextJob(onA);
  await onA.cancel();

  const refused = async (s: StreamReader<SubscribeResponse>) => {
    const end = await s.endWithin(5000);
    return { code: grpc.status[grpcCodeOf(end.error) ?? -1], reason: end.error?.reason };
  };
  expect(await refused(subscribe(b, 'ops', { subscriptionId: 'no-such-subscription' }))).toEqual({ code: 'NOT_FOUND', reason: 'SUBSCRIPTION_NOT_FOUND' });
  // Another device cannot resume it (and does not learn that it exists).
  expect(await refused(subscribe(b, 'other', { subscriptionId: id, resumeAfterSeq: seq }))).toEqual({ code: 'NOT_FOUND', reason: 'SUBSCRIPTION_NOT_FOUND' });
  expect(await refused(subscribe(b, 'ops', { subscriptionId: id, resumeAfterSeq: seq + 1_000_000n }))).toEqual({ code: 'INVALID_ARGUMENT', reason: 'RESUME_AHEAD' });

  // What retention does when events pile up, done here at once: everything up to a newer event is removed.
  await addJob(a, 'err-2');
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    await db.query('BEGIN');
    const head = Number((await db.query('SELECT seq FROM openclaw_event_head WHERE id = 1 FOR UPDATE')).rows[0].seq);
    expect(head).toBeGreaterThan(Number(seq));
    await db.query('DELETE FROM openclaw_events WHERE seq <= $1', [head]);
    await db.query('UPDATE openclaw_event_head SET kept_from = $1 WHERE id = 1', [head + 1]);
    await db.query('COMMIT');
  } finally {
    await db.end();
  }
  expect(await refused(subscribe(b, 'ops', { subscriptionId: id, resumeAfterSeq: seq }))).toEqual({ code: 'FAILED_PRECONDITION', reason: 'RESUME_TOO_OLD' });
});

test('a device revoked through one replica has its event stream and its WatchPairing on the other cut', async () => {
  const events = subscribe(b, 'phone', { types: ['cron'] });
  await marker(events);
  // The phone asks for a certificate for another key and watches the request, on B.
  const phoneOnB = connect(b, 'phone').client(PairingService);
  const submitted = await unaryCall(phoneOnB, phoneOnB.submitCsr, { csrPem: newKey().csr('spare'), label: 'spare', role: 'operator', scopes: ['operator.read'], bootstrapToken: '' });
  const watch = new StreamReader(phoneOnB.watchPairing({ requestId: submitted.requestId, requestSecret: submitted.requestSecret }));
  await watch.next();

  const ops = connect(a, 'ops').client(DeviceService);
  await unaryCall(ops, ops.revokeDevice, { deviceId: readCertsDir(`${root}/phone`).meta!.deviceId, reason: 'stolen' });
  for (const s of [events, watch]) {
    const end = await s.endWithin(2000);
    expect({ code: grpc.status[grpcCodeOf(end.error) ?? -1], reason: end.error?.reason }).toEqual({ code: 'UNAUTHENTICATED', reason: 'DEVICE_REVOKED' });
  }
});

test('a subscriber on a replica killed with SIGKILL resumes on the other: every event published meanwhile, no gap, no repeat', async () => {
  const onA = subscribe(a, 'ops', { types: ['cron'] });
  const id = await marker(onA);
  const before = [await addJob(b, 'k-1'), await addJob(b, 'k-2'), await addJob(b, 'k-3')];
  const got = [await nextJob(onA), await nextJob(onA), await nextJob(onA)];
  expect(got.map((e) => e.jobId)).toEqual(before);
  // The client had handled the first two when the replica died; the third is in flight.
  const last = got[1].seq;

  await a.child.kill('SIGKILL');
  const cut = await onA.endWithin(5000);
  expect(cut.error).toBeDefined();
  const meanwhile: string[] = [];
  for (let i = 1; i <= 5; i++) meanwhile.push(await addJob(b, `m-${i}`));

  // Resumed on B with the same id and last seq (types are the subscription's: only cron).
  const onB = subscribe(b, 'ops', { subscriptionId: id, resumeAfterSeq: last });
  expect(await marker(onB)).toBe(id);
  const replayed: { seq: bigint; jobId: string }[] = [];
  for (let i = 0; i < 6; i++) replayed.push(await nextJob(onB));
  expect(replayed.map((e) => e.jobId)).toEqual([before[2], ...meanwhile]);
  expect(replayed[0].seq).toBe(got[2].seq);
  // Live events follow, still on the same subscription.
  const live = await addJob(b, 'after');
  const next = await nextJob(onB);
  expect(next.jobId).toBe(live);
  const seqs = [last, ...replayed.map((e) => e.seq), next.seq];
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
  expect(onB.pending).toEqual([]);
  await onB.cancel();
});

test('a replica killed with SIGKILL right after acknowledging a change: its event still reaches subscribers on another replica, live and on resume', async () => {
  const c = await startReplica();
  const onB = subscribe(b, 'ops', { types: ['cron'] });
  await marker(onB);
  // A subscriber of the replica that will die; it resumes on B afterwards.
  const onC = subscribe(c, 'ops', { types: ['cron'] });
  const id = await marker(onC);
  // The outbox is kept busy while the job is added (a slow database, a backlog): an event
  // written after the commit would still be waiting when C acknowledges, and die with it.
  let jobId = '';
  await withOutboxHeld(
    url,
    () => addJob(c, 'acked-then-killed'),
    async (acked) => {
      jobId = acked;
      await c.child.kill('SIGKILL');
    },
  );
  expect(jobId).not.toBe('');
  expect((await nextJob(onB)).jobId).toBe(jobId);
  const resumed = subscribe(b, 'ops', { subscriptionId: id, resumeAfterSeq: 0n });
  expect(await marker(resumed)).toBe(id);
  expect((await nextJob(resumed)).jobId).toBe(jobId);
  await onB.cancel();
  await resumed.cancel();
});
