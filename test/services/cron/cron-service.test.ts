/**
 * CronService over a real state file in a temp folder, with a ManualClock and a fake
 * timer source: time only moves when the test moves it, and `tick()` / the fake
 * timer fire what is due.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cron } from 'croner';
import { ManualClock } from '../../../src/clock';
import { silentLogger } from '../../../src/logging';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import {
  CronService,
  systemTimers,
  type CronJob,
  type CronJobInput,
  type CronRun,
  type CronServiceDeps,
  type TimerSource,
} from '../../../src/services/cron/cron-service';
import { caught, makeTempDir, removeTempDir } from '../helpers';

/** Timers that only fire when the test says so. */
class FakeTimers implements TimerSource {
  armed: { fn: () => void; delayMs: number }[] = [];
  set(fn: () => void, delayMs: number): unknown {
    const t = { fn, delayMs };
    this.armed.push(t);
    return t;
  }
  clear(handle: unknown): void {
    this.armed = this.armed.filter((t) => t !== handle);
  }
  /** The one armed timer's delay (undefined if none). */
  get delay(): number | undefined {
    expect(this.armed.length).toBeLessThanOrEqual(1);
    return this.armed[0]?.delayMs;
  }
  fire(): void {
    const t = this.armed.shift();
    if (!t) throw new Error('no timer armed');
    t.fn();
  }
}

/** A worker that records what it was given. */
function recorder(): { deliveries: { run: CronRun; job: CronJob }[]; deliver: (run: CronRun, job: CronJob) => void } {
  const deliveries: { run: CronRun; job: CronJob }[] = [];
  return { deliveries, deliver: (run, job) => deliveries.push({ run, job }) };
}

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

const turn = (message = 'good morning'): CronJobInput['payload'] => ({ kind: 'agentTurn', message });

