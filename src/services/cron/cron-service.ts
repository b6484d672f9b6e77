import { randomBytes } from 'node:crypto';
import { errors } from '../../errors';
import type { Clock } from '../../clock';
import type { Logger } from '../../logging';
import { JsonFile } from '../../store/json-file';
import type { EventPublisher } from '../events/event-publisher';
import { firstRunAt, nextRunAfter, parseSchedule, type CronSchedule } from './schedule';

export type { CronSchedule } from './schedule';

/** What a job does: run an agent turn, or emit a system event. Executed by a worker, not here. */
export type CronPayload =
  | { kind: 'agentTurn'; message: string; sessionKey?: string; agentId?: string }
  | { kind: 'systemEvent'; text: string };

/** Life of a run: created `pending`, `running` once a worker has it, then `ok` or `error`. */
export type CronRunStatus = 'pending' | 'running' | 'ok' | 'error';

/** What created a run. */
export type CronTrigger = 'schedule' | 'manual';

/** A scheduled job (mirrors `openclaw.cron.v1.CronJob`; 0 / '' mean "none"). */
export interface CronJob {
  jobId: string;
  name: string;
  enabled: boolean;
  schedule: CronSchedule;
  payload: CronPayload;
  createdAtMs: number;
  updatedAtMs: number;
  /** Next time the scheduler fires the job; 0 when disabled or finished. */
  nextRunAtMs: number;
  /** Start of the last finished run; 0 if none. */
  lastRunAtMs: number;
  lastStatus: 'ok' | 'error' | '';
}

/** One execution of a job (mirrors `openclaw.cron.v1.CronRun`; 0 / '' mean "not yet"). */
export interface CronRun {
  runId: string;
  jobId: string;
  status: CronRunStatus;
  /** When the run was due (the schedule's time, or the moment of a manual trigger). */
  scheduledAtMs: number;
  /** First delivery to a worker. */
  startedAtMs: number;
  finishedAtMs: number;
  durationMs: number;
  error: string;
  sessionId: string;
  output: string;
  trigger: CronTrigger;
}

/** Fields of a new job. */
export interface CronJobInput {
  name: string;
  schedule: CronSchedule;
  payload: CronPayload;
  /** Default true. */
  enabled?: boolean;
}

/** A partial update; absent fields stay as they are. */
export interface CronJobPatch {
  name?: string;
  schedule?: CronSchedule;
  payload?: CronPayload;
  enabled?: boolean;
}

/** What a worker reports when it finishes a run. */
export interface CronRunResult {
  status: 'ok' | 'error';
  error?: string;
  sessionId?: string;
  output?: string;
}

/** Scheduler counters (mirrors `GetCronStatusResponse`). */
export interface CronStatus {
  jobs: number;
  enabled: number;
  /** Earliest next run of any enabled job; 0 if none. */
  nextRunAtMs: number;
  /** Runs waiting for a worker. */
  runsPending: number;
  workerConnected: boolean;
}

/** Hands a due run to a worker (e.g. writes it to the worker's WatchDueRuns stream). Must not block. */
export type CronDeliver = (run: CronRun, job: CronJob) => void;

