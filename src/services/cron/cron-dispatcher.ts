import type { Clock } from '../../clock';
import { errors } from '../../errors';
import type { Logger } from '../../logging';
import { watched } from '../liveness/beat-watch';
import { jobOf, runOf, type JobRecord, type RunRecord } from './cron-records';
import type { ReplicaLiveness } from './cron-replicas';
import { claimRun, finishRun, releaseRun } from './cron-runs';
import type { CronStore, CronTx } from './cron-store';
import type { CronDeliver, CronEvent, CronRunResult } from './cron-types';
import type { TimerSource } from './timer-source';

/** What the dispatcher is built from. */
export interface CronDispatcherDeps {
  store: CronStore;
  clock: Clock;
  logger: Logger;
  timers: TimerSource;
  /** Stages a cron event in the transaction whose change it announces. */
  stage: (tx: CronTx, event: CronEvent) => void;
  liveness: ReplicaLiveness;
  /** Finished runs kept per job. */
  maxRunsPerJob: number;
  /** Called after each heartbeat that reached the store (cron's clock looks at the database's now and then). */
  afterHeartbeat?: () => void;
}

interface Worker {
  workerId: string;
  deliver: CronDeliver;
  inFlight: Set<string>;
}

interface Delivery {
  run: RunRecord;
  job: JobRecord;
  worker: Worker;
}

/**
 * Hands pending runs to the workers attached to this replica. A run is claimed inside a
 * transaction (pending -> running, with this replica's id and the worker's), so two
 * replicas with workers never both take it; a replica's claims last while its heartbeat
 * does (see `ReplicaLiveness`), and a run whose worker detached, or whose replica died,
 * goes back to pending and is handed out again. Delivery is therefore at-least-once.
 */
