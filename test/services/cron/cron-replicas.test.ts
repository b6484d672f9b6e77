/**
 * Cron on several replicas of one store (each its own backend on the same folder or
 * database, as separate processes would open it), on both backends, with one ManualClock
 * and fake timers: a due period fires once whichever replicas tick, a pending run is
 * claimed by one replica's worker, and a replica that dies (its heartbeat stops) loses
 * its claims to the others once they have seen its heartbeat unchanged for a lease,
 * while one that only looked dead takes its runs back. Also the lease settings. (Clock
 * skew and database stalls: cron-liveness.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { leaseFromSetting, type CronRun, type CronService } from '../../../src/services/cron/cron-service';
import { checkLease, DEFAULT_LEASE } from '../../../src/services/cron/cron-replicas';
import { caught } from '../helpers';
import { BACKENDS, MIN, recorder, T0, until, useCronWorld } from './cron-harness';

const LEASE = { heartbeatMs: 1000, leaseMs: 3000 };

/** `svc` heartbeats on its timer for `ms` (every heartbeat interval) while the clock moves on. */
async function heartbeatsFor(svc: CronService, ms: number, clock: { advance(ms: number): void }): Promise<void> {
  for (let t = 0; t < ms; t += LEASE.heartbeatMs) {
    clock.advance(Math.min(LEASE.heartbeatMs, ms - t));
    await svc.heartbeat();
  }
}

/** A run's status as a replica's copy has it ('' while it has not heard of the run or its job). */
const seen = (svc: CronService, runId: string): string => {
  for (const j of svc.list()) for (const r of svc.listRuns(j.jobId, 500)) if (r.runId === runId) return r.status;
  return '';
};
const ping = { kind: 'systemEvent' as const, text: 'ping' };

describe('lease settings', () => {
  it('defaults to a 3 s heartbeat and a 9 s lease; OPENCLAW_CRON_LEASE_MS sets the lease, the heartbeat a third of it', () => {
    expect(DEFAULT_LEASE).toEqual({ heartbeatMs: 3000, leaseMs: 9000 });
    expect(leaseFromSetting(undefined)).toEqual(DEFAULT_LEASE);
    expect(leaseFromSetting(' ')).toEqual(DEFAULT_LEASE);
    expect(leaseFromSetting('1500')).toEqual({ heartbeatMs: 500, leaseMs: 1500 });
  });

  it.each([['abc'], ['-3000'], ['1.5'], ['20']])('refuses OPENCLAW_CRON_LEASE_MS=%s', async (value) => {
    const err = await caught(() => leaseFromSetting(value));
    expect([err.code, err.reason]).toEqual(['INVALID_ARGUMENT', 'CRON_LEASE_INVALID']);
  });

  it('refuses a lease shorter than three heartbeats, or a heartbeat under 10 ms', async () => {
    expect((await caught(() => checkLease({ heartbeatMs: 1000, leaseMs: 2999 }))).message).toBe('cron lease must be an integer of at least three heartbeats, 3000 ms (got 2999)');
    expect((await caught(() => checkLease({ heartbeatMs: 5, leaseMs: 100 }))).reason).toBe('CRON_LEASE_INVALID');
    expect(checkLease({ heartbeatMs: 10, leaseMs: 30 })).toEqual({ heartbeatMs: 10, leaseMs: 30 });
  });
});