describe('CronService', () => {
  let root: string;
  let path: string;
  let clock: ManualClock;
  let events: RecordingPublisher;
  let timers: FakeTimers;
  const services: CronService[] = [];

  const make = (over: Partial<CronServiceDeps> = {}): CronService => {
    const svc = new CronService({ path, clock, events, logger: silentLogger(), timers, ...over });
    services.push(svc);
    return svc;
  };
  const cronEvents = () => events.events.filter((e) => e.type === 'cron').map((e) => e.payload as Record<string, any>);

  beforeEach(() => {
    root = makeTempDir('cron');
    path = join(root, 'state', 'cron.json');
    clock = new ManualClock(T0);
    events = new RecordingPublisher();
    timers = new FakeTimers();
  });
  afterEach(() => {
    for (const s of services.splice(0)) s.stop();
    removeTempDir(root);
  });

  describe('adding jobs', () => {
    it('adds a cron-expression job with a time zone and computes its next run', () => {
      const svc = make();
      const job = svc.add({ name: 'breakfast', schedule: { kind: 'cron', expr: '0 7 * * *', tz: 'Europe/Berlin' }, payload: turn() });
      const expected = new Cron('0 7 * * *', { timezone: 'Europe/Berlin', paused: true }).nextRun(new Date(T0))!.getTime();
      expect(job).toMatchObject({ name: 'breakfast', enabled: true, createdAtMs: T0, updatedAtMs: T0, nextRunAtMs: expected, lastRunAtMs: 0, lastStatus: '' });
      expect(new Date(job.nextRunAtMs).toISOString()).toBe('2030-01-02T06:00:00.000Z');
      expect(job.jobId).toMatch(/^job_[0-9a-f]{16}$/);
    });

    it('adds an interval job due one period from now', () => {
      const job = make().add({ name: 'poll', schedule: { kind: 'every', everyMs: 5 * MIN }, payload: { kind: 'systemEvent', text: 'ping' } });
      expect(job.nextRunAtMs).toBe(T0 + 5 * MIN);
      expect(job.payload).toEqual({ kind: 'systemEvent', text: 'ping' });
    });

    it('adds a one-shot job due at its time, and a disabled job with no next run', () => {
      const svc = make();
      expect(svc.add({ name: 'once', schedule: { kind: 'at', atMs: T0 + HOUR }, payload: turn() }).nextRunAtMs).toBe(T0 + HOUR);
      expect(svc.add({ name: 'off', schedule: { kind: 'every', everyMs: MIN }, payload: turn(), enabled: false })).toMatchObject({ enabled: false, nextRunAtMs: 0 });
    });

    it('persists jobs: a new service over the same file lists them', () => {
      const svc = make();
      const a = svc.add({ name: 'a', schedule: { kind: 'every', everyMs: MIN }, payload: { kind: 'agentTurn', message: 'hi', sessionKey: 'sess_1', agentId: 'main' } });
      expect(make().list()).toEqual([a]);
      expect(make().get(a.jobId)).toEqual(a);
      expect(cronEvents()).toEqual([{ action: 'added', jobId: a.jobId, job: a }]);
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
    ])('refuses %s with INVALID_SCHEDULE and persists nothing', async (_name, schedule, hint) => {
      const svc = make();
      const err = await caught(() => svc.add({ name: 'x', schedule: schedule as CronJobInput['schedule'], payload: turn() }));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.reason).toBe('INVALID_SCHEDULE');
      expect(err.message).toContain(hint);
      expect(svc.list()).toEqual([]);
      expect(existsSync(path)).toBe(false);
      expect(events.events).toEqual([]);
    });

    it('refuses a missing name and bad payloads, naming the field', async () => {
      const svc = make();
      const every = { kind: 'every' as const, everyMs: MIN };
      const noName = await caught(() => svc.add({ name: '  ', schedule: every, payload: turn() }));
      expect([noName.reason, noName.message]).toEqual(['INVALID_JOB', 'name: required']);
      const noMessage = await caught(() => svc.add({ name: 'x', schedule: every, payload: { kind: 'agentTurn', message: '' } }));
      expect([noMessage.reason, noMessage.message]).toEqual(['INVALID_PAYLOAD', 'payload: message is required']);
      const badKind = await caught(() => svc.add({ name: 'x', schedule: every, payload: { kind: 'shell', cmd: 'rm' } as never }));
      expect(badKind.reason).toBe('INVALID_PAYLOAD');
      const noText = await caught(() => svc.add({ name: 'x', schedule: every, payload: { kind: 'systemEvent' } as never }));
      expect(noText.message).toBe('payload: text is required');
      const badRef = await caught(() => svc.add({ name: 'x', schedule: every, payload: { kind: 'agentTurn', message: 'm', agentId: 7 } as never }));
      expect(badRef.message).toContain('agentId');
      expect(svc.list()).toEqual([]);
    });

    it('allows shorter intervals when a test option lowers the minimum', () => {
      expect(make({ options: { minEveryMs: 10 } }).add({ name: 'fast', schedule: { kind: 'every', everyMs: 10 }, payload: turn() }).nextRunAtMs).toBe(T0 + 10);
    });
  });

  describe('dispatch to workers', () => {
    it('delivers a due run to an attached worker and records its completion with duration', () => {
      const svc = make();
      const w = recorder();
      svc.attachWorker('worker-1', w.deliver);
      const job = svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      expect(svc.tick()).toEqual([]);
      expect(w.deliveries).toEqual([]);

      clock.advance(MIN);
      const [created] = svc.tick();
      expect(created).toMatchObject({ jobId: job.jobId, status: 'running', trigger: 'schedule', scheduledAtMs: T0 + MIN, startedAtMs: T0 + MIN });
      expect(w.deliveries).toHaveLength(1);
      expect(w.deliveries[0].run).toMatchObject({ runId: created.runId, status: 'running' });
      expect(w.deliveries[0].job).toMatchObject({ jobId: job.jobId, payload: turn(), nextRunAtMs: T0 + 2 * MIN });

      clock.advance(1500);
      const done = svc.completeRun(created.runId, { status: 'ok', sessionId: 'sess_abc', output: 'Echo: good morning (2 words)' });
      expect(done).toMatchObject({ status: 'ok', finishedAtMs: T0 + MIN + 1500, durationMs: 1500, sessionId: 'sess_abc', error: '' });
      expect(svc.get(job.jobId)).toMatchObject({ lastStatus: 'ok', lastRunAtMs: T0 + MIN });
      expect(svc.listRuns(job.jobId)).toEqual([done]);
      expect(make().listRuns()).toEqual([done]);
      expect(cronEvents().map((e) => e.action)).toEqual(['added', 'started', 'finished']);
      expect(cronEvents()[1]).toMatchObject({ jobId: job.jobId, runId: created.runId, status: 'running', workerId: 'worker-1', trigger: 'schedule' });
      expect(cronEvents()[2]).toMatchObject({ jobId: job.jobId, runId: created.runId, status: 'ok', durationMs: 1500, sessionId: 'sess_abc' });
    });

    it('keeps runs pending while no worker is attached and delivers them on attach', () => {
      const svc = make();
      const job = svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      clock.advance(MIN);
      const [run] = svc.tick();
      expect(run.status).toBe('pending');
      expect(svc.status()).toEqual({ jobs: 1, enabled: 1, nextRunAtMs: T0 + 2 * MIN, runsPending: 1, workerConnected: false });

      clock.advance(5000);
      const w = recorder();
      svc.attachWorker('late', w.deliver);
      expect(w.deliveries.map((d) => d.run.runId)).toEqual([run.runId]);
      expect(w.deliveries[0].run).toMatchObject({ status: 'running', startedAtMs: T0 + MIN + 5000, scheduledAtMs: T0 + MIN });
      expect(svc.status()).toMatchObject({ runsPending: 0, workerConnected: true });
      expect(svc.listRuns(job.jobId)[0].status).toBe('running');
    });

    it('skips a period while the previous scheduled run is still waiting (no backlog)', () => {
      const svc = make();
      const job = svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      clock.advance(MIN);
      expect(svc.tick()).toHaveLength(1);
      clock.advance(MIN);
      expect(svc.tick()).toHaveLength(0);
      expect(svc.get(job.jobId).nextRunAtMs).toBe(T0 + 3 * MIN);
      expect(svc.status().runsPending).toBe(1);
    });

    it('returns a run to pending when its worker detaches, and redelivers it to the next worker', () => {
      const svc = make();
      svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      const a = recorder();
      const detachA = svc.attachWorker('a', a.deliver);
      clock.advance(MIN);
      const [run] = svc.tick();
      expect(a.deliveries).toHaveLength(1);
      detachA();
      detachA(); // twice is harmless
      expect(svc.listRuns()[0]).toMatchObject({ runId: run.runId, status: 'pending' });
      expect(svc.status()).toMatchObject({ runsPending: 1, workerConnected: false });

      const b = recorder();
      svc.attachWorker('b', b.deliver);
      expect(b.deliveries.map((d) => d.run.runId)).toEqual([run.runId]);
      // startedAtMs keeps the first delivery, so the duration covers the whole attempt.
      expect(b.deliveries[0].run.startedAtMs).toBe(T0 + MIN);
    });

    it('hands a detached worker’s runs straight to another attached worker', () => {
      const svc = make();
      svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      const a = recorder();
      const b = recorder();
      const detachA = svc.attachWorker('a', a.deliver);
      clock.advance(MIN);
      svc.tick();
      svc.attachWorker('b', b.deliver);
      expect(b.deliveries).toHaveLength(0);
      detachA();
      expect(b.deliveries).toHaveLength(1);
    });

    it('replaces a worker that attaches again under the same id', () => {
      const svc = make();
      svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      const first = recorder();
      const detachFirst = svc.attachWorker('w', first.deliver);
      clock.advance(MIN);
      svc.tick();
      const second = recorder();
      svc.attachWorker('w', second.deliver);
      expect(second.deliveries).toHaveLength(1);
      detachFirst(); // the stale registration must not detach the new one
      expect(svc.status().workerConnected).toBe(true);
    });

    it('spreads runs over workers by load', () => {
      const svc = make();
      const ids = ['a', 'b', 'c', 'd'].map((n) => svc.add({ name: n, schedule: { kind: 'every', everyMs: MIN }, payload: turn() }).jobId);
      clock.advance(MIN);
      svc.tick();
      const w1 = recorder();
      const w2 = recorder();
      svc.attachWorker('w1', w1.deliver);
      expect(w1.deliveries).toHaveLength(4);
      for (const d of w1.deliveries.slice(0, 2)) svc.completeRun(d.run.runId, { status: 'ok' });
      svc.attachWorker('w2', w2.deliver);
      clock.advance(MIN);
      svc.tick();
      expect(w1.deliveries.length + w2.deliveries.length).toBe(6);
      expect(w2.deliveries).toHaveLength(2);
      expect(new Set([...w1.deliveries, ...w2.deliveries].map((d) => d.run.jobId))).toEqual(new Set(ids));
    });

    it('detaches a worker whose deliver throws and keeps the run pending', () => {
      const svc = make();
      svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      svc.attachWorker('broken', () => {
        throw new Error('stream closed');
      });
      clock.advance(MIN);
      svc.tick();
      expect(svc.status()).toMatchObject({ runsPending: 1, workerConnected: false });
    });

    it('copes with a worker that completes the run from inside deliver', () => {
      const svc = make();
      const job = svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      svc.attachWorker('inline', (run) => svc.completeRun(run.runId, { status: 'error', error: 'agent failed' }));
      clock.advance(MIN);
      svc.tick();
      expect(svc.listRuns(job.jobId)[0]).toMatchObject({ status: 'error', error: 'agent failed', durationMs: 0 });
      expect(svc.get(job.jobId).lastStatus).toBe('error');
    });

    it('refuses bad completions', async () => {
      const svc = make();
      const job = svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      const a = recorder();
      svc.attachWorker('a', a.deliver);
      const run = svc.runNow(job.jobId);
      expect((await caught(() => svc.completeRun('crun_nope', { status: 'ok' }))).reason).toBe('RUN_NOT_FOUND');
      expect((await caught(() => svc.completeRun(run.runId, { status: 'done' as never }))).reason).toBe('INVALID_RUN_STATUS');
      const other = await caught(() => svc.completeRun(run.runId, { status: 'ok' }, 'b'));
      expect([other.code, other.reason]).toEqual(['FAILED_PRECONDITION', 'RUN_NOT_ASSIGNED']);
      svc.completeRun(run.runId, { status: 'ok' }, 'a');
      const twice = await caught(() => svc.completeRun(run.runId, { status: 'error' }));
      expect([twice.code, twice.reason]).toEqual(['FAILED_PRECONDITION', 'RUN_ALREADY_FINISHED']);
      expect(svc.listRuns(job.jobId)[0].status).toBe('ok');
    });

    it('accepts the late result of a run whose worker went away, instead of running it twice', () => {
      const svc = make();
      const job = svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      const detach = svc.attachWorker('a', recorder().deliver);
      const run = svc.runNow(job.jobId);
      detach();
      clock.advance(2000);
      expect(svc.completeRun(run.runId, { status: 'ok', output: 'x'.repeat(20_000) })).toMatchObject({ status: 'ok', durationMs: 2000 });
      expect(svc.listRuns()[0].output).toHaveLength(16 * 1024);
      const late = recorder();
      svc.attachWorker('b', late.deliver);
      expect(late.deliveries).toEqual([]);
    });

    it('runs a job manually, even when disabled, without moving its schedule', () => {
      const svc = make();
      const job = svc.add({ name: 'off', schedule: { kind: 'every', everyMs: MIN }, payload: turn(), enabled: false });
      const run = svc.runNow(job.jobId);
      expect(run).toMatchObject({ trigger: 'manual', status: 'pending', scheduledAtMs: T0 });
      expect(svc.get(job.jobId).nextRunAtMs).toBe(0);
      const w = recorder();
      svc.attachWorker('w', w.deliver);
      expect(w.deliveries[0].run).toMatchObject({ runId: run.runId, trigger: 'manual' });
      expect(svc.runNow(job.jobId).status).toBe('running');
    });

    it('keeps only the newest finished runs per job', () => {
      const svc = make({ options: { maxRunsPerJob: 3 } });
      const job = svc.add({ name: 'x', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      svc.attachWorker('w', (run) => svc.completeRun(run.runId, { status: 'ok' }));
      const ids = Array.from({ length: 5 }, () => {
        clock.advance(1);
        return svc.runNow(job.jobId).runId;
      });
      expect(svc.listRuns(job.jobId).map((r) => r.runId)).toEqual(ids.slice(2).reverse());
      expect(svc.listRuns(job.jobId, 1).map((r) => r.runId)).toEqual([ids[4]]);
    });

    it('refuses bad run listings', async () => {
      const svc = make();
      expect((await caught(() => svc.listRuns('job_nope'))).reason).toBe('JOB_NOT_FOUND');
      expect((await caught(() => svc.listRuns(undefined, -1))).reason).toBe('INVALID_LIMIT');
      expect((await caught(() => svc.runNow('job_nope'))).reason).toBe('JOB_NOT_FOUND');
      expect((await caught(() => svc.attachWorker('', () => undefined))).reason).toBe('INVALID_WORKER');
    });
  });

  describe('restart', () => {
    it('fires a one-shot missed while the gateway was down exactly once, then disables it', () => {
      const job = make().add({ name: 'reminder', schedule: { kind: 'at', atMs: T0 + HOUR }, payload: turn('dentist') });
      clock.advance(5 * HOUR); // gateway down

      const after = make();
      after.start();
      after.tick();
      after.stop();
      const again = make();
      again.start();
      again.tick();
      clock.advance(HOUR);
      again.tick();

      const runs = again.listRuns(job.jobId);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ scheduledAtMs: T0 + HOUR, status: 'pending', trigger: 'schedule' });
      expect(again.get(job.jobId)).toMatchObject({ enabled: false, nextRunAtMs: 0 });
      expect(cronEvents().filter((e) => e.action === 'updated')).toHaveLength(1);
    });

    it('fires an interval job that missed many periods once, then resumes on its period', () => {
      const job = make().add({ name: 'poll', schedule: { kind: 'every', everyMs: 10 * MIN }, payload: turn() });
      clock.advance(10 * HOUR + 3 * MIN); // sixty periods missed

      const svc = make();
      const w = recorder();
      svc.attachWorker('w', (run, j) => {
        w.deliver(run, j);
        svc.completeRun(run.runId, { status: 'ok' });
      });
      svc.start();
      expect(w.deliveries).toHaveLength(1);
      expect(w.deliveries[0].run.scheduledAtMs).toBe(T0 + 10 * MIN);
      // Back on its grid: created at T0, every 10 minutes.
      expect(svc.get(job.jobId).nextRunAtMs).toBe(T0 + 10 * HOUR + 10 * MIN);
      svc.tick();
      expect(w.deliveries).toHaveLength(1);
      clock.set(T0 + 10 * HOUR + 10 * MIN);
      svc.tick();
      expect(w.deliveries).toHaveLength(2);
      expect(svc.get(job.jobId).nextRunAtMs).toBe(T0 + 10 * HOUR + 20 * MIN);
    });

    it('makes runs that were pending or running before the restart pending again and delivers them', () => {
      const before = make();
      const job = before.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      before.attachWorker('old', recorder().deliver);
      const running = before.runNow(job.jobId);
      expect(running.status).toBe('running');
      // the process dies here: no detach, no completion

      const after = make();
      after.start();
      expect(after.listRuns(job.jobId)[0]).toMatchObject({ runId: running.runId, status: 'pending' });
      const w = recorder();
      after.attachWorker('new', w.deliver);
      expect(w.deliveries.map((d) => d.run.runId)).toEqual([running.runId]);
    });
  });

  describe('timer', () => {
    it('arms the timer for the next due job and fires it when the timer goes off', () => {
      const svc = make();
      const w = recorder();
      svc.attachWorker('w', w.deliver);
      svc.start();
      expect(timers.delay).toBeUndefined();
      svc.add({ name: 'later', schedule: { kind: 'every', everyMs: 10 * MIN }, payload: turn() });
      expect(timers.delay).toBe(10 * MIN);
      svc.add({ name: 'sooner', schedule: { kind: 'at', atMs: T0 + 2 * MIN }, payload: turn() });
      expect(timers.delay).toBe(2 * MIN);

      clock.advance(2 * MIN);
      timers.fire();
      expect(w.deliveries.map((d) => d.job.name)).toEqual(['sooner']);
      expect(timers.delay).toBe(8 * MIN);

      svc.stop();
      expect(timers.armed).toEqual([]);
    });

    it('re-arms without firing when the timer goes off early', () => {
      const svc = make();
      svc.start();
      svc.add({ name: 'x', schedule: { kind: 'every', everyMs: 10 * MIN }, payload: turn() });
      clock.advance(4 * MIN);
      timers.fire();
      expect(svc.listRuns()).toEqual([]);
      expect(timers.delay).toBe(6 * MIN);
    });

    it('caps a far-away timer at the setTimeout limit', () => {
      const svc = make();
      svc.start();
      svc.add({ name: 'far', schedule: { kind: 'at', atMs: T0 + 365 * 24 * HOUR }, payload: turn() });
      expect(timers.delay).toBe(2 ** 31 - 1);
    });

    it('fires nothing on its own when the scheduler is disabled, but manual runs still work', () => {
      const svc = make({ options: { schedulerEnabled: false } });
      svc.start();
      const job = svc.add({ name: 'x', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      expect(timers.armed).toEqual([]);
      clock.advance(5 * MIN);
      expect(svc.tick()).toEqual([]);
      expect(svc.runNow(job.jobId).status).toBe('pending');
    });

    it('can be switched off and on at runtime; switching on fires what became due once', () => {
      const svc = make();
      const w = recorder();
      svc.attachWorker('w', w.deliver);
      svc.start();
      const job = svc.add({ name: 'x', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      svc.setSchedulerEnabled(false);
      expect(timers.armed).toEqual([]);
      clock.advance(10 * MIN);
      expect(svc.tick()).toEqual([]);
      svc.setSchedulerEnabled(true);
      expect(w.deliveries).toHaveLength(1);
      expect(svc.get(job.jobId).nextRunAtMs).toBe(T0 + 11 * MIN);
      expect(timers.delay).toBe(MIN);
    });

    it('fires through real (unref’d) timers too', async () => {
      const svc = make({ timers: systemTimers, options: { minEveryMs: 10 } });
      svc.add({ name: 'now', schedule: { kind: 'at', atMs: T0 }, payload: turn() });
      const delivered = new Promise<CronRun>((resolve) => svc.attachWorker('w', (run) => resolve(run)));
      svc.start(); // due already: start() fires it
      expect((await delivered).trigger).toBe('schedule');
      const soon = svc.add({ name: 'soon', schedule: { kind: 'every', everyMs: 10 }, payload: turn() });
      const second = new Promise<CronRun>((resolve) => svc.attachWorker('w2', (run) => resolve(run)));
      clock.advance(10); // the real 10 ms timer is armed; the ManualClock says the job is due when it fires
      expect((await second).jobId).toBe(soon.jobId);
      svc.stop();
    });
  });

  describe('update and remove', () => {
    it('renames without touching the schedule, recomputes on a new schedule, and toggles enabled', () => {
      const svc = make();
      const job = svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      clock.advance(30_000);
      expect(svc.update(job.jobId, { name: 'renamed' })).toMatchObject({ name: 'renamed', nextRunAtMs: T0 + MIN, updatedAtMs: T0 + 30_000 });
      expect(svc.update(job.jobId, { schedule: { kind: 'every', everyMs: 5 * MIN } }).nextRunAtMs).toBe(T0 + 30_000 + 5 * MIN);

      expect(svc.update(job.jobId, { enabled: false })).toMatchObject({ enabled: false, nextRunAtMs: 0 });
      clock.advance(HOUR);
      expect(svc.tick()).toEqual([]);
      expect(svc.update(job.jobId, { enabled: true }).nextRunAtMs).toBe(T0 + 30_000 + HOUR + 5 * MIN);
      expect(svc.update(job.jobId, { payload: { kind: 'systemEvent', text: 'hey' } }).payload).toEqual({ kind: 'systemEvent', text: 'hey' });
      expect(make().get(job.jobId)).toMatchObject({ name: 'renamed', enabled: true, payload: { kind: 'systemEvent', text: 'hey' } });
      expect(cronEvents().filter((e) => e.action === 'updated')).toHaveLength(5);
    });

    it('refuses bad updates and unknown jobs, changing nothing', async () => {
      const svc = make();
      const job = svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      const bad = await caught(() => svc.update(job.jobId, { schedule: { kind: 'cron', expr: 'nope' } }));
      expect(bad.reason).toBe('INVALID_SCHEDULE');
      expect((await caught(() => svc.update(job.jobId, { name: '' }))).reason).toBe('INVALID_JOB');
      expect((await caught(() => svc.update(job.jobId, { enabled: 'yes' as never }))).reason).toBe('INVALID_JOB');
      const missing = await caught(() => svc.update('job_nope', { name: 'x' }));
      expect([missing.code, missing.reason]).toEqual(['NOT_FOUND', 'JOB_NOT_FOUND']);
      expect((await caught(() => svc.get('job_nope'))).reason).toBe('JOB_NOT_FOUND');
      expect(svc.get(job.jobId)).toEqual(job);
    });

    it('removes a job with its runs; a worker still holding one learns it is gone', async () => {
      const svc = make();
      const job = svc.add({ name: 'poll', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      const keep = svc.add({ name: 'keep', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
      svc.attachWorker('w', recorder().deliver);
      const run = svc.runNow(job.jobId);
      expect(svc.remove(job.jobId)).toBe(true);
      expect(svc.remove(job.jobId)).toBe(false);
      expect(svc.list()).toEqual([keep]);
      expect(svc.listRuns()).toEqual([]);
      expect((await caught(() => svc.completeRun(run.runId, { status: 'ok' }))).reason).toBe('RUN_NOT_FOUND');
      expect(cronEvents().at(-1)).toEqual({ action: 'removed', jobId: job.jobId });
      expect(JSON.parse(readFileSync(path, 'utf8')).jobs.map((j: CronJob) => j.jobId)).toEqual([keep.jobId]);
    });

    it('fires a cron-expression job at its match and moves to the next match', () => {
      const svc = make();
      const job = svc.add({ name: 'quarter', schedule: { kind: 'cron', expr: '*/15 * * * *', tz: 'UTC' }, payload: turn() });
      expect(job.nextRunAtMs).toBe(T0 + 15 * MIN);
      clock.set(T0 + 15 * MIN);
      expect(svc.tick()).toHaveLength(1);
      expect(svc.get(job.jobId).nextRunAtMs).toBe(T0 + 30 * MIN);
    });
  });

  it('refuses to start over a corrupt state file', async () => {
    const svc = make();
    svc.add({ name: 'x', schedule: { kind: 'every', everyMs: MIN }, payload: turn() });
    writeFileSync(path, '{"version":2}');
    const err = await caught(() => make().list());
    expect(err.reason).toBe('STATE_CORRUPT');
  });
});
