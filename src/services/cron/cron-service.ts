import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { monotonicClock, type Clock } from '../../clock';
import { errors } from '../../errors';
import type { Logger } from '../../logging';
import type { StoreBackend } from '../../store/collection';
import type { EventPublisher } from '../events/event-publisher';
import { parseEnabled, parseName, parsePayload } from './cron-input';
import { CronClock } from './cron-clock';
import { CronDispatcher } from './cron-dispatcher';
import { jobKey, jobOf, runOf, type JobRecord } from './cron-records';
import { checkLease, DEFAULT_LEASE, ReplicaLiveness, type LeaseOptions } from './cron-replicas';
import { CronScheduler } from './cron-scheduler';
import { CronStore, type CronTx } from './cron-store';
import type { CronDeliver, CronEvent, CronJob, CronJobInput, CronJobPatch, CronRun, CronRunResult, CronStatus } from './cron-types';
import { firstRunAt, parseSchedule } from './schedule';
import { systemTimers, type TimerSource } from './timer-source';

export type * from './cron-types';
export type { LeaseOptions } from './cron-replicas';
export { leaseFromSetting } from './cron-replicas';
export { systemTimers, type TimerSource } from './timer-source';

/** Tunables of the cron service. */
export interface CronOptions {
  /** Shortest `every` interval (default 1000 ms). */
  minEveryMs: number;
  /** Finished runs kept per job (default 50). */
  maxRunsPerJob: number;
  /** When false (config `cron.enabled: false`) nothing fires on its own; manual runs still work. */
  schedulerEnabled: boolean;
  /** Heartbeat and lease of this replica's claims (default 3 s / 9 s). */
  lease: LeaseOptions;
  /** On a store with a server clock (PostgreSQL), whether cron keeps time by it (default true; see `CronClock`). */
  databaseClock: boolean;
}

/** Default options. */
export const DEFAULT_CRON_OPTIONS: CronOptions = Object.freeze({ minEveryMs: 1000, maxRunsPerJob: 50, schedulerEnabled: true, lease: DEFAULT_LEASE, databaseClock: true });

/** What the cron service is built from. */
export interface CronServiceDeps {
  /** The gateway's store (files or PostgreSQL): jobs and runs live in its `cron` collection. */
  store: StoreBackend;
  /** A `cron.json` of an earlier release, imported once (files backend only). */
  legacyJson?: string;
  /** This machine's clock (on PostgreSQL, cron moves it onto the database server's). */
  clock: Clock;
  /** This process's monotonic clock, for how long another replica's heartbeat stayed the same (default: `monotonicClock`). */
  monotonic?: Clock;
  events: EventPublisher;
  logger: Logger;
  /** Default: real unref'd timers. */
  timers?: TimerSource;
  options?: Partial<CronOptions>;
  /** Recorded in this replica's heartbeat (default: this machine's name and this process's id). */
  host?: string;
  pid?: number;
}

const DEFAULT_RUNS_LIMIT = 50;
const MAX_RUNS_LIMIT = 500;

/**
 * Scheduled jobs and their runs: what callers (the gRPC handlers) use. Timing is the
 * scheduler's, hand-out to workers the dispatcher's, state the store's (shared by every
 * replica on the same database). When a job is due, a `pending` run is created and handed
 * to one attached worker (`running`); the worker reports back with `completeRun`.
 *
 * Nothing due is ever lost: runs wait while no worker is attached, return to pending when
 * their worker detaches or their replica dies (or the gateway restarts), and a job missed
 * while every gateway was down fires once on start, not once per missed period. Delivery
 * is therefore at-least-once; a run whose worker vanished may be delivered again.
 *
 * A scheduled run is not created while the job already has one pending or running (the
 * period is skipped, logged): a worker outage then costs one catch-up run per job instead
 * of a backlog of identical runs.
 *
 * Reads (`get`, `list`, `listRuns`, `status`) answer at once from this replica's copy;
 * writes are transactions, acknowledged once durable.
 */
