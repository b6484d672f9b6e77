import { randomBytes } from 'node:crypto';
import type { Clock } from '../../clock';
import type { Logger } from '../../logging';
import { jobOf, type JobRecord, type RunRecord } from './cron-records';
import type { CronStore, CronTx } from './cron-store';
import type { CronEvent } from './cron-types';
import { nextRunAfter } from './schedule';
import type { TimerSource } from './timer-source';

/** setTimeout's ceiling (~24.8 days); longer waits re-arm on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Retry delay after a tick failed (e.g. the store unreachable), so failures never spin. */
const RETRY_MS = 5000;
/** Shortest re-arm after a tick that found a job due here but not in the committed state (news not heard yet). */
const MIN_REARM_MS = 200;

/** What the scheduler is built from. */
export interface CronSchedulerDeps {
  store: CronStore;
  clock: Clock;
  logger: Logger;
  timers: TimerSource;
  /** Stages a cron event in the transaction whose change it announces. */
  stage: (tx: CronTx, event: CronEvent) => void;
  /** Whether jobs fire on their own (config `cron.enabled`). */
  enabled: boolean;
  /** Runs after each timer-driven tick (hands the new runs to workers). */
  afterTick: () => Promise<void>;
}

/** What one tick did. */
export interface TickResult {
  /** Runs created. */
  created: RunRecord[];
  /** Jobs whose next time was moved (fired, or skipped because their last run is not done). */
  fired: number;
}

const isDue = (j: JobRecord, now: number): boolean => j.enabled && j.nextRunAtMs > 0 && j.nextRunAtMs <= now;

/**
 * Decides which jobs are due and fires them. Every replica arms its timer from its local
 * copy (re-armed whenever jobs change, here or on another replica); firing re-checks each
 * job inside one transaction on the freshest committed state, and writers are serialized
 * across replicas, so a due period creates exactly one run whichever replicas race.
 */
export class CronScheduler {
  private timer: unknown;
  private started = false;
  private enabled: boolean;
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: CronSchedulerDeps) {
    this.enabled = deps.enabled;
    this.unsubscribe = deps.store.onChange((ch) => {
      if (ch.kinds.has('job')) this.arm();
    });
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  /** Arms the timer (the caller fires what is already due with `tick`). */
  start(): void {
    this.started = true;
    this.arm();
  }

  stop(): void {
    this.started = false;
    this.clearTimer();
  }

  /** Stops for good (no more re-arming on changes). */
  close(): void {
    this.stop();
    this.unsubscribe();
  }

  /** Switches firing on or off; returns whether it changed. */
  setEnabled(enabled: boolean): boolean {
    if (this.enabled === enabled) return false;
    this.enabled = enabled;
    this.arm();
    return true;
  }

  /** Earliest next run of any enabled job in the local copy; 0 if none. */
  nextRunAtMs(): number {
    let next = 0;
    for (const j of this.deps.store.allJobs()) {
      if (j.enabled && j.nextRunAtMs > 0 && (next === 0 || j.nextRunAtMs < next)) next = j.nextRunAtMs;
    }
    return next;
  }

  /**
   * Fires every job due at `clock.now()` in one transaction: each due job gets a pending
   * run (unless its previous scheduled run is still pending or running: that period is
   * skipped, logged) and its next time; a one-shot is disabled once fired.
   */
  async tick(): Promise<TickResult> {
    const now = this.deps.clock.now();
    if (!this.enabled) return { created: [], fired: 0 };
    // The local copy says which jobs may be due: most ticks find none and write nothing.
    const candidates = [...this.deps.store.allJobs()].filter((j) => isDue(j, now));
    if (candidates.length === 0) return { created: [], fired: 0 };
    const skipped: { jobId: string; dueAtMs: number }[] = [];
    const neverAgain: string[] = [];
    const { created, fired } = await this.deps.store.mutate((tx) => {
      const out = { created: [] as RunRecord[], fired: 0 };
      for (const candidate of candidates) {
        // Re-checked on the committed state: another replica may have fired it already.
        const job = tx.job(candidate.jobId);
        if (!job || !isDue(job, now)) continue;
        const due = job.nextRunAtMs;
        const active = job.activeRunId ? tx.run(job.activeRunId) : undefined;
        if (active && (active.status === 'pending' || active.status === 'running')) {
          skipped.push({ jobId: job.jobId, dueAtMs: due });
        } else {
          const run = tx.newRun(`crun_${randomBytes(8).toString('hex')}`, job.jobId, due, 'schedule');
          job.activeRunId = run.runId;
          out.created.push(run);
        }
        if (job.schedule.kind === 'at') {
          // A one-shot has had its run; it must not fire again after a restart.
          job.enabled = false;
          job.nextRunAtMs = 0;
          this.deps.stage(tx, { action: 'updated', jobId: job.jobId, job: jobOf(job) });
        } else {
          job.nextRunAtMs = nextRunAfter(job.schedule, due, now);
          if (job.nextRunAtMs === 0) neverAgain.push(job.jobId);
        }
        tx.put(job);
        out.fired++;
      }
      return out;
    });
    const log = this.deps.logger;
    for (const s of skipped) log.warn(s, 'cron job still has a run pending or running; skipping this period');
    for (const jobId of neverAgain) log.warn({ jobId }, 'cron job has no next run; it will not fire again until updated');
    for (const r of created) log.info({ jobId: r.jobId, runId: r.runId, dueAtMs: r.scheduledAtMs }, 'cron job due');
    return { created, fired };
  }

  /** Sets the timer to the earliest next run (nothing when stopped or disabled). */
  arm(minDelayMs = 0): void {
    this.clearTimer();
    if (!this.started || !this.enabled) return;
    const next = this.nextRunAtMs();
    if (next === 0) return;
    const delay = Math.max(minDelayMs, next - this.deps.clock.now());
    this.timer = this.deps.timers.set(() => this.onTimer(), Math.min(Math.max(0, delay), MAX_TIMER_MS), 'schedule');
  }

  private onTimer(): void {
    this.timer = undefined;
    void this.fireFromTimer();
  }

  private async fireFromTimer(): Promise<void> {
    let fired: number;
    try {
      fired = (await this.tick()).fired;
      await this.deps.afterTick();
    } catch (err) {
      this.deps.logger.error({ err: (err as Error).message }, `cron tick failed; retrying in ${RETRY_MS} ms`);
      if (this.started) this.arm(RETRY_MS);
      return;
    }
    if (!this.started) return;
    // Due here yet nothing fired: the committed state says otherwise and the news is on its way.
    const next = this.nextRunAtMs();
    this.arm(fired === 0 && next > 0 && next <= this.deps.clock.now() ? MIN_REARM_MS : 0);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      this.deps.timers.clear(this.timer);
      this.timer = undefined;
    }
  }
}
