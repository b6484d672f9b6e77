/**
 * Cron on two gateway processes sharing one real PostgreSQL (started by this file), as
 * replicas behind one address would run: a job added on one is listed by the other; jobs
 * due at the same moments get exactly one run per period whichever replica fires; and a
 * run held by a worker on a replica killed with SIGKILL goes back to pending once that
 * replica's lease ends and is completed by a worker on the other. Nothing acknowledged is
 * lost. Leases are shortened (OPENCLAW_CRON_LEASE_MS) so that takes about two seconds.
 */
import type * as grpc from '@grpc/grpc-js';
import { readCertsDir } from '../../src/identity';
import { CronService as CronDesc, type WatchDueRunsResponse } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { GatewayConnection, unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { BIN, startNode, type Child } from '../helpers/processes';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { runCertsTools } from '../helpers/run-cli';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';

const LEASE_MS = 1500;

let pg: TestPostgres;
let root: string;
let url: string;
let a: Replica;
let b: Replica;
const conns: GatewayConnection[] = [];
const streams: grpc.ClientReadableStream<unknown>[] = [];

interface Replica {
  child: Child;
  address: string;
}

async function startReplica(): Promise<Replica> {
  const child = startNode(BIN.gateway, ['start', '--state-dir', `${root}/state`, '--grpc-port', '0', '--no-bridge', '--no-worker', '--log-level', 'warn'], {
    OPENCLAW_DATABASE_URL: url,
    OPENCLAW_CRON_LEASE_MS: String(LEASE_MS),
  });
  const port = (await child.waitFor(/gRPC \(mTLS\):\s+127\.0\.0\.1:(\d+)/))[1];
  return { child, address: `127.0.0.1:${port}` };
}

function cronOn(r: Replica, identity: string) {
  const c = readCertsDir(`${root}/${identity}`);
  const conn = new GatewayConnection(r.address, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
  conns.push(conn);
  return conn.client(CronDesc);
}

/** A test worker attached to a replica: records what it is given and, when `complete`, reports each run done at once. */
function attachWorker(r: Replica, identity: string, complete: boolean): { runs: string[]; completed: string[]; stop: () => void } {
  const cron = cronOn(r, identity);
  const runs: string[] = [];
  const completed: string[] = [];
  const stream = cron.watchDueRuns({ workerId: identity });
  streams.push(stream as grpc.ClientReadableStream<unknown>);
  stream.on('data', (m: WatchDueRunsResponse) => {
    const runId = m.run!.runId;
    runs.push(runId);
    if (!complete) return;
    void unaryCall(cron, cron.completeRun, { runId, status: 'ok', output: `done by ${identity}`, error: '', sessionId: '' }).then(
      () => completed.push(runId),
      () => undefined, // e.g. the replica went away: the run is handed out again
    );
  });
  stream.on('error', () => undefined);
  return { runs, completed, stop: () => stream.cancel() };
}

/** Polls `check` (each look is a real call) until it holds; fails after `ms`. */
async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const ping = { kind: { case: 'systemEvent' as const, value: { text: 'ping' } } };

beforeAll(async () => {
  pg = await startPostgres();
  url = await pg.createDatabase('openclaw');
  root = makeTmpDir('cron-replicas-');
  const env = { OPENCLAW_DATABASE_URL: url };
  expect((await runCertsTools(['--state-dir', `${root}/state`, 'init'], { env })).code).toBe(0);
  // One after the other: both would otherwise provision the local identities at once.
  a = await startReplica();
  b = await startReplica();
  for (const [name, role] of [
    ['ops', 'operator'],
    ['w1', 'backend'],
    ['w2', 'backend'],
    ['w3', 'backend'],
  ]) {
    const r = await runCertsTools(['--state-dir', `${root}/state`, 'issue', '--role', role, '--name', name, '--out', `${root}/${name}`], { env });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  }
}, 90_000);

afterAll(async () => {
  for (const s of streams) s.cancel();
  for (const c of conns) c.close();
  for (const r of [a, b]) await r?.child.kill();
  await pg?.stop();
  if (root) removeTmpDir(root);
});

test('a job added on one replica is listed by the other', async () => {
  const onA = cronOn(a, 'ops');
  const onB = cronOn(b, 'ops');
  const { job } = await unaryCall(onA, onA.addJob, { name: 'added-on-a', schedule: { kind: { case: 'everyMs', value: 3600_000n } }, payload: ping, enabled: true });
  await until(async () => (await unaryCall(onB, onB.listJobs, {})).jobs.some((j) => j.jobId === job!.jobId), 3000, 'the job on b');
  expect((await unaryCall(onB, onB.getJob, { jobId: job!.jobId })).job).toMatchObject({ name: 'added-on-a', nextRunAtMs: job!.nextRunAtMs });
});

test('40 one-shot jobs due at one moment and 20 every-second jobs: exactly one run per job per period', async () => {
  const onA = cronOn(a, 'ops');
  const onB = cronOn(b, 'ops');
  const w1 = attachWorker(a, 'w1', true);
  const w2 = attachWorker(b, 'w2', true);
  const atMs = Date.now() + 4000;
  const oneShots: string[] = [];
  const everySecond: { jobId: string; createdAtMs: number }[] = [];
  for (let i = 0; i < 40; i++) {
    const on = i % 2 ? onA : onB;
    oneShots.push((await unaryCall(on, on.addJob, { name: `at-${i}`, schedule: { kind: { case: 'atMs', value: BigInt(atMs) } }, payload: ping, enabled: true })).job!.jobId);
  }
  for (let i = 0; i < 20; i++) {
    const on = i % 2 ? onA : onB;
    const { job } = await unaryCall(on, on.addJob, { name: `every-${i}`, schedule: { kind: { case: 'everyMs', value: 1000n } }, payload: ping, enabled: true });
    everySecond.push({ jobId: job!.jobId, createdAtMs: Number(job!.createdAtMs) });
  }
  // Both replicas have every job in their copy, so both arm their timers for them.
  for (const on of [onA, onB]) await until(async () => (await unaryCall(on, on.listJobs, {})).jobs.length >= 61, 5000, 'every job on both replicas');

  const runsOf = async (jobId: string) => (await unaryCall(onB, onB.listRuns, { jobId, limit: 500 })).runs;
  await until(async () => {
    if (Date.now() < atMs + 3500) return false;
    for (const id of oneShots) if ((await runsOf(id)).some((r) => r.status !== 'ok') || (await runsOf(id)).length === 0) return false;
    return true;
  }, 20_000, 'the one-shot runs to finish');
  // Stop the interval jobs, then look at everything they did.
  for (const { jobId } of everySecond) await unaryCall(onA, onA.updateJob, { jobId, enabled: false });
  w1.stop();
  w2.stop();

  const runsById = new Map<string, string>();
  for (const id of oneShots) {
    const runs = await runsOf(id);
    expect(runs.map((r) => [r.status, Number(r.scheduledAtMs)])).toEqual([['ok', atMs]]);
    runsById.set(id, runs[0].runId);
  }
  let periods = 0;
  for (const { jobId, createdAtMs } of everySecond) {
    const runs = await runsOf(jobId);
    const due = runs.map((r) => Number(r.scheduledAtMs));
    expect(new Set(due).size).toBe(due.length); // never two runs for one period
    for (const d of due) expect((d - createdAtMs) % 1000).toBe(0); // on the job's grid
    expect(runs.length).toBeGreaterThanOrEqual(3);
    periods += runs.length;
  }
  // In this healthy run, every run was handed out once: the one-shots' each exactly once.
  const delivered = [...w1.runs, ...w2.runs];
  expect(new Set(delivered).size).toBe(delivered.length);
  for (const id of oneShots) expect(delivered.filter((r) => r === (runsById.get(id) as string))).toHaveLength(1);
  expect(periods).toBeGreaterThanOrEqual(60);
}, 60_000);

test('a run held by a worker on a replica killed with SIGKILL goes back to pending and is completed by a worker on the other', async () => {
  const onA = cronOn(a, 'ops');
  const onB = cronOn(b, 'ops');
  const acknowledged = (await unaryCall(onA, onA.listJobs, {})).jobs.map((j) => j.jobId);
  const { job } = await unaryCall(onA, onA.addJob, { name: 'held', schedule: { kind: { case: 'everyMs', value: 3600_000n } }, payload: ping, enabled: true });
  acknowledged.push(job!.jobId);
  const holder = attachWorker(a, 'w1', false);
  await until(async () => (await unaryCall(onA, onA.getCronStatus, {})).workerConnected, 5000, 'the worker on a');
  const { run } = await unaryCall(onA, onA.runJob, { jobId: job!.jobId });
  await until(async () => holder.runs.includes(run!.runId), 5000, 'the run delivered on a');
  await until(async () => (await unaryCall(onB, onB.listRuns, { jobId: job!.jobId })).runs[0]?.status === 'running', 3000, 'b to see the run running');

  await a.child.kill('SIGKILL');

  // No worker on b yet: once a's lease has run out, b puts the run back to pending.
  const killedAt = Date.now();
  await until(async () => (await unaryCall(onB, onB.listRuns, { jobId: job!.jobId })).runs[0]?.status === 'pending', 10_000, 'the run pending again');
  expect(Date.now() - killedAt).toBeLessThan(LEASE_MS + 3000);
  const taker = attachWorker(b, 'w3', true);
  await until(async () => (await unaryCall(onB, onB.listRuns, { jobId: job!.jobId })).runs[0]?.status === 'ok', 10_000, 'the run completed on b');
  expect(taker.runs).toEqual([run!.runId]);
  // Its start is still the first delivery's, so its duration covers the whole attempt.
  expect(run!.startedAtMs).toBeGreaterThan(0n);
  expect((await unaryCall(onB, onB.listRuns, { jobId: job!.jobId })).runs[0]).toMatchObject({ runId: run!.runId, output: 'done by w3', startedAtMs: run!.startedAtMs });

  // Nothing acknowledged before the kill is lost.
  const after = (await unaryCall(onB, onB.listJobs, {})).jobs.map((j) => j.jobId);
  for (const id of acknowledged) expect(after).toContain(id);
  taker.stop();
}, 60_000);