export class CronService {
  private readonly options: CronOptions;
  private readonly scheduler: CronScheduler;
  private readonly dispatcher: CronDispatcher;
  private readonly background = new Set<Promise<unknown>>();
  private started = false;
  /** Cron's clock: the local one, or on PostgreSQL the database server's. */
  private readonly clock: CronClock;

  private constructor(
    private readonly deps: CronServiceDeps,
    private readonly store: CronStore,
  ) {
    this.options = { ...DEFAULT_CRON_OPTIONS, ...deps.options };
    const lease = checkLease(this.options.lease);
    const timers = deps.timers ?? systemTimers;
    const monotonic = deps.monotonic ?? monotonicClock;
    const backend = deps.store;
    const serverTime = this.options.databaseClock && backend.serverTime ? () => (backend.serverTime as () => Promise<number>).call(backend) : undefined;
    const clock = (this.clock = new CronClock({ local: deps.clock, monotonic, serverTime, logger: deps.logger }));
    // Every cron event announces a change: staged in the transaction that makes it.
    const stage = (tx: CronTx, event: CronEvent) => deps.events.stage(tx, 'cron', event);
    const liveness = new ReplicaLiveness({ store, clock, monotonic, lease, oneMachine: backend.kind === 'files', host: deps.host ?? hostname(), pid: deps.pid ?? process.pid });
    this.dispatcher = new CronDispatcher({ store, clock, logger: deps.logger, timers, stage, liveness, maxRunsPerJob: this.options.maxRunsPerJob, afterHeartbeat: () => clock.refresh() });
    this.scheduler = new CronScheduler({ store, clock, logger: deps.logger, timers, stage, enabled: this.options.schedulerEnabled, afterTick: () => this.dispatcher.dispatch() });
  }

  /**
   * Opens the cron collection of `deps.store` (importing a legacy `cron.json` once) and, on
   * PostgreSQL, measures how far this machine's clock is from the database's. Call
   * `start` to schedule.
   */
  static async open(deps: CronServiceDeps): Promise<CronService> {
    const svc = new CronService(deps, await CronStore.open(deps.store, deps.legacyJson));
    await svc.clock.measure().catch((err: Error) => deps.logger.warn({ err: err.message }, "could not read the database server's clock; cron keeps this machine's until it can"));
    return svc;
  }

  /** This replica's id in heartbeats and claims. */
  get replicaId(): string {
    return this.dispatcher.replicaId;
  }

  /**
   * Starts scheduling: this replica's heartbeat is written, runs claimed by replicas that
   * died (or by this gateway's previous process) become pending again, everything already
   * due fires once, and the timer is armed.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      await this.dispatcher.heartbeat();
      this.scheduler.start();
      await this.tick();
    } catch (err) {
      // A start that fails (store unreachable) leaves no timer behind.
      this.started = false;
      this.scheduler.stop();
      throw err;
    }
    this.dispatcher.startHeartbeat();
  }

  /**
   * Stops the timer and the heartbeat; this replica's runs go back to pending for the
   * other replicas and its heartbeat is deleted. Reads and `tick()` still work.
   */
  async stop(): Promise<void> {
    this.started = false;
    this.scheduler.stop();
    await this.idle();
    try {
      await this.dispatcher.leave();
    } catch (err) {
      // The gateway still stops; the other replicas take the runs once this one's lease ends.
      this.deps.logger.warn({ err: (err as Error).message }, 'could not hand this replica\'s cron runs back at stop');
    }
  }

  /**
   * Switches scheduling on or off at runtime (config `cron.enabled`). Off: nothing fires
   * on its own, manual runs and delivery continue. On: whatever became due meanwhile
   * fires once, as after a restart.
   */
  setSchedulerEnabled(enabled: boolean): void {
    if (!this.scheduler.setEnabled(enabled)) return;
    this.deps.logger.info({ enabled }, 'cron scheduler switched');
    if (enabled && this.started) this.track(this.tick().catch((err: Error) => this.deps.logger.error({ err: err.message }, 'cron tick failed')));
  }