/** Where the scheduler gets its timer, so tests can drive time by hand. */
export interface TimerSource {
  set(fn: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

/** Real timers, unref'd so a pending job never keeps a process alive on its own. */
export const systemTimers: TimerSource = {
  set(fn, delayMs) {
    const t = setTimeout(fn, delayMs);
    t.unref();
    return t;
  },
  clear(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/** Tunables of the cron service. */
export interface CronOptions {
  /** Shortest `every` interval (default 1000 ms). */
  minEveryMs: number;
  /** Finished runs kept per job (default 50). */
  maxRunsPerJob: number;
  /** When false (config `cron.enabled: false`) nothing fires on its own; manual runs still work. */
  schedulerEnabled: boolean;
}

/** Default options. */
export const DEFAULT_CRON_OPTIONS: CronOptions = Object.freeze({ minEveryMs: 1000, maxRunsPerJob: 50, schedulerEnabled: true });

/** What the cron service is built from. */
export interface CronServiceDeps {
  /** The JSON state file of jobs and runs. */
  path: string;
  clock: Clock;
  events: EventPublisher;
  logger: Logger;
  /** Default: real unref'd timers. */
  timers?: TimerSource;
  options?: Partial<CronOptions>;
}

/** Payload of the `cron` event. */
export interface CronEvent {
  action: 'added' | 'updated' | 'removed' | 'started' | 'finished';
  jobId: string;
  runId?: string;
  status?: CronRunStatus;
  trigger?: CronTrigger;
  workerId?: string;
  durationMs?: number;
  error?: string;
  sessionId?: string;
  job?: CronJob;
}

interface CronDoc {
  version: 1;
  jobs: CronJob[];
  runs: CronRun[];
}

interface Worker {
  workerId: string;
  deliver: CronDeliver;
  inFlight: Set<string>;
}

const MAX_NAME = 200;
const MAX_TEXT_BYTES = 64 * 1024;
const MAX_REF = 200;
const MAX_OUTPUT_CHARS = 16 * 1024;
const MAX_ERROR_CHARS = 2 * 1024;
const DEFAULT_RUNS_LIMIT = 50;
const MAX_RUNS_LIMIT = 500;
/** setTimeout's ceiling (~24.8 days); longer waits re-arm on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Retry delay after a tick failed (e.g. state file locked), so failures never spin. */
const RETRY_MS = 5000;

/**
 * Persisted scheduled jobs and their runs, with the timing owned here and the
 * execution done by workers. When a job is due, a `pending` run is created and handed
 * to one attached worker (`running`); the worker reports back with `completeRun`.
 *
 * Nothing due is ever lost: runs wait while no worker is attached, return to pending
 * when their worker detaches (or the gateway restarts), and a job missed while the
 * gateway was down fires once on start, not once per missed period. Delivery is
 * therefore at-least-once; a run whose worker vanished may be delivered again.
 *
 * A scheduled run is not created while the job already has one pending or running
 * (the period is skipped, logged): a worker outage then costs one catch-up run per
 * job instead of a backlog of identical runs.
 */
export class CronService {
  private readonly file: JsonFile<CronDoc>;
  private readonly options: CronOptions;
  private readonly timers: TimerSource;
  private readonly workers = new Map<string, Worker>();
  /** runId -> the worker it was delivered to in this process. */
  private readonly assigned = new Map<string, Worker>();
  private timer: unknown;
  private started = false;
  private dispatching = false;
  private dispatchAgain = false;

  constructor(private readonly deps: CronServiceDeps) {
    this.options = { ...DEFAULT_CRON_OPTIONS, ...deps.options };
    this.timers = deps.timers ?? systemTimers;
    this.file = new JsonFile<CronDoc>(deps.path, () => ({ version: 1, jobs: [], runs: [] }), validateDoc);
  }

  /**
   * Starts scheduling: runs left pending or running by an earlier process become
   * pending again, everything already due fires once, and the timer is armed.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    const recovered = this.file.update((doc) => {
      let n = 0;
      for (const r of doc.runs) {
        if (r.status === 'running' && !this.assigned.has(r.runId)) {
          r.status = 'pending';
          n++;
        }
      }
      return n;
    });
    if (recovered) this.deps.logger.info({ runs: recovered }, 'cron runs from before the restart are pending again');
    this.tick();
  }

  /** Stops the timer (workers stay attached; `tick()` still works when called). */
  stop(): void {
    this.started = false;
    this.clearTimer();
  }

  /**
   * Switches scheduling on or off at runtime (config `cron.enabled`). Off: nothing
   * fires on its own, manual runs and delivery continue. On: whatever became due
   * meanwhile fires once, as after a restart.
   */
  setSchedulerEnabled(enabled: boolean): void {
    if (this.options.schedulerEnabled === enabled) return;
    this.options.schedulerEnabled = enabled;
    this.deps.logger.info({ enabled }, 'cron scheduler switched');
    if (enabled && this.started) this.tick();
    else this.arm();
  }

  /** Creates a job. INVALID_ARGUMENT `INVALID_JOB` / `INVALID_SCHEDULE` / `INVALID_PAYLOAD` naming the field. */
  add(input: CronJobInput): CronJob {
    if (!input || typeof input !== 'object') throw errors.invalid('INVALID_JOB', 'job: required');
    const name = parseName(input.name);
    const schedule = parseSchedule(input.schedule, { minEveryMs: this.options.minEveryMs, nowMs: this.deps.clock.now() });
    const payload = parsePayload(input.payload);
    if (input.enabled !== undefined && typeof input.enabled !== 'boolean') throw errors.invalid('INVALID_JOB', 'enabled: must be a boolean');
    const enabled = input.enabled ?? true;
    const now = this.deps.clock.now();
    const job: CronJob = {
      jobId: `job_${randomBytes(8).toString('hex')}`,
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
    this.file.update((doc) => {
      doc.jobs.push(job);
    });
    this.publish({ action: 'added', jobId: job.jobId, job: clone(job) });
    this.arm();
    return clone(job);
  }

  /** Changes the given fields. A new schedule, or enabling, recomputes the next run from now; disabling clears it. */
  update(jobId: string, patch: CronJobPatch): CronJob {
    if (!patch || typeof patch !== 'object') throw errors.invalid('INVALID_JOB', 'patch: required');
    const name = patch.name !== undefined ? parseName(patch.name) : undefined;
    const schedule = patch.schedule !== undefined ? parseSchedule(patch.schedule, { minEveryMs: this.options.minEveryMs, nowMs: this.deps.clock.now() }) : undefined;
    const payload = patch.payload !== undefined ? parsePayload(patch.payload) : undefined;
    if (patch.enabled !== undefined && typeof patch.enabled !== 'boolean') throw errors.invalid('INVALID_JOB', 'enabled: must be a boolean');
    const now = this.deps.clock.now();
    const job = this.file.update((doc) => {
      const j = findJob(doc, jobId);
      const wasEnabled = j.enabled;
      if (name !== undefined) j.name = name;
      if (payload !== undefined) j.payload = payload;
      if (schedule !== undefined) j.schedule = schedule;
      if (patch.enabled !== undefined) j.enabled = patch.enabled;
      if (!j.enabled) j.nextRunAtMs = 0;
      else if (schedule !== undefined || !wasEnabled) j.nextRunAtMs = firstRunAt(j.schedule, now);
      j.updatedAtMs = now;
      return clone(j);
    });
    this.publish({ action: 'updated', jobId, job: clone(job) });
    this.arm();
    return job;
  }

  /** Deletes a job and its runs (a worker still running one gets RUN_NOT_FOUND on completion). False if unknown. */
  remove(jobId: string): boolean {
    const dropped = this.file.update((doc) => {
      const i = doc.jobs.findIndex((j) => j.jobId === jobId);
      if (i < 0) return undefined;
      doc.jobs.splice(i, 1);
      const runIds = doc.runs.filter((r) => r.jobId === jobId).map((r) => r.runId);
      doc.runs = doc.runs.filter((r) => r.jobId !== jobId);
      return runIds;
    });
    const removed = dropped !== undefined;
    if (removed) {
      for (const runId of dropped) this.unassign(runId);
      this.publish({ action: 'removed', jobId });
      this.arm();
    }
    return removed;
  }

  /** One job; NOT_FOUND `JOB_NOT_FOUND` if unknown. */
  get(jobId: string): CronJob {
    return clone(findJob(this.file.read(), jobId));
  }

  /** All jobs, oldest first. */
  list(): CronJob[] {
    return clone(this.file.read().jobs);
  }

  /** Runs, newest first, of one job (NOT_FOUND if unknown) or of all jobs; limit 0/absent = 50, at most 500. */
  listRuns(jobId?: string, limit = 0): CronRun[] {
    if (!Number.isInteger(limit) || limit < 0) throw errors.invalid('INVALID_LIMIT', 'limit must be a non-negative integer');
    const doc = this.file.read();
    if (jobId) findJob(doc, jobId);
    const n = Math.min(limit || DEFAULT_RUNS_LIMIT, MAX_RUNS_LIMIT);
    const runs: CronRun[] = [];
    for (let i = doc.runs.length - 1; i >= 0 && runs.length < n; i--) {
      if (!jobId || doc.runs[i].jobId === jobId) runs.push(doc.runs[i]);
    }
    return clone(runs);
  }

  /** Triggers a job now (even if disabled) without touching its schedule; the run is dispatched like any other. */
  runNow(jobId: string): CronRun {
    const now = this.deps.clock.now();
    const run = this.file.update((doc) => {
      const job = findJob(doc, jobId);
      const r = newRun(job.jobId, now, 'manual');
      doc.runs.push(r);
      return clone(r);
    });
    this.deps.logger.info({ jobId, runId: run.runId }, 'cron job triggered manually');
    this.dispatch();
    return this.runById(run.runId) ?? run;
  }

  /** Scheduler counters. */
  status(): CronStatus {
    const doc = this.file.read();
    let next = 0;
    let enabled = 0;
    for (const j of doc.jobs) {
      if (!j.enabled) continue;
      enabled++;
      if (j.nextRunAtMs > 0 && (next === 0 || j.nextRunAtMs < next)) next = j.nextRunAtMs;
    }
    return {
      jobs: doc.jobs.length,
      enabled,
      nextRunAtMs: next,
      runsPending: doc.runs.filter((r) => r.status === 'pending').length,
      workerConnected: this.workers.size > 0,
    };
  }

  /**
   * Fires every job due at `clock.now()`, hands the new runs to workers and re-arms
   * the timer. The timer calls this; tests call it directly after moving a ManualClock.
   * Returns the runs created.
   */
  tick(): CronRun[] {
    const now = this.deps.clock.now();
    const isDue = (j: CronJob): boolean => j.enabled && j.nextRunAtMs > 0 && j.nextRunAtMs <= now;
    let created: CronRun[] = [];
    const finishedOneShots: CronJob[] = [];
    // Read first: most ticks find nothing due and must not rewrite the file.
    if (this.options.schedulerEnabled && this.file.read().jobs.some(isDue)) {
      created = this.file.update((doc) => {
        const out: CronRun[] = [];
        for (const job of doc.jobs) {
          if (!isDue(job)) continue;
          const due = job.nextRunAtMs;
          const busy = doc.runs.some((r) => r.jobId === job.jobId && r.trigger === 'schedule' && (r.status === 'pending' || r.status === 'running'));
          if (busy) {
            this.deps.logger.warn({ jobId: job.jobId, dueAtMs: due }, 'cron job still has a run pending or running; skipping this period');
          } else {
            const run = newRun(job.jobId, due, 'schedule');
            doc.runs.push(run);
            out.push(clone(run));
          }
          if (job.schedule.kind === 'at') {
            // A one-shot has had its run; it must not fire again after a restart.
            job.enabled = false;
            job.nextRunAtMs = 0;
            finishedOneShots.push(clone(job));
          } else {
            job.nextRunAtMs = nextRunAfter(job.schedule, due, now);
            if (job.nextRunAtMs === 0) this.deps.logger.warn({ jobId: job.jobId }, 'cron job has no next run; it will not fire again until updated');
          }
        }
        return out;
      });
      for (const r of created) this.deps.logger.info({ jobId: r.jobId, runId: r.runId, dueAtMs: r.scheduledAtMs }, 'cron job due');
      for (const j of finishedOneShots) this.publish({ action: 'updated', jobId: j.jobId, job: j });
    }
    this.dispatch();
    this.arm();
    return created.map((r) => this.runById(r.runId) ?? r);
  }

  /**
   * Registers a worker that executes runs. Pending runs are delivered to it at once.
   * A second attach with the same id replaces the first (a reconnecting worker).
   * Returns the detach function: runs it had not completed go back to pending.
   */
  attachWorker(workerId: string, deliver: CronDeliver): () => void {
    if (!workerId) throw errors.invalid('INVALID_WORKER', 'workerId is required');
    const previous = this.workers.get(workerId);
    if (previous) this.detach(previous);
    const w: Worker = { workerId, deliver, inFlight: new Set() };
    this.workers.set(workerId, w);
    this.deps.logger.info({ workerId }, 'cron worker attached');
    this.dispatch();
    return () => this.detach(w);
  }

  /**
   * Records a worker's result. A run that went back to pending (its worker vanished)
   * may still be completed, so finished work is not done twice. NOT_FOUND
   * `RUN_NOT_FOUND`; FAILED_PRECONDITION `RUN_ALREADY_FINISHED`, or `RUN_NOT_ASSIGNED`
   * when `workerId` is given and another worker holds the run.
   */
  completeRun(runId: string, result: CronRunResult, workerId?: string): CronRun {
    if (!result || (result.status !== 'ok' && result.status !== 'error')) {
      throw errors.invalid('INVALID_RUN_STATUS', 'status must be "ok" or "error"');
    }
    const holder = this.assigned.get(runId);
    if (workerId && holder && holder.workerId !== workerId) {
      throw errors.precondition('RUN_NOT_ASSIGNED', `run ${runId} is assigned to another worker`);
    }
    const now = this.deps.clock.now();
    const run = this.file.update((doc) => {
      const r = doc.runs.find((x) => x.runId === runId);
      if (!r) throw errors.notFound('RUN_NOT_FOUND', `cron run ${runId} not found`);
      if (r.status === 'ok' || r.status === 'error') {
        throw errors.precondition('RUN_ALREADY_FINISHED', `cron run ${runId} already finished with status ${r.status}`);
      }
      r.status = result.status;
      if (!r.startedAtMs) r.startedAtMs = now;
      r.finishedAtMs = now;
      r.durationMs = Math.max(0, now - r.startedAtMs);
      r.error = result.status === 'error' ? truncate(result.error || 'failed', MAX_ERROR_CHARS) : '';
      r.sessionId = truncate(result.sessionId ?? '', MAX_REF);
      r.output = truncate(result.output ?? '', MAX_OUTPUT_CHARS);
      const job = doc.jobs.find((j) => j.jobId === r.jobId);
      if (job) {
        job.lastStatus = result.status;
        job.lastRunAtMs = r.startedAtMs;
      }
      pruneRuns(doc, r.jobId, this.options.maxRunsPerJob);
      return clone(r);
    });
    this.unassign(runId);
    this.deps.logger.info({ jobId: run.jobId, runId, status: run.status, durationMs: run.durationMs }, 'cron run finished');
    this.publish({
      action: 'finished',
      jobId: run.jobId,
      runId,
      status: run.status,
      trigger: run.trigger,
      durationMs: run.durationMs,
      error: run.error,
      sessionId: run.sessionId,
    });
    return run;
  }

  private detach(w: Worker): void {
    if (this.workers.get(w.workerId) !== w) return;
    this.workers.delete(w.workerId);
    const runIds = [...w.inFlight];
    for (const id of runIds) this.unassign(id);
    this.deps.logger.info({ workerId: w.workerId, returned: runIds.length }, 'cron worker detached');
    if (runIds.length) this.returnToPending(runIds);
    this.dispatch();
  }

  private returnToPending(runIds: string[]): void {
    const ids = new Set(runIds);
    this.file.update((doc) => {
      for (const r of doc.runs) if (ids.has(r.runId) && r.status === 'running') r.status = 'pending';
    });
  }

  /**
   * Hands every pending run to the least busy worker. Deliveries happen after the
   * state is saved and outside the file lock, because a worker may complete or detach
   * synchronously from inside `deliver`; such re-entrant calls set `dispatchAgain`.
   */
  private dispatch(): void {
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.dispatchAgain = false;
        if (this.workers.size === 0) return;
        const waiting = this.file.read().runs.filter((r) => r.status === 'pending' && !this.assigned.has(r.runId));
        if (waiting.length === 0) return;
        waiting.sort((a, b) => a.scheduledAtMs - b.scheduledAtMs);
        const load = new Map<Worker, number>([...this.workers.values()].map((w) => [w, w.inFlight.size]));
        const plan = new Map<string, Worker>();
        for (const r of waiting) {
          let best: Worker | undefined;
          for (const [w, n] of load) if (!best || n < (load.get(best) as number)) best = w;
          const chosen = best as Worker;
          plan.set(r.runId, chosen);
          load.set(chosen, (load.get(chosen) as number) + 1);
        }
        const now = this.deps.clock.now();
        const deliveries = this.file.update((doc) => {
          const out: { run: CronRun; job: CronJob; worker: Worker }[] = [];
          for (const r of doc.runs) {
            const w = plan.get(r.runId);
            if (!w || r.status !== 'pending') continue;
            const job = doc.jobs.find((j) => j.jobId === r.jobId);
            if (!job) continue;
            r.status = 'running';
            if (!r.startedAtMs) r.startedAtMs = now;
            out.push({ run: clone(r), job: clone(job), worker: w });
          }
          return out;
        });
        for (const d of deliveries) {
          this.assigned.set(d.run.runId, d.worker);
          d.worker.inFlight.add(d.run.runId);
        }
        for (const d of deliveries) {
          // The worker may have detached, or completed the run, during an earlier delivery.
          if (this.assigned.get(d.run.runId) !== d.worker || this.workers.get(d.worker.workerId) !== d.worker) continue;
          this.publish({ action: 'started', jobId: d.run.jobId, runId: d.run.runId, status: 'running', trigger: d.run.trigger, workerId: d.worker.workerId });
          try {
            d.worker.deliver(d.run, d.job);
          } catch (err) {
            this.deps.logger.warn({ workerId: d.worker.workerId, runId: d.run.runId, err: (err as Error).message }, 'cron worker failed to take a run; detaching it');
            this.detach(d.worker);
          }
        }
      } while (this.dispatchAgain);
    } finally {
      this.dispatching = false;
    }
  }

  private unassign(runId: string): void {
    const w = this.assigned.get(runId);
    if (!w) return;
    this.assigned.delete(runId);
    w.inFlight.delete(runId);
  }

  /** Sets the timer to the earliest next run (nothing when stopped or disabled). */
  private arm(delayOverrideMs?: number): void {
    this.clearTimer();
    if (!this.started || !this.options.schedulerEnabled) return;
    let delay = delayOverrideMs;
    if (delay === undefined) {
      const next = this.status().nextRunAtMs;
      if (next === 0) return;
      delay = next - this.deps.clock.now();
    }
    this.timer = this.timers.set(() => this.onTimer(), Math.min(Math.max(0, delay), MAX_TIMER_MS));
  }

  private onTimer(): void {
    this.timer = undefined;
    try {
      this.tick();
    } catch (err) {
      this.deps.logger.error({ err: (err as Error).message }, `cron tick failed; retrying in ${RETRY_MS} ms`);
      this.arm(RETRY_MS);
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      this.timers.clear(this.timer);
      this.timer = undefined;
    }
  }

  private runById(runId: string): CronRun | undefined {
    const r = this.file.read().runs.find((x) => x.runId === runId);
    return r ? clone(r) : undefined;
  }

  private publish(event: CronEvent): void {
    this.deps.events.publish('cron', event);
  }
}

function newRun(jobId: string, scheduledAtMs: number, trigger: CronTrigger): CronRun {
  return {
    runId: `crun_${randomBytes(8).toString('hex')}`,
    jobId,
    status: 'pending',
    scheduledAtMs,
    startedAtMs: 0,
    finishedAtMs: 0,
    durationMs: 0,
    error: '',
    sessionId: '',
    output: '',
    trigger,
  };
}

function findJob(doc: CronDoc, jobId: string): CronJob {
  const job = doc.jobs.find((j) => j.jobId === jobId);
  if (!job) throw errors.notFound('JOB_NOT_FOUND', `cron job ${jobId} not found`);
  return job;
}

/** Keeps the newest `max` finished runs of a job; pending and running runs are never dropped. */
function pruneRuns(doc: CronDoc, jobId: string, max: number): void {
  let finished = doc.runs.filter((r) => r.jobId === jobId && (r.status === 'ok' || r.status === 'error')).length;
  if (finished <= max) return;
  doc.runs = doc.runs.filter((r) => {
    if (finished > max && r.jobId === jobId && (r.status === 'ok' || r.status === 'error')) {
      finished--;
      return false;
    }
    return true;
  });
}

function parseName(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw errors.invalid('INVALID_JOB', 'name: required');
  const name = raw.trim();
  if (name.length > MAX_NAME) throw errors.invalid('INVALID_JOB', `name: longer than ${MAX_NAME} characters`);
  return name;
}

function parsePayload(raw: unknown): CronPayload {
  const bad = (message: string): never => {
    throw errors.invalid('INVALID_PAYLOAD', `payload: ${message}`);
  };
  if (!raw || typeof raw !== 'object') return bad('required');
  const p = raw as Record<string, unknown>;
  const text = (field: string): string => {
    const v = p[field];
    if (typeof v !== 'string' || v.trim() === '') return bad(`${field} is required`);
    if (Buffer.byteLength(v, 'utf8') > MAX_TEXT_BYTES) return bad(`${field} is larger than ${MAX_TEXT_BYTES} bytes`);
    return v;
  };
  const ref = (field: string): string | undefined => {
    const v = p[field];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' || v.length > MAX_REF) return bad(`${field} must be a string of at most ${MAX_REF} characters`);
    return v;
  };
  if (p.kind === 'agentTurn') {
    const out: CronPayload = { kind: 'agentTurn', message: text('message') };
    const sessionKey = ref('sessionKey');
    const agentId = ref('agentId');
    if (sessionKey) out.sessionKey = sessionKey;
    if (agentId) out.agentId = agentId;
    return out;
  }
  if (p.kind === 'systemEvent') return { kind: 'systemEvent', text: text('text') };
  return bad('kind must be "agentTurn" or "systemEvent"');
}

function truncate(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

function validateDoc(raw: unknown): CronDoc {
  const doc = raw as CronDoc;
  if (!doc || typeof doc !== 'object' || doc.version !== 1 || !Array.isArray(doc.jobs) || !Array.isArray(doc.runs)) {
    throw new Error('expected {"version":1,"jobs":[...],"runs":[...]}');
  }
  for (const j of doc.jobs) {
    if (!j || typeof j.jobId !== 'string' || !j.schedule || !j.payload || typeof j.nextRunAtMs !== 'number') {
      throw new Error('a job is malformed');
    }
  }
  for (const r of doc.runs) {
    if (!r || typeof r.runId !== 'string' || typeof r.jobId !== 'string' || typeof r.status !== 'string') {
      throw new Error('a run is malformed');
    }
  }
  return doc;
}