export class CronDispatcher {
  private readonly workers = new Map<string, Worker>();
  /** runId -> the worker of this replica it was delivered to. */
  private readonly assigned = new Map<string, Worker>();
  /** Runs being claimed right now (not yet in `assigned`). */
  private readonly claiming = new Set<string>();
  private loop?: Promise<void>;
  private again = false;
  private stopped = false;
  private heartbeatTimer: unknown;
  private readonly background = new Set<Promise<unknown>>();
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: CronDispatcherDeps) {
    // Runs created or returned on another replica: take them if a worker is here.
    this.unsubscribe = deps.store.onChange((ch) => {
      if (!ch.local && ch.kinds.has('run') && this.workers.size > 0) this.track(this.dispatch());
    });
  }

  get replicaId(): string {
    return this.deps.liveness.replicaId;
  }

  /** Whether a worker is attached to this replica. */
  get workerConnected(): boolean {
    return this.workers.size > 0;
  }

  /**
   * Registers a worker; pending runs are handed to it at once. A second attach with the
   * same id replaces the first (a reconnecting worker). Returns the detach function:
   * runs it had not completed go back to pending.
   */
  attach(workerId: string, deliver: CronDeliver): () => Promise<void> {
    if (!workerId) throw errors.invalid('INVALID_WORKER', 'workerId is required');
    const previous = this.workers.get(workerId);
    const w: Worker = { workerId, deliver, inFlight: new Set() };
    if (previous) this.unregister(previous);
    this.workers.set(workerId, w);
    this.deps.logger.info({ workerId, replicaId: this.replicaId }, 'cron worker attached');
    this.track((previous ? this.release(previous) : Promise.resolve()).then(() => this.dispatch()));
    return () => this.track(this.detach(w));
  }

  /** Hands every pending run to the least busy worker here; resolves after a pass that started after the call. Never rejects. */
  dispatch(): Promise<void> {
    if (this.loop) {
      this.again = true;
      return this.loop;
    }
    this.loop = (async () => {
      try {
        do {
          this.again = false;
          try {
            await this.pass();
          } catch (err) {
            // The store failed (e.g. unreachable): runs stay pending; the next heartbeat tries again.
            this.deps.logger.warn({ err: (err as Error).message }, 'handing out cron runs failed; will retry');
          }
        } while (this.again && !this.stopped);
      } finally {
        this.loop = undefined;
      }
    })();
    return this.loop;
  }

  /**
   * Records a worker's result, on whichever replica it arrives. A run that went back to
   * pending may still be completed, so finished work is not done twice. NOT_FOUND
   * `RUN_NOT_FOUND`; FAILED_PRECONDITION `RUN_ALREADY_FINISHED`, or `RUN_NOT_ASSIGNED`
   * when `workerId` is given and the run is held by another worker.
   */
  async complete(runId: string, result: CronRunResult, workerId?: string): Promise<RunRecord> {
    if (!result || (result.status !== 'ok' && result.status !== 'error')) throw errors.invalid('INVALID_RUN_STATUS', 'status must be "ok" or "error"');
    const now = this.deps.clock.now();
    const known = (jobId: string) => this.deps.store.runsOf(jobId).map((r) => r.runId);
    const run = await this.deps.store.mutate((tx) => {
      const r = finishRun(tx, runId, result, workerId, now, known, this.deps.maxRunsPerJob);
      this.deps.stage(tx, { action: 'finished', jobId: r.jobId, runId, status: r.status, trigger: r.trigger, durationMs: r.durationMs, error: r.error, sessionId: r.sessionId });
      return r;
    });
    this.unassign(runId);
    this.deps.logger.info({ jobId: run.jobId, runId, status: run.status, durationMs: run.durationMs }, 'cron run finished');
    return run;
  }

  /** Forgets runs deleted with their job (a worker still holding one gets RUN_NOT_FOUND on completion). */
  forget(runIds: Iterable<string>): void {
    for (const id of runIds) this.unassign(id);
  }

  /**
   * One heartbeat, in one transaction: this replica's heartbeat is renewed, its claims are
   * brought in line with the committed state, replicas that stopped answering lose theirs
   * (back to pending), and runs left without their job are deleted. Then pending runs are
   * handed out. How the store answers (or fails) is what the liveness watch counts time by.
   */
  async heartbeat(): Promise<void> {
    if (this.stopped) return;
    const { dropped, swept, orphans } = await watched(this.deps.liveness.watch, (fn) => this.deps.store.mutate(fn), (tx: CronTx) => {
      this.deps.liveness.stamp(tx);
      const dropped = this.reconcile(tx);
      return { dropped, swept: this.deps.liveness.sweep(tx), orphans: this.dropOrphans(tx) };
    });
    this.deps.afterHeartbeat?.();
    this.forget(dropped);
    this.forget(orphans);
    if (swept.runs > 0 || swept.replicas.length > 0) {
      this.deps.logger.info({ runs: swept.runs, replicas: swept.replicas }, 'cron runs claimed by replicas that stopped (or by an earlier process) are pending again');
    }
    if (this.workers.size > 0 && this.waiting().length > 0) await this.dispatch();
  }

  /** Heartbeats every `lease.heartbeatMs` until `leave`. */
  startHeartbeat(): void {
    if (this.stopped || this.heartbeatTimer !== undefined) return;
    this.heartbeatTimer = this.deps.timers.set(
      () => {
        this.heartbeatTimer = undefined;
        this.track(
          this.heartbeat()
            .catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'the cron heartbeat failed; will retry'))
            .finally(() => this.startHeartbeat()),
        );
      },
      this.deps.liveness.lease.heartbeatMs,
      'heartbeat',
    );
  }

  /**
   * A clean stop: nothing more is claimed, this replica's runs go back to pending for the
   * others, and its heartbeat is deleted. Workers stay registered until they detach.
   */
  async leave(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeatTimer !== undefined) this.deps.timers.clear(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.unsubscribe();
    await this.idle();
    const me = this.replicaId;
    const returned = await this.deps.store.mutate((tx) => {
      let n = 0;
      for (const c of this.deps.store.allRuns()) {
        if (c.status !== 'running' || c.replicaId !== me) continue;
        const r = tx.run(c.runId);
        if (r?.status === 'running' && r.replicaId === me) {
          releaseRun(r);
          tx.put(r);
          n++;
        }
      }
      this.deps.liveness.leave(tx);
      return n;
    });
    this.assigned.clear();
    for (const w of this.workers.values()) w.inFlight.clear();
    if (returned > 0) this.deps.logger.info({ runs: returned }, 'cron runs of this replica are pending again for the others');
  }

  /** Resolves once the background work started so far (dispatch, releases, heartbeats) is done. */
  async idle(): Promise<void> {
    while (this.background.size > 0 || this.loop) {
      await Promise.all([...this.background, this.loop]);
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.background.add(p);
    void p.finally(() => this.background.delete(p)).catch(() => undefined);
    return p;
  }

  /** Pending runs of existing jobs that no worker here holds, oldest due first. */
  private waiting(): RunRecord[] {
    const out: RunRecord[] = [];
    for (const r of this.deps.store.allRuns()) {
      if (r.status === 'pending' && !this.assigned.has(r.runId) && !this.claiming.has(r.runId) && this.deps.store.job(r.jobId)) out.push(r);
    }
    return out.sort((a, b) => a.scheduledAtMs - b.scheduledAtMs || a.seq - b.seq);
  }

  /** One round: plan by load, claim in one transaction, deliver what was claimed. */
  private async pass(): Promise<void> {
    if (this.stopped || this.workers.size === 0) return;
    const waiting = this.waiting();
    if (waiting.length === 0) return;
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
    const me = this.replicaId;
    for (const id of plan.keys()) this.claiming.add(id);
    let claimed: Delivery[];
    try {
      claimed = await this.deps.store.mutate((tx) => {
        const out: Delivery[] = [];
        for (const [runId, worker] of plan) {
          if (this.workers.get(worker.workerId) !== worker) continue;
          // Re-checked on the committed state: another replica's worker may have it already.
          const run = tx.run(runId);
          if (!run || run.status !== 'pending') continue;
          const job = tx.job(run.jobId);
          if (!job) continue;
          claimRun(run, me, worker.workerId, now);
          tx.put(run);
          this.deps.stage(tx, { action: 'started', jobId: run.jobId, runId: run.runId, status: 'running', trigger: run.trigger, workerId: worker.workerId });
          out.push({ run, job, worker });
        }
        // Claims count while the heartbeat does: renewed with them.
        if (out.length > 0) this.deps.liveness.stamp(tx);
        return out;
      });
    } finally {
      for (const id of plan.keys()) this.claiming.delete(id);
    }
    const orphaned = new Map<Worker, string[]>();
    for (const d of claimed) {
      if (this.workers.get(d.worker.workerId) === d.worker) {
        this.assigned.set(d.run.runId, d.worker);
        d.worker.inFlight.add(d.run.runId);
      } else {
        // Detached while we claimed: give those back.
        orphaned.set(d.worker, [...(orphaned.get(d.worker) ?? []), d.run.runId]);
      }
    }
    for (const [w, ids] of orphaned) await this.releaseRuns(w.workerId, ids);
    for (const d of claimed) {
      // The worker may have detached, or completed the run, during an earlier delivery.
      if (this.assigned.get(d.run.runId) !== d.worker || this.workers.get(d.worker.workerId) !== d.worker) continue;
      try {
        d.worker.deliver(runOf(d.run), jobOf(d.job));
      } catch (err) {
        this.deps.logger.warn({ workerId: d.worker.workerId, runId: d.run.runId, err: (err as Error).message }, 'cron worker failed to take a run; detaching it');
        if (this.unregister(d.worker)) await this.release(d.worker);
        this.again = true;
      }
    }
  }

  private async detach(w: Worker): Promise<void> {
    if (!this.unregister(w)) return;
    await this.release(w);
    await this.dispatch();
  }

  /** Removes a worker from this replica's table; false if it was not (or no longer) registered. */
  private unregister(w: Worker): boolean {
    if (this.workers.get(w.workerId) !== w) return false;
    this.workers.delete(w.workerId);
    this.deps.logger.info({ workerId: w.workerId, returned: w.inFlight.size }, 'cron worker detached');
    return true;
  }

  /** Returns the runs a worker held back to pending. */
  private async release(w: Worker): Promise<void> {
    const runIds = [...w.inFlight];
    for (const id of runIds) this.unassign(id);
    await this.releaseRuns(w.workerId, runIds);
  }

  private async releaseRuns(workerId: string, runIds: string[]): Promise<void> {
    if (runIds.length === 0 || this.stopped) return;
    const me = this.replicaId;
    try {
      await this.deps.store.mutate((tx) => {
        for (const id of runIds) {
          const r = tx.run(id);
          if (r?.status === 'running' && r.replicaId === me && r.workerId === workerId) {
            releaseRun(r);
            tx.put(r);
          }
        }
      });
    } catch (err) {
      // They stay claimed by this replica until the next heartbeat puts them back.
      this.deps.logger.warn({ workerId, runs: runIds.length, err: (err as Error).message }, 'could not return cron runs to pending; the next heartbeat will');
    }
  }

  /**
   * In the heartbeat's transaction: runs this replica delivered that are pending again (it
   * was taken for dead) are claimed back for the worker still on them; runs finished,
   * deleted or now held elsewhere are forgotten (returned); runs claimed under this
   * replica that no worker here holds go back to pending.
   */
  private reconcile(tx: CronTx): string[] {
    const me = this.replicaId;
    const dropped: string[] = [];
    for (const [runId, w] of this.assigned) {
      const r = tx.run(runId);
      if (r?.status === 'running' && r.replicaId === me && r.workerId === w.workerId) continue;
      if (r?.status === 'pending' && this.workers.get(w.workerId) === w) {
        claimRun(r, me, w.workerId, this.deps.clock.now());
        tx.put(r);
        continue;
      }
      dropped.push(runId);
    }
    for (const c of this.deps.store.allRuns()) {
      if (c.status !== 'running' || c.replicaId !== me || this.assigned.has(c.runId) || this.claiming.has(c.runId)) continue;
      const r = tx.run(c.runId);
      if (r?.status === 'running' && r.replicaId === me && !this.assigned.has(r.runId)) {
        releaseRun(r);
        tx.put(r);
      }
    }
    return dropped;
  }

  /** Deletes runs whose job is gone (removed on a replica that had not heard of them yet). */
  private dropOrphans(tx: CronTx): string[] {
    const gone: string[] = [];
    for (const c of this.deps.store.allRuns()) {
      if (this.deps.store.job(c.jobId) || tx.job(c.jobId)) continue;
      if (tx.deleteRun(c.runId)) gone.push(c.runId);
    }
    return gone;
  }

  private unassign(runId: string): void {
    const w = this.assigned.get(runId);
    if (!w) return;
    this.assigned.delete(runId);
    w.inFlight.delete(runId);
  }
}

