import type { Clock } from '../../clock';

/** How a watch is tuned. */
export interface BeatWatchOptions {
  /** This process's monotonic clock (see `monotonicClock`): durations here, never timestamps written elsewhere. */
  clock: Clock;
  /** How long a beat may stay the same, in this process's time of unbroken contact with the store, before its holder counts as gone. */
  leaseMs: number;
  /** How often holders beat (at most). */
  beatEveryMs: number;
}

/**
 * Judges whether other processes still hold what they claimed (a cron replica its runs,
 * a turn its session, an approval its request) without comparing clocks: each holder
 * writes a beat (a counter) into the store while it lives, and this process decides a
 * holder is gone only when it has seen the same beat for longer than `leaseMs` of its
 * own monotonic time, during which it was in contact with the store itself.
 *
 * Contact: the store answered this process (a transaction ran, or committed) at least
 * every `leaseMs - 1.5 * beatEveryMs`. A gap longer than that (the database was
 * unreachable, failed over or stalled on a lock, or this process was paused) or a failed
 * transaction starts the count again at the next answer: a holder that could not write
 * its beat for the same reason is not taken for gone. The 1.5 beats left over cover one
 * beat interval of the holder plus latency on both sides, hence `leaseMs >= 3 * beatEveryMs`.
 */
export class BeatWatch {
  private readonly seen = new Map<string, { beat: string; at: number }>();
  /** When the current unbroken contact began (undefined: none yet, or it broke). */
  private since?: number;
  /** When the store last answered. */
  private last?: number;
  /** The longest silence of the store that does not break contact. */
  readonly maxGapMs: number;

  constructor(private readonly opts: BeatWatchOptions) {
    if (!(opts.leaseMs >= 3 * opts.beatEveryMs)) throw new RangeError(`a lease of ${opts.leaseMs} ms is shorter than three beats of ${opts.beatEveryMs} ms`);
    this.maxGapMs = opts.leaseMs - 1.5 * opts.beatEveryMs;
  }

  /** The store answered this process now (a transaction ran or committed). */
  answered(): void {
    const now = this.opts.clock.now();
    if (this.last === undefined || now - this.last > this.maxGapMs) this.since = now;
    this.last = now;
  }

  /** The store failed this process (an error, a transaction that did not commit): contact counts again from the next answer. */
  failed(): void {
    this.since = undefined;
    this.last = undefined;
  }

  /**
   * Whether the holder of `key` is gone: its beat has been `beat` for more than `leaseMs`
   * of unbroken contact. A beat not seen before (or changed) is noted and the holder is
   * alive. Without contact right now, nobody is gone.
   */
  gone(key: string, beat: string | number): boolean {
    const now = this.opts.clock.now();
    const b = String(beat);
    const s = this.seen.get(key);
    if (!s || s.beat !== b) {
      this.seen.set(key, { beat: b, at: now });
      return false;
    }
    if (this.since === undefined || this.last === undefined || now - this.last > this.maxGapMs) return false;
    return now - Math.max(s.at, this.since) > this.opts.leaseMs;
  }

  /** Forgets every key but these (holders that left). */
  keepOnly(keys: Iterable<string>): void {
    const keep = new Set(keys);
    for (const k of [...this.seen.keys()]) if (!keep.has(k)) this.seen.delete(k);
  }
}

/**
 * Runs a store transaction and tells the watch how the store answered: the function ran
 * and the commit came back (answered twice), or the store failed (failed). An error the
 * function throws itself (a refusal) is an answer, not a failure.
 */
export async function watched<T, R>(watch: BeatWatch, mutate: (fn: (tx: T) => R) => Promise<R>, fn: (tx: T) => R): Promise<R> {
  let refused = false;
  try {
    const out = await mutate((tx) => {
      watch.answered();
      try {
        return fn(tx);
      } catch (err) {
        refused = true;
        throw err;
      }
    });
    watch.answered();
    return out;
  } catch (err) {
    if (refused) watch.answered();
    else watch.failed();
    throw err;
  }
}
