import type { Clock } from '../../clock';

/** How an agent run ended, as `agent.wait` reports it. */
export interface RunOutcome {
  runId: string;
  status: 'ok' | 'error' | 'aborted';
  startedAt?: number;
  endedAt: number;
  error?: string;
}

/** Lifecycle phases that end a run, mapped to the outcome status. */
const END_PHASES: Record<string, RunOutcome['status']> = { end: 'ok', error: 'error', aborted: 'aborted' };

/**
 * Remembers how recent agent runs ended, so `agent.wait` can answer for runs that
 * finished before it was called, and wakes waiters when a run ends. It learns from
 * turns started through the bridge and, while someone waits, from `agent` events.
 */
export class RunTracker {
  private readonly ended = new Map<string, RunOutcome>();
  private readonly started = new Map<string, number>();
  private readonly waiters = new Map<string, Set<(o: RunOutcome) => void>>();

  constructor(
    private readonly clock: Clock,
    private readonly keep = 1000,
  ) {}

  /** Whether `agent` events need a look (someone is waiting). */
  get hasWaiters(): boolean {
    return this.waiters.size > 0;
  }

  /** Records the start of a run. */
  start(runId: string, at: number): void {
    this.started.set(runId, at);
    if (this.started.size > this.keep) this.started.delete(this.started.keys().next().value as string);
  }

  /** Records the end of a run and wakes its waiters. */
  end(outcome: RunOutcome): void {
    if (!outcome.runId) return;
    const full = { ...outcome, startedAt: outcome.startedAt ?? this.started.get(outcome.runId) };
    this.started.delete(outcome.runId);
    this.ended.set(outcome.runId, full);
    if (this.ended.size > this.keep) this.ended.delete(this.ended.keys().next().value as string);
    const set = this.waiters.get(outcome.runId);
    this.waiters.delete(outcome.runId);
    for (const fn of set ?? []) fn(full);
  }

  /** Looks at an `agent` event payload (only while someone waits) for a lifecycle end. */
  observeAgentEvent(payloadJson: string): void {
    let p: { runId?: unknown; stream?: unknown; data?: { phase?: unknown; error?: unknown }; ts?: unknown };
    try {
      p = JSON.parse(payloadJson) as typeof p;
    } catch {
      return;
    }
    if (typeof p.runId !== 'string' || !this.waiters.has(p.runId)) return;
    const phase = typeof p.data?.phase === 'string' ? p.data.phase : '';
    if (phase === 'start' && typeof p.ts === 'number') this.start(p.runId, p.ts);
    const status = END_PHASES[phase];
    if (!status) return;
    this.end({ runId: p.runId, status, endedAt: typeof p.ts === 'number' ? p.ts : this.clock.now(), error: typeof p.data?.error === 'string' ? p.data.error : undefined });
  }

  /** Resolves with the run's outcome, or `undefined` on timeout or abort. */
  wait(runId: string, timeoutMs: number, signal: AbortSignal): Promise<RunOutcome | undefined> {
    const done = this.ended.get(runId);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => {
      let set = this.waiters.get(runId);
      if (!set) this.waiters.set(runId, (set = new Set()));
      const finish = (o: RunOutcome | undefined): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        set!.delete(listener);
        if (set!.size === 0 && this.waiters.get(runId) === set) this.waiters.delete(runId);
        resolve(o);
      };
      const listener = (o: RunOutcome): void => finish(o);
      const onAbort = (): void => finish(undefined);
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      set.add(listener);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