  /** Creates a job. INVALID_ARGUMENT `INVALID_JOB` / `INVALID_SCHEDULE` / `INVALID_PAYLOAD` naming the field. */
  async add(input: CronJobInput): Promise<CronJob> {
    if (!input || typeof input !== 'object') throw errors.invalid('INVALID_JOB', 'job: required');
    const name = parseName(input.name);
    const schedule = parseSchedule(input.schedule, { minEveryMs: this.options.minEveryMs, nowMs: this.clock.now() });
    const payload = parsePayload(input.payload);
    const enabled = parseEnabled(input.enabled) ?? true;
    const now = this.clock.now();
    const jobId = `job_${randomBytes(8).toString('hex')}`;
    const job = await this.store.mutate((tx) => {
      const record: JobRecord = {
        id: jobKey(jobId),
        kind: 'job',
        seq: tx.nextSeq(),
        activeRunId: '',
        jobId,
        name,
        enabled,
        schedule,
        payload,
        createdAtMs: now,
        updatedAtMs: now,
        nextRunAtMs: enabled ? firstRunAt(schedule, now) : 0,
        lastRunAtMs: 0,
        lastStatus: '',
      };
      tx.put(record);
      this.stage(tx, { action: 'added', jobId, job: jobOf(record) });
      return record;
    });
    return jobOf(job);
  }

  /** Changes the given fields. A new schedule, or enabling, recomputes the next run from now; disabling clears it. */
  async update(jobId: string, patch: CronJobPatch): Promise<CronJob> {
    if (!patch || typeof patch !== 'object') throw errors.invalid('INVALID_JOB', 'patch: required');
    const name = patch.name !== undefined ? parseName(patch.name) : undefined;
    const schedule = patch.schedule !== undefined ? parseSchedule(patch.schedule, { minEveryMs: this.options.minEveryMs, nowMs: this.clock.now() }) : undefined;
    const payload = patch.payload !== undefined ? parsePayload(patch.payload) : undefined;
    const enabled = parseEnabled(patch.enabled);
    const now = this.clock.now();
    const job = await this.store.mutate((tx) => {
      const j = tx.job(jobId);
      if (!j) throw jobNotFound(jobId);
      const wasEnabled = j.enabled;
      if (name !== undefined) j.name = name;
      if (payload !== undefined) j.payload = payload;
      if (schedule !== undefined) j.schedule = schedule;
      if (enabled !== undefined) j.enabled = enabled;
      if (!j.enabled) j.nextRunAtMs = 0;
      else if (schedule !== undefined || !wasEnabled) j.nextRunAtMs = firstRunAt(j.schedule, now);
      j.updatedAtMs = now;
      tx.put(j);
      this.stage(tx, { action: 'updated', jobId, job: jobOf(j) });
      return j;
    });
    return jobOf(job);
  }

  /** Deletes a job and its runs (a worker still running one gets RUN_NOT_FOUND on completion). False if unknown. */
  async remove(jobId: string): Promise<boolean> {
    const dropped = await this.store.mutate((tx) => {
      if (!tx.deleteJob(jobId)) return undefined;
      const runIds = this.store.runsOf(jobId).map((r) => r.runId);
      for (const id of runIds) tx.deleteRun(id);
      this.stage(tx, { action: 'removed', jobId });
      return runIds;
    });
    if (dropped === undefined) return false;
    this.dispatcher.forget(dropped);
    return true;
  }

  /** One job; NOT_FOUND `JOB_NOT_FOUND` if unknown. */
  get(jobId: string): CronJob {
    const j = this.store.job(jobId);
    if (!j) throw jobNotFound(jobId);
    return jobOf(j);
  }