describe.each(BACKENDS)('cron replicas on %s', (kind) => {
  const world = useCronWorld(kind);
  const replicas = async (): Promise<[CronService, CronService]> => [await world().make({ options: { lease: LEASE } }), await world().make({ options: { lease: LEASE } })];

  it('refuses bad lease options at open', async () => {
    const err = await caught(() => world().make({ options: { lease: { heartbeatMs: 1000, leaseMs: 2000 } } }));
    expect(err.reason).toBe('CRON_LEASE_INVALID');
  });

  it('jobs added, changed and removed on one replica are seen by the other', async () => {
    const [a, b] = await replicas();
    const job = await a.add({ name: 'shared', schedule: { kind: 'every', everyMs: MIN }, payload: ping });
    await until(() => b.list().length === 1);
    expect(b.get(job.jobId)).toEqual(job);
    await b.update(job.jobId, { name: 'renamed on b' });
    await until(() => a.get(job.jobId).name === 'renamed on b');
    await a.remove(job.jobId);
    await until(() => b.list().length === 0);
    expect((await caught(() => b.get(job.jobId))).reason).toBe('JOB_NOT_FOUND');
  });

  it('40 jobs due at the same moment: one run each per period, whichever replicas tick and however stale their copy', async () => {
    const { clock } = world();
    const [a, b] = await replicas();
    const jobs: string[] = [];
    for (let i = 0; i < 40; i++) jobs.push((await (i % 2 ? a : b).add({ name: `j${i}`, schedule: { kind: 'every', everyMs: MIN }, payload: ping })).jobId);
    await until(() => a.list().length === 40 && b.list().length === 40);
    const runsPerJob = (svc: CronService) => jobs.map((id) => svc.listRuns(id).length);
    const completeAll = async (svc: CronService) => {
      for (const r of svc.listRuns(undefined, 500)) if (r.status === 'pending') await svc.completeRun(r.runId, { status: 'ok' });
    };

    // Both replicas race.
    clock.advance(MIN);
    const [fromA, fromB] = await Promise.all([a.tick(), b.tick()]);
    expect(fromA.length + fromB.length).toBe(40);
    expect(runsPerJob(a)).toEqual(jobs.map(() => 1));
    await completeAll(a);

    // One after the other, the second right after the first committed (its copy may not have heard yet).
    clock.advance(MIN);
    expect((await a.tick()).length + (await b.tick()).length).toBe(40);
    await completeAll(a);

    // The first fires and its worker finishes every run before the second looks: the
    // second must not take its stale copy's word that the jobs are due.
    const completions: Promise<CronRun>[] = [];
    a.attachWorker('quick', (run) => completions.push(a.completeRun(run.runId, { status: 'ok' })));
    clock.advance(MIN);
    expect(await a.tick()).toHaveLength(40);
    await Promise.all(completions);
    expect(await b.tick()).toEqual([]);

    await until(() => runsPerJob(b).every((n) => n === 3));
    for (const id of jobs) {
      expect(b.listRuns(id).map((r) => r.scheduledAtMs)).toEqual([T0 + 3 * MIN, T0 + 2 * MIN, T0 + MIN]);
      expect(b.get(id).nextRunAtMs).toBe(T0 + 4 * MIN);
    }
  });

  it('a pending run is claimed by exactly one replica’s worker', async () => {
    const [a, b] = await replicas();
    const job = await a.add({ name: 'manual', schedule: { kind: 'every', everyMs: MIN }, payload: ping });
    const runIds: string[] = [];
    for (let i = 0; i < 20; i++) runIds.push((await a.runNow(job.jobId)).runId);
    await until(() => runIds.every((id) => seen(b, id) === 'pending'));
    const wa = recorder();
    const wb = recorder();
    a.attachWorker('wa', wa.deliver);
    b.attachWorker('wb', wb.deliver);
    await Promise.all([a.idle(), b.idle()]);
    await until(() => runIds.every((id) => seen(a, id) === 'running' && seen(b, id) === 'running'));
    const delivered = [...wa.deliveries, ...wb.deliveries].map((d) => d.run.runId);
    expect(delivered.sort()).toEqual([...runIds].sort());
    expect(world().cronEvents().filter((e) => e.action === 'started')).toHaveLength(20);
  });

  it('a run claimed by a replica that died goes back to pending once the other saw its heartbeat unchanged for a lease, and is completed by a worker there', async () => {
    const { clock } = world();
    const [a, b] = await replicas();
    await a.start();
    await b.start();
    const job = await a.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: ping });
    const wa = recorder();
    a.attachWorker('wa', wa.deliver);
    const run = await a.runNow(job.jobId);
    expect(run.status).toBe('running');
    const wb = recorder();
    b.attachWorker('wb', wb.deliver);
    await until(() => seen(b, run.runId) === 'running');
    await b.idle();
    // a dies: no more heartbeats (its timer never fires again), no detach. b, on its timer,
    // sees a's last heartbeat (written with the claim) and counts from there.
    await b.heartbeat();
    await heartbeatsFor(b, LEASE.leaseMs, clock); // unchanged for exactly a lease: still a claim
    expect(b.listRuns(job.jobId)[0]).toMatchObject({ runId: run.runId, status: 'running' });
    expect(wb.deliveries).toEqual([]);

    clock.advance(1);
    await b.heartbeat();
    await b.idle();
    expect(wb.deliveries.map((d) => d.run.runId)).toEqual([run.runId]);
    expect(wb.deliveries[0].run).toMatchObject({ status: 'running', startedAtMs: T0 });
    expect(world().cronEvents().filter((e) => e.action === 'started').map((e) => e.workerId)).toEqual(['wa', 'wb']);

    const done = await b.completeRun(run.runId, { status: 'ok', output: 'done on b' }, 'wb');
    expect(done).toMatchObject({ status: 'ok', output: 'done on b' });
    // The first worker's late report changes nothing.
    expect((await caught(() => a.completeRun(run.runId, { status: 'error' }, 'wa'))).reason).toBe('RUN_ALREADY_FINISHED');
    await until(() => seen(a, run.runId) === 'ok');
  });

  it('completion works on any replica; only the worker holding the run, or anyone once it is pending, may complete it', async () => {
    const [a, b] = await replicas();
    const job = await a.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: ping });
    a.attachWorker('wa', recorder().deliver);
    const run = await a.runNow(job.jobId);
    await until(() => seen(b, run.runId) === 'running');
    const other = await caught(() => b.completeRun(run.runId, { status: 'ok' }, 'wb'));
    expect([other.code, other.reason]).toEqual(['FAILED_PRECONDITION', 'RUN_NOT_ASSIGNED']);
    expect(await b.completeRun(run.runId, { status: 'error', error: 'boom' }, 'wa')).toMatchObject({ status: 'error', error: 'boom' });
    // a forgets it: nothing of it is handed out or returned later.
    await until(() => seen(a, run.runId) === 'error');
    await a.heartbeat();
    expect(a.listRuns(job.jobId)[0].status).toBe('error');
  });

  it('a replica taken for dead while its worker is still on the run claims it back at its next heartbeat, without a second delivery', async () => {
    const { clock } = world();
    const [a, b] = await replicas();
    const job = await a.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: ping });
    const wa = recorder();
    a.attachWorker('wa', wa.deliver);
    const run = await a.runNow(job.jobId);
    await until(() => seen(b, run.runId) === 'running');
    // a stalls (its heartbeats stop for longer than a lease) while b goes on beating.
    await b.heartbeat();
    await heartbeatsFor(b, LEASE.leaseMs + 1, clock);
    expect(seen(b, run.runId)).toBe('pending');
    await until(() => seen(a, run.runId) === 'pending');
    await a.heartbeat();
    expect(seen(a, run.runId)).toBe('running');
    const wb = recorder();
    await until(() => seen(b, run.runId) === 'running');
    b.attachWorker('wb', wb.deliver);
    await b.idle();
    expect(wb.deliveries).toEqual([]);
    expect(wa.deliveries).toHaveLength(1);
    expect(await a.completeRun(run.runId, { status: 'ok' }, 'wa')).toMatchObject({ status: 'ok' });
  });

  it('a clean stop hands the replica’s running runs to a worker on another replica at once', async () => {
    const [a, b] = await replicas();
    const job = await a.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: ping });
    a.attachWorker('wa', recorder().deliver);
    const wb = recorder();
    b.attachWorker('wb', wb.deliver);
    const run = await a.runNow(job.jobId);
    expect(run.status).toBe('running');
    await a.stop();
    await until(() => wb.deliveries.length === 1);
    expect(wb.deliveries[0].run.runId).toBe(run.runId);
  });

  it(kind === 'files' ? 'on one machine, a replica whose process is gone is dead at once' : 'a replica whose process is gone keeps its claims until its lease ends (other machines’ processes cannot be looked at)', async () => {
    const { clock } = world();
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    const a = await world().make({ options: { lease: LEASE }, pid: gone });
    const b = await world().make({ options: { lease: LEASE } });
    const job = await a.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: ping });
    a.attachWorker('wa', recorder().deliver);
    const run = await a.runNow(job.jobId);
    const wb = recorder();
    b.attachWorker('wb', wb.deliver);
    await until(() => seen(b, run.runId) === 'running');
    await b.heartbeat();
    await b.idle();
    if (kind === 'files') {
      expect(wb.deliveries.map((d) => d.run.runId)).toEqual([run.runId]);
    } else {
      expect(wb.deliveries).toEqual([]);
      await heartbeatsFor(b, LEASE.leaseMs + 1, clock);
      await b.idle();
      expect(wb.deliveries.map((d) => d.run.runId)).toEqual([run.runId]);
    }
  });

  it('runs created on one replica for a job another replica removed meanwhile are cleaned up', async () => {
    const [a, b] = await replicas();
    const job = await a.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: ping });
    await until(() => b.list().length === 1);
    const run = await b.runNow(job.jobId);
    await a.remove(job.jobId);
    await a.heartbeat();
    await until(() => b.list().length === 0);
    expect((await caught(() => b.completeRun(run.runId, { status: 'ok' }))).reason).toBe('RUN_NOT_FOUND');
    await until(() => a.status().runsPending + b.status().runsPending === 0);
  });
});
