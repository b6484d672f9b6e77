/**
 * CronService on each storage backend (files, and a real PostgreSQL server this file
 * starts), with a ManualClock and fake timers: time only moves when the test moves it,
 * and `tick()` / the fake timer fire what is due.
 */
import { Cron } from 'croner';
import { systemTimers, type CronJobInput, type CronRun } from '../../../src/services/cron/cron-service';
import { capturingLogger, caught } from '../helpers';
import { BACKENDS, HOUR, MIN, recorder, T0, until, useCronWorld } from './cron-harness';

const turn = (message = 'good morning'): CronJobInput['payload'] => ({ kind: 'agentTurn', message });
const every = (everyMs: number) => ({ kind: 'every' as const, everyMs });

describe.each(BACKENDS)('CronService on %s', (kind) => {
  const world = useCronWorld(kind);

  describe('adding jobs', () => {
    it('adds a cron-expression job with a time zone and computes its next run', async () => {
      const svc = await world().make();
      const job = await svc.add({ name: 'breakfast', schedule: { kind: 'cron', expr: '0 7 * * *', tz: 'Europe/Berlin' }, payload: turn() });
      const expected = new Cron('0 7 * * *', { timezone: 'Europe/Berlin', paused: true }).nextRun(new Date(T0))!.getTime();
      expect(job).toMatchObject({ name: 'breakfast', enabled: true, createdAtMs: T0, updatedAtMs: T0, nextRunAtMs: expected, lastRunAtMs: 0, lastStatus: '' });
      expect(new Date(job.nextRunAtMs).toISOString()).toBe('2030-01-02T06:00:00.000Z');
      expect(job.jobId).toMatch(/^job_[0-9a-f]{16}$/);
      // What callers get is the job only: nothing of how it is stored.
      expect(Object.keys(job).sort()).toEqual(['createdAtMs', 'enabled', 'jobId', 'lastRunAtMs', 'lastStatus', 'name', 'nextRunAtMs', 'payload', 'schedule', 'updatedAtMs']);
    });

    it('adds an interval job due one period from now', async () => {
      const job = await (await world().make()).add({ name: 'poll', schedule: every(5 * MIN), payload: { kind: 'systemEvent', text: 'ping' } });
      expect(job.nextRunAtMs).toBe(T0 + 5 * MIN);
      expect(job.payload).toEqual({ kind: 'systemEvent', text: 'ping' });
    });

    it('adds a one-shot job due at its time, and a disabled job with no next run', async () => {
      const svc = await world().make();
      expect((await svc.add({ name: 'once', schedule: { kind: 'at', atMs: T0 + HOUR }, payload: turn() })).nextRunAtMs).toBe(T0 + HOUR);
      expect(await svc.add({ name: 'off', schedule: every(MIN), payload: turn(), enabled: false })).toMatchObject({ enabled: false, nextRunAtMs: 0 });
    });

    it('persists jobs: a new service over the same store lists them, oldest first', async () => {
      const svc = await world().make();
      const a = await svc.add({ name: 'a', schedule: every(MIN), payload: { kind: 'agentTurn', message: 'hi', sessionKey: 'sess_1', agentId: 'main' } });
      const b = await svc.add({ name: 'b', schedule: every(MIN), payload: turn() });
      const again = await world().make();
      expect(again.list()).toEqual([a, b]);
      expect(again.get(a.jobId)).toEqual(a);
      expect(world().cronEvents()).toEqual([
        { action: 'added', jobId: a.jobId, job: a },
        { action: 'added', jobId: b.jobId, job: b },
      ]);
    });

    it.each<[string, unknown, string]>([
      ['an invalid cron expression', { kind: 'cron', expr: '61 * * * *' }, 'invalid cron expression "61 * * * *"'],
      ['garbage as a cron expression', { kind: 'cron', expr: 'every morning' }, 'invalid cron expression "every morning"'],
      ['an unknown time zone', { kind: 'cron', expr: '0 7 * * *', tz: 'Mars/Olympus' }, 'Mars/Olympus'],
      ['an expression that never fires', { kind: 'cron', expr: '0 0 30 2 *' }, 'never fires'],
      ['an empty expression', { kind: 'cron', expr: ' ' }, 'cron expression is required'],
      ['an interval under a second', { kind: 'every', everyMs: 999 }, 'everyMs must be at least 1000'],
      ['a fractional interval', { kind: 'every', everyMs: 1500.5 }, 'everyMs must be an integer'],
      ['a negative one-shot time', { kind: 'at', atMs: -5 }, 'atMs must be a positive integer'],
      ['an unknown kind', { kind: 'sometimes' }, 'kind must be'],
      ['no schedule', undefined, 'required'],
    ])('refuses %s with INVALID_SCHEDULE and stores nothing', async (_name, schedule, hint) => {
      const svc = await world().make();
      const err = await caught(() => svc.add({ name: 'x', schedule: schedule as CronJobInput['schedule'], payload: turn() }));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.reason).toBe('INVALID_SCHEDULE');
      expect(err.message).toContain(hint);
      expect(svc.list()).toEqual([]);
      expect((await world().make()).list()).toEqual([]);
      expect(world().events.events).toEqual([]);
    });

    it('refuses a missing name and bad payloads, naming the field', async () => {
      const svc = await world().make();
      const noName = await caught(() => svc.add({ name: '  ', schedule: every(MIN), payload: turn() }));
      expect([noName.reason, noName.message]).toEqual(['INVALID_JOB', 'name: required']);
      const noMessage = await caught(() => svc.add({ name: 'x', schedule: every(MIN), payload: { kind: 'agentTurn', message: '' } }));
      expect([noMessage.reason, noMessage.message]).toEqual(['INVALID_PAYLOAD', 'payload: message is required']);
      const badKind = await caught(() => svc.add({ name: 'x', schedule: every(MIN), payload: { kind: 'shell', cmd: 'rm' } as never }));
      expect(badKind.reason).toBe('INVALID_PAYLOAD');
      const noText = await caught(() => svc.add({ name: 'x', schedule: every(MIN), payload: { kind: 'systemEvent' } as never }));
      expect(noText.message).toBe('payload: text is required');
      const badRef = await caught(() => svc.add({ name: 'x', schedule: every(MIN), payload: { kind: 'agentTurn', message: 'm', agentId: 7 } as never }));
      expect(badRef.message).toContain('agentId');
      const badEnabled = await caught(() => svc.add({ name: 'x', schedule: every(MIN), payload: turn(), enabled: 'yes' as never }));
      expect([badEnabled.reason, badEnabled.message]).toEqual(['INVALID_JOB', 'enabled: must be a boolean']);
      expect((await caught(() => svc.add(undefined as never))).reason).toBe('INVALID_JOB');
      expect(svc.list()).toEqual([]);
    });

    it('allows shorter intervals when a test option lowers the minimum', async () => {
      const svc = await world().make({ options: { minEveryMs: 10 } });
      expect((await svc.add({ name: 'fast', schedule: every(10), payload: turn() })).nextRunAtMs).toBe(T0 + 10);
    });
  });

  describe('dispatch to workers', () => {
    it('delivers a due run to an attached worker and records its completion with duration', async () => {
      const { clock } = world();
      const svc = await world().make();
      const w = recorder();
      svc.attachWorker('worker-1', w.deliver);
      const job = await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      expect(await svc.tick()).toEqual([]);
      expect(w.deliveries).toEqual([]);

      clock.advance(MIN);
      const [created] = await svc.tick();
      expect(created).toMatchObject({ jobId: job.jobId, status: 'running', trigger: 'schedule', scheduledAtMs: T0 + MIN, startedAtMs: T0 + MIN });
      expect(w.deliveries).toHaveLength(1);
      expect(w.deliveries[0].run).toMatchObject({ runId: created.runId, status: 'running' });
      expect(Object.keys(w.deliveries[0].run)).not.toContain('workerId');
      expect(w.deliveries[0].job).toMatchObject({ jobId: job.jobId, payload: turn(), nextRunAtMs: T0 + 2 * MIN });

      clock.advance(1500);
      const done = await svc.completeRun(created.runId, { status: 'ok', sessionId: 'sess_abc', output: 'Echo: good morning (2 words)' });
      expect(done).toMatchObject({ status: 'ok', finishedAtMs: T0 + MIN + 1500, durationMs: 1500, sessionId: 'sess_abc', error: '' });
      expect(svc.get(job.jobId)).toMatchObject({ lastStatus: 'ok', lastRunAtMs: T0 + MIN });
      expect(svc.listRuns(job.jobId)).toEqual([done]);
      expect((await world().make()).listRuns()).toEqual([done]);
      const events = world().cronEvents();
      expect(events.map((e) => e.action)).toEqual(['added', 'started', 'finished']);
      expect(events[1]).toMatchObject({ jobId: job.jobId, runId: created.runId, status: 'running', workerId: 'worker-1', trigger: 'schedule' });
      expect(events[2]).toMatchObject({ jobId: job.jobId, runId: created.runId, status: 'ok', durationMs: 1500, sessionId: 'sess_abc' });
    });

    it('keeps runs pending while no worker is attached and delivers them on attach', async () => {
      const { clock } = world();
      const svc = await world().make();
      const job = await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      clock.advance(MIN);
      const [run] = await svc.tick();
      expect(run.status).toBe('pending');
      expect(svc.status()).toEqual({ jobs: 1, enabled: 1, nextRunAtMs: T0 + 2 * MIN, runsPending: 1, workerConnected: false });

      clock.advance(5000);
      const w = recorder();
      svc.attachWorker('late', w.deliver);
      await svc.idle();
      expect(w.deliveries.map((d) => d.run.runId)).toEqual([run.runId]);
      expect(w.deliveries[0].run).toMatchObject({ status: 'running', startedAtMs: T0 + MIN + 5000, scheduledAtMs: T0 + MIN });
      expect(svc.status()).toMatchObject({ runsPending: 0, workerConnected: true });
      expect(svc.listRuns(job.jobId)[0].status).toBe('running');
    });

    it('skips a period while the previous scheduled run is still waiting (no backlog)', async () => {
      const { clock } = world();
      const svc = await world().make();
      const job = await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      clock.advance(MIN);
      expect(await svc.tick()).toHaveLength(1);
      clock.advance(MIN);
      expect(await svc.tick()).toHaveLength(0);
      expect(svc.get(job.jobId).nextRunAtMs).toBe(T0 + 3 * MIN);
      expect(svc.status().runsPending).toBe(1);
      // A manual run does not count as the scheduled one.
      await svc.runNow(job.jobId);
      const [finished] = svc.listRuns(job.jobId).filter((r) => r.trigger === 'schedule');
      await svc.completeRun(finished.runId, { status: 'ok' });
      clock.advance(MIN);
      expect(await svc.tick()).toHaveLength(1);
    });

    it('returns a run to pending when its worker detaches, and redelivers it to the next worker', async () => {
      const { clock } = world();
      const svc = await world().make();
      await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      const a = recorder();
      const detachA = svc.attachWorker('a', a.deliver);
      clock.advance(MIN);
      const [run] = await svc.tick();
      expect(a.deliveries).toHaveLength(1);
      await detachA();
      await detachA(); // twice is harmless
      expect(svc.listRuns()[0]).toMatchObject({ runId: run.runId, status: 'pending' });
      expect(svc.status()).toMatchObject({ runsPending: 1, workerConnected: false });

      const b = recorder();
      svc.attachWorker('b', b.deliver);
      await svc.idle();
      expect(b.deliveries.map((d) => d.run.runId)).toEqual([run.runId]);
      // startedAtMs keeps the first delivery, so the duration covers the whole attempt.
      expect(b.deliveries[0].run.startedAtMs).toBe(T0 + MIN);
    });

    it('hands a detached worker’s runs straight to another attached worker', async () => {
      const { clock } = world();
      const svc = await world().make();
      await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      const a = recorder();
      const b = recorder();
      const detachA = svc.attachWorker('a', a.deliver);
      clock.advance(MIN);
      await svc.tick();
      svc.attachWorker('b', b.deliver);
      await svc.idle();
      expect(b.deliveries).toHaveLength(0);
      await detachA();
      expect(b.deliveries).toHaveLength(1);
    });

    it('replaces a worker that attaches again under the same id', async () => {
      const { clock } = world();
      const svc = await world().make();
      await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      const first = recorder();
      const detachFirst = svc.attachWorker('w', first.deliver);
      clock.advance(MIN);
      await svc.tick();
      const second = recorder();
      svc.attachWorker('w', second.deliver);
      await svc.idle();
      expect(second.deliveries).toHaveLength(1);
      await detachFirst(); // the stale registration must not detach the new one
      expect(svc.status().workerConnected).toBe(true);
      expect(svc.listRuns()[0].status).toBe('running');
    });

    it('spreads runs over workers by load', async () => {
      const { clock } = world();
      const svc = await world().make();
      const ids: string[] = [];
      for (const n of ['a', 'b', 'c', 'd']) ids.push((await svc.add({ name: n, schedule: every(MIN), payload: turn() })).jobId);
      clock.advance(MIN);
      await svc.tick();
      const w1 = recorder();
      const w2 = recorder();
      svc.attachWorker('w1', w1.deliver);
      await svc.idle();
      expect(w1.deliveries).toHaveLength(4);
      for (const d of w1.deliveries.slice(0, 2)) await svc.completeRun(d.run.runId, { status: 'ok' });
      svc.attachWorker('w2', w2.deliver);
      await svc.idle();
      clock.advance(MIN);
      await svc.tick();
      expect(w1.deliveries.length + w2.deliveries.length).toBe(6);
      expect(w2.deliveries).toHaveLength(2);
      expect(new Set([...w1.deliveries, ...w2.deliveries].map((d) => d.run.jobId))).toEqual(new Set(ids));
    });

    it('detaches a worker whose deliver throws and keeps the run pending', async () => {
      const { clock } = world();
      const svc = await world().make();
      await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      svc.attachWorker('broken', () => {
        throw new Error('stream closed');
      });
      clock.advance(MIN);
      await svc.tick();
      await svc.idle();
      expect(svc.status()).toMatchObject({ runsPending: 1, workerConnected: false });
      expect(world().cronEvents().filter((e) => e.action === 'started')).toHaveLength(1);
    });

    it('copes with a worker that completes the run from inside deliver', async () => {
      const { clock } = world();
      const svc = await world().make();
      const job = await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      const completions: Promise<CronRun>[] = [];
      svc.attachWorker('inline', (run) => completions.push(svc.completeRun(run.runId, { status: 'error', error: 'agent failed' })));
      clock.advance(MIN);
      await svc.tick();
      await Promise.all(completions);
      expect(svc.listRuns(job.jobId)[0]).toMatchObject({ status: 'error', error: 'agent failed', durationMs: 0 });
      expect(svc.get(job.jobId).lastStatus).toBe('error');
    });

    it('refuses bad completions', async () => {
      const svc = await world().make();
      const job = await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      const a = recorder();
      svc.attachWorker('a', a.deliver);
      const run = await svc.runNow(job.jobId);
      expect(run.status).toBe('running');
      expect((await caught(() => svc.completeRun('crun_nope', { status: 'ok' }))).reason).toBe('RUN_NOT_FOUND');
      expect((await caught(() => svc.completeRun(run.runId, { status: 'done' as never }))).reason).toBe('INVALID_RUN_STATUS');
      expect((await caught(() => svc.completeRun(run.runId, undefined as never))).reason).toBe('INVALID_RUN_STATUS');
      const other = await caught(() => svc.completeRun(run.runId, { status: 'ok' }, 'b'));
      expect([other.code, other.reason]).toEqual(['FAILED_PRECONDITION', 'RUN_NOT_ASSIGNED']);
      expect(svc.listRuns(job.jobId)[0].status).toBe('running');
      await svc.completeRun(run.runId, { status: 'ok' }, 'a');
      const twice = await caught(() => svc.completeRun(run.runId, { status: 'error' }));
      expect([twice.code, twice.reason]).toEqual(['FAILED_PRECONDITION', 'RUN_ALREADY_FINISHED']);
      expect(svc.listRuns(job.jobId)[0].status).toBe('ok');
    });

    it('accepts the late result of a run whose worker went away, instead of running it twice', async () => {
      const { clock } = world();
      const svc = await world().make();
      const job = await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      const detach = svc.attachWorker('a', recorder().deliver);
      const run = await svc.runNow(job.jobId);
      await detach();
      expect(svc.listRuns()[0].status).toBe('pending');
      clock.advance(2000);
      expect(await svc.completeRun(run.runId, { status: 'ok', output: 'x'.repeat(20_000) }, 'someone-else')).toMatchObject({ status: 'ok', durationMs: 2000 });
      expect(svc.listRuns()[0].output).toHaveLength(16 * 1024);
      const late = recorder();
      svc.attachWorker('b', late.deliver);
      await svc.idle();
      expect(late.deliveries).toEqual([]);
    });

    it('runs a job manually, even when disabled, without moving its schedule', async () => {
      const svc = await world().make();
      const job = await svc.add({ name: 'off', schedule: every(MIN), payload: turn(), enabled: false });
      const run = await svc.runNow(job.jobId);
      expect(run).toMatchObject({ trigger: 'manual', status: 'pending', scheduledAtMs: T0 });
      expect(svc.get(job.jobId).nextRunAtMs).toBe(0);
      const w = recorder();
      svc.attachWorker('w', w.deliver);
      await svc.idle();
      expect(w.deliveries[0].run).toMatchObject({ runId: run.runId, trigger: 'manual' });
      expect((await svc.runNow(job.jobId)).status).toBe('running');
    });

    it('keeps only the newest finished runs per job, and never a pending one', async () => {
      const { clock } = world();
      const svc = await world().make({ options: { maxRunsPerJob: 3 } });
      const job = await svc.add({ name: 'x', schedule: every(MIN), payload: turn() });
      const pending = await svc.runNow(job.jobId);
      const completions: Promise<CronRun>[] = [];
      svc.attachWorker('w', (run) => {
        if (run.runId !== pending.runId) completions.push(svc.completeRun(run.runId, { status: 'ok' }));
      });
      await svc.idle();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        clock.advance(1);
        ids.push((await svc.runNow(job.jobId)).runId);
        await Promise.all(completions);
      }
      expect(svc.listRuns(job.jobId).map((r) => r.runId)).toEqual([...ids.slice(2).reverse(), pending.runId]);
      expect(svc.listRuns(job.jobId, 1).map((r) => r.runId)).toEqual([ids[4]]);
      // The same on a fresh copy of the store: pruned runs are deleted, not only hidden.
      expect((await world().make()).listRuns(job.jobId)).toHaveLength(4);
    });

    it('refuses bad run listings and unknown jobs', async () => {
      const svc = await world().make();
      expect((await caught(() => svc.listRuns('job_nope'))).reason).toBe('JOB_NOT_FOUND');
      expect((await caught(() => svc.listRuns(undefined, -1))).reason).toBe('INVALID_LIMIT');
      expect((await caught(() => svc.listRuns(undefined, 1.5))).reason).toBe('INVALID_LIMIT');
      expect((await caught(() => svc.runNow('job_nope'))).reason).toBe('JOB_NOT_FOUND');
      expect((await caught(() => svc.attachWorker('', () => undefined))).reason).toBe('INVALID_WORKER');
    });
  });

  describe('restart', () => {
    it('fires a one-shot missed while the gateway was down exactly once, then disables it', async () => {
      const { clock } = world();
      const job = await (await world().make()).add({ name: 'reminder', schedule: { kind: 'at', atMs: T0 + HOUR }, payload: turn('dentist') });
      clock.advance(5 * HOUR); // gateway down

      const after = await world().make();
      await after.start();
      await after.tick();
      await after.stop();
      const again = await world().make();
      await again.start();
      await again.tick();
      clock.advance(HOUR);
      await again.tick();

      const runs = again.listRuns(job.jobId);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ scheduledAtMs: T0 + HOUR, status: 'pending', trigger: 'schedule' });
      expect(again.get(job.jobId)).toMatchObject({ enabled: false, nextRunAtMs: 0 });
      expect(world().cronEvents().filter((e) => e.action === 'updated')).toHaveLength(1);
    });

    it('fires an interval job that missed many periods once, then resumes on its period', async () => {
      const { clock } = world();
      const job = await (await world().make()).add({ name: 'poll', schedule: every(10 * MIN), payload: turn() });
      clock.advance(10 * HOUR + 3 * MIN); // sixty periods missed

      const svc = await world().make();
      const w = recorder();
      const completions: Promise<CronRun>[] = [];
      svc.attachWorker('w', (run, j) => {
        w.deliver(run, j);
        completions.push(svc.completeRun(run.runId, { status: 'ok' }));
      });
      await svc.start();
      await Promise.all(completions);
      expect(w.deliveries).toHaveLength(1);
      expect(w.deliveries[0].run.scheduledAtMs).toBe(T0 + 10 * MIN);
      // Back on its grid: created at T0, every 10 minutes.
      expect(svc.get(job.jobId).nextRunAtMs).toBe(T0 + 10 * HOUR + 10 * MIN);
      await svc.tick();
      expect(w.deliveries).toHaveLength(1);
      clock.set(T0 + 10 * HOUR + 10 * MIN);
      await svc.tick();
      expect(w.deliveries).toHaveLength(2);
      expect(svc.get(job.jobId).nextRunAtMs).toBe(T0 + 10 * HOUR + 20 * MIN);
    });

    it('a run left running by a previous process (same pid: only its heartbeat tells) is pending again once the new one saw that heartbeat unchanged for a lease', async () => {
      const { clock } = world();
      const lease = { heartbeatMs: 1000, leaseMs: 3000 };
      const before = await world().make({ options: { lease } });
      const job = await before.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      before.attachWorker('old', recorder().deliver);
      const running = await before.runNow(job.jobId);
      expect(running.status).toBe('running');
      // the process dies here: no detach, no completion, no more heartbeats

      clock.advance(50_000); // however long ago by the wall clock: the new process has seen nothing yet
      const after = await world().make({ options: { lease } });
      await after.start();
      for (let i = 0; i < 3; i++) {
        clock.advance(lease.heartbeatMs);
        await after.heartbeat();
      }
      // Unchanged for exactly a lease of the new process's heartbeats: still a claim.
      expect(after.listRuns(job.jobId)[0]).toMatchObject({ runId: running.runId, status: 'running' });
      clock.advance(1);
      await after.heartbeat();
      expect(after.listRuns(job.jobId)[0]).toMatchObject({ runId: running.runId, status: 'pending' });
      const w = recorder();
      after.attachWorker('new', w.deliver);
      await after.idle();
      expect(w.deliveries.map((d) => d.run.runId)).toEqual([running.runId]);
    });

    it('a clean stop hands this gateway’s running runs back at once', async () => {
      const before = await world().make();
      const job = await before.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      before.attachWorker('old', recorder().deliver);
      const run = await before.runNow(job.jobId);
      await before.stop();
      const after = await world().make();
      expect(after.listRuns(job.jobId)[0]).toMatchObject({ runId: run.runId, status: 'pending' });
    });
    it('a start on a store that fails rejects and leaves no timer; a stop on one still stops, and says so', async () => {
      const { timers } = world();
      const backend = await world().openBackend();
      const { logger, lines } = capturingLogger();
      const svc = await world().make({ store: backend, logger });
      await svc.add({ name: 'x', schedule: every(MIN), payload: turn() });
      await backend.close();
      expect((await caught(() => svc.start())).reason).toBe('STORE_CLOSED');
      expect(timers.armed).toEqual([]);
      await svc.stop();
      expect(lines.some((l) => l.includes("could not hand this replica's cron runs back at stop"))).toBe(true);
    });
  });

  describe('timer', () => {
    it('arms the timer for the next due job and fires it when the timer goes off', async () => {
      const { clock, timers } = world();
      const svc = await world().make();
      const w = recorder();
      svc.attachWorker('w', w.deliver);
      await svc.start();
      expect(timers.delay).toBeUndefined();
      await svc.add({ name: 'later', schedule: every(10 * MIN), payload: turn() });
      expect(timers.delay).toBe(10 * MIN);
      await svc.add({ name: 'sooner', schedule: { kind: 'at', atMs: T0 + 2 * MIN }, payload: turn() });
      expect(timers.delay).toBe(2 * MIN);

      clock.advance(2 * MIN);
      timers.fire();
      await svc.idle();
      await until(() => w.deliveries.length === 1 && timers.delay === 8 * MIN);
      expect(w.deliveries.map((d) => d.job.name)).toEqual(['sooner']);

      await svc.stop();
      expect(timers.armed).toEqual([]);
    });

    it('re-arms without firing when the timer goes off early', async () => {
      const { clock, timers } = world();
      const svc = await world().make();
      await svc.start();
      await svc.add({ name: 'x', schedule: every(10 * MIN), payload: turn() });
      clock.advance(4 * MIN);
      timers.fire();
      await until(() => timers.delay === 6 * MIN);
      expect(svc.listRuns()).toEqual([]);
    });

    it('caps a far-away timer at the setTimeout limit', async () => {
      const { timers } = world();
      const svc = await world().make();
      await svc.start();
      await svc.add({ name: 'far', schedule: { kind: 'at', atMs: T0 + 365 * 24 * HOUR }, payload: turn() });
      expect(timers.delay).toBe(2 ** 31 - 1);
    });

    it('fires nothing on its own when the scheduler is disabled, but manual runs still work', async () => {
      const { clock, timers } = world();
      const svc = await world().make({ options: { schedulerEnabled: false } });
      await svc.start();
      const job = await svc.add({ name: 'x', schedule: every(MIN), payload: turn() });
      expect(timers.of('schedule')).toEqual([]);
      clock.advance(5 * MIN);
      expect(await svc.tick()).toEqual([]);
      expect((await svc.runNow(job.jobId)).status).toBe('pending');
    });

    it('can be switched off and on at runtime; switching on fires what became due once', async () => {
      const { clock, timers } = world();
      const svc = await world().make();
      const w = recorder();
      svc.attachWorker('w', w.deliver);
      await svc.start();
      const job = await svc.add({ name: 'x', schedule: every(MIN), payload: turn() });
      svc.setSchedulerEnabled(false);
      svc.setSchedulerEnabled(false); // no change: nothing happens
      expect(timers.of('schedule')).toEqual([]);
      clock.advance(10 * MIN);
      expect(await svc.tick()).toEqual([]);
      svc.setSchedulerEnabled(true);
      await svc.idle();
      expect(w.deliveries).toHaveLength(1);
      expect(svc.get(job.jobId).nextRunAtMs).toBe(T0 + 11 * MIN);
      expect(timers.delay).toBe(MIN);
    });

    it('heartbeats on its own timer while started, and stops doing so when stopped', async () => {
      const { timers } = world();
      const svc = await world().make({ options: { lease: { heartbeatMs: 500, leaseMs: 1500 } } });
      expect(timers.of('heartbeat')).toEqual([]);
      await svc.start();
      expect(timers.of('heartbeat').map((t) => t.delayMs)).toEqual([500]);
      timers.fire('heartbeat');
      await until(() => timers.of('heartbeat').length === 1);
      await svc.stop();
      expect(timers.of('heartbeat')).toEqual([]);
    });

    it('fires through real (unref’d) timers too', async () => {
      const { clock } = world();
      const svc = await world().make({ timers: systemTimers, options: { minEveryMs: 10 } });
      await svc.add({ name: 'now', schedule: { kind: 'at', atMs: T0 }, payload: turn() });
      const delivered = new Promise<CronRun>((resolve) => svc.attachWorker('w', (run) => resolve(run)));
      await svc.start(); // due already: start() fires it
      expect((await delivered).trigger).toBe('schedule');
      const second = new Promise<CronRun>((resolve) => svc.attachWorker('w2', (run) => resolve(run)));
      const soon = await svc.add({ name: 'soon', schedule: every(10), payload: turn() });
      clock.advance(10); // the real 10 ms timer is armed; the ManualClock says the job is due when it fires
      expect((await second).jobId).toBe(soon.jobId);
      await svc.stop();
    });
  });

  describe('update and remove', () => {
    it('renames without touching the schedule, recomputes on a new schedule, and toggles enabled', async () => {
      const { clock } = world();
      const svc = await world().make();
      const job = await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      clock.advance(30_000);
      expect(await svc.update(job.jobId, { name: 'renamed' })).toMatchObject({ name: 'renamed', nextRunAtMs: T0 + MIN, updatedAtMs: T0 + 30_000 });
      expect((await svc.update(job.jobId, { schedule: every(5 * MIN) })).nextRunAtMs).toBe(T0 + 30_000 + 5 * MIN);

      expect(await svc.update(job.jobId, { enabled: false })).toMatchObject({ enabled: false, nextRunAtMs: 0 });
      clock.advance(HOUR);
      expect(await svc.tick()).toEqual([]);
      expect((await svc.update(job.jobId, { enabled: true })).nextRunAtMs).toBe(T0 + 30_000 + HOUR + 5 * MIN);
      expect((await svc.update(job.jobId, { payload: { kind: 'systemEvent', text: 'hey' } })).payload).toEqual({ kind: 'systemEvent', text: 'hey' });
      expect((await world().make()).get(job.jobId)).toMatchObject({ name: 'renamed', enabled: true, payload: { kind: 'systemEvent', text: 'hey' } });
      expect(world().cronEvents().filter((e) => e.action === 'updated')).toHaveLength(5);
    });

    it('refuses bad updates and unknown jobs, changing nothing', async () => {
      const svc = await world().make();
      const job = await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      const bad = await caught(() => svc.update(job.jobId, { schedule: { kind: 'cron', expr: 'nope' } }));
      expect(bad.reason).toBe('INVALID_SCHEDULE');
      expect((await caught(() => svc.update(job.jobId, { name: '' }))).reason).toBe('INVALID_JOB');
      expect((await caught(() => svc.update(job.jobId, { enabled: 'yes' as never }))).reason).toBe('INVALID_JOB');
      expect((await caught(() => svc.update(job.jobId, { payload: { kind: 'nope' } as never }))).reason).toBe('INVALID_PAYLOAD');
      expect((await caught(() => svc.update(job.jobId, null as never))).reason).toBe('INVALID_JOB');
      const missing = await caught(() => svc.update('job_nope', { name: 'x' }));
      expect([missing.code, missing.reason]).toEqual(['NOT_FOUND', 'JOB_NOT_FOUND']);
      expect((await caught(() => svc.get('job_nope'))).reason).toBe('JOB_NOT_FOUND');
      expect(svc.get(job.jobId)).toEqual(job);
      expect((await world().make()).get(job.jobId)).toEqual(job);
    });

    it('removes a job with its runs; a worker still holding one learns it is gone', async () => {
      const svc = await world().make();
      const job = await svc.add({ name: 'poll', schedule: every(MIN), payload: turn() });
      const keep = await svc.add({ name: 'keep', schedule: every(MIN), payload: turn() });
      svc.attachWorker('w', recorder().deliver);
      const run = await svc.runNow(job.jobId);
      expect(await svc.remove(job.jobId)).toBe(true);
      expect(await svc.remove(job.jobId)).toBe(false);
      expect(svc.list()).toEqual([keep]);
      expect(svc.listRuns()).toEqual([]);
      expect((await caught(() => svc.completeRun(run.runId, { status: 'ok' }))).reason).toBe('RUN_NOT_FOUND');
      expect(world().cronEvents().at(-1)).toEqual({ action: 'removed', jobId: job.jobId });
      const fresh = await world().make();
      expect(fresh.list()).toEqual([keep]);
      expect(fresh.listRuns()).toEqual([]);
    });

    it('fires a cron-expression job at its match and moves to the next match', async () => {
      const { clock } = world();
      const svc = await world().make();
      const job = await svc.add({ name: 'quarter', schedule: { kind: 'cron', expr: '*/15 * * * *', tz: 'UTC' }, payload: turn() });
      expect(job.nextRunAtMs).toBe(T0 + 15 * MIN);
      clock.set(T0 + 15 * MIN);
      expect(await svc.tick()).toHaveLength(1);
      expect(svc.get(job.jobId).nextRunAtMs).toBe(T0 + 30 * MIN);
    });
  });
});