  /** All jobs, oldest first. */
  list(): CronJob[] {
    return this.store.jobList().map(jobOf);
  }

  /** Runs, newest first, of one job (NOT_FOUND if unknown) or of all jobs; limit 0/absent = 50, at most 500. */
  listRuns(jobId?: string, limit = 0): CronRun[] {
    if (!Number.isInteger(limit) || limit < 0) throw errors.invalid('INVALID_LIMIT', 'limit must be a non-negative integer');
    if (jobId && !this.store.job(jobId)) throw jobNotFound(jobId);
    const runs = jobId ? this.store.runsOf(jobId) : [...this.store.allRuns()].filter((r) => this.store.job(r.jobId));
    runs.sort((a, b) => b.seq - a.seq);
    return runs.slice(0, Math.min(limit || DEFAULT_RUNS_LIMIT, MAX_RUNS_LIMIT)).map(runOf);
  }

  /** Triggers a job now (even if disabled) without touching its schedule; the run is dispatched like any other. */
  async runNow(jobId: string): Promise<CronRun> {
    const runId = `crun_${randomBytes(8).toString('hex')}`;
    const now = this.clock.now();
    const run = await this.store.mutate((tx) => {
      if (!tx.job(jobId)) throw jobNotFound(jobId);
      return tx.newRun(runId, jobId, now, 'manual');
    });
    this.deps.logger.info({ jobId, runId }, 'cron job triggered manually');
    await this.dispatcher.dispatch();
    return runOf(this.store.run(runId) ?? run);
  }

  /** Scheduler counters. */
  status(): CronStatus {
    let enabled = 0;
    let jobs = 0;
    for (const j of this.store.allJobs()) {
      jobs++;
      if (j.enabled) enabled++;
    }
    let runsPending = 0;
    for (const r of this.store.allRuns()) if (r.status === 'pending') runsPending++;
    return { jobs, enabled, nextRunAtMs: this.scheduler.nextRunAtMs(), runsPending, workerConnected: this.dispatcher.workerConnected };
  }

  /**
   * Fires every job due at `clock.now()` and hands the new runs to workers. The timer calls
   * this; tests call it directly after moving a ManualClock. Resolves with the runs created.
   */
  async tick(): Promise<CronRun[]> {
    const { created } = await this.scheduler.tick();
    await this.dispatcher.dispatch();
    return created.map((r) => runOf(this.store.run(r.runId) ?? r));
  }

  /**
   * Registers a worker that executes runs. Pending runs are delivered to it at once.
   * A second attach with the same id replaces the first (a reconnecting worker).
   * Returns the detach function: runs it had not completed go back to pending.
   */
  attachWorker(workerId: string, deliver: CronDeliver): () => Promise<void> {
    return this.dispatcher.attach(workerId, deliver);
  }

  /**
   * Records a worker's result (on any replica). A run that went back to pending may still
   * be completed, so finished work is not done twice. NOT_FOUND `RUN_NOT_FOUND`;
   * FAILED_PRECONDITION `RUN_ALREADY_FINISHED`, or `RUN_NOT_ASSIGNED` when `workerId` is
   * given and the run is held by another worker.
   */
  async completeRun(runId: string, result: CronRunResult, workerId?: string): Promise<CronRun> {
    return runOf(await this.dispatcher.complete(runId, result, workerId));
  }

  /** One heartbeat now (the timer does this every `lease.heartbeatMs`); for tests driving time by hand. */
  heartbeat(): Promise<void> {
    return this.dispatcher.heartbeat();
  }

  /** Resolves once background work started so far (hand-outs, returns to pending, heartbeats) is done. */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
    await this.dispatcher.idle();
  }

  private track(p: Promise<unknown>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  private stage(tx: CronTx, event: CronEvent): void {
    this.deps.events.stage(tx, 'cron', event);
  }
}

function jobNotFound(jobId: string) {
  return errors.notFound('JOB_NOT_FOUND', `cron job ${jobId} not found`);
}
