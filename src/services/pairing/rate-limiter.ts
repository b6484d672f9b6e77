import type { Clock } from '../../clock';

/** Size and refill rate of a token bucket. */
export interface BucketSpec {
  capacity: number;
  perMinute: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Default hard cap on per-key buckets: a few MB at most, whatever the callers send. */
export const MAX_RATE_KEYS = 50_000;
/** Stale buckets are dropped every this many calls, refused or not. */
const PRUNE_EVERY = 1024;

/**
 * A token bucket per key (e.g. per peer address) plus one global bucket, so that one
 * noisy client cannot fill the pairing queue and many cannot together. Memory is
 * bounded: at most `maxKeys` per-key buckets, and a key refused by the global bucket
 * gets none.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly globalBucket: Bucket;
  private calls = 0;
  /** No per-key bucket can be full (droppable) before this time, so pruning earlier is useless. */
  private staleFrom = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly perKey: BucketSpec,
    private readonly global: BucketSpec,
    private readonly maxKeys = MAX_RATE_KEYS,
  ) {
    this.globalBucket = { tokens: global.capacity, at: clock.now() };
  }

  /** How many per-key buckets are held (for tests and diagnostics). */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `key`; false when either bucket is empty or no bucket can be kept for a new key. */
  take(key: string): boolean {
    const now = this.clock.now();
    if (++this.calls % PRUNE_EVERY === 0) this.prune(now);
    // The global bucket first: while it is empty, callers cost no memory.
    const g = refill(this.globalBucket, this.global, now);
    if (g.tokens < 1) return false;
    let k = this.buckets.get(key);
    if (k) {
      refill(k, this.perKey, now);
    } else {
      if (this.buckets.size >= this.maxKeys) this.prune(now);
      if (this.buckets.size >= this.maxKeys) return false;
      k = { tokens: this.perKey.capacity, at: now };
      this.buckets.set(key, k);
    }
    if (k.tokens < 1) {
      this.noteFullAt(k);
      return false;
    }
    g.tokens -= 1;
    k.tokens -= 1;
    this.noteFullAt(k);
    return true;
  }

  private noteFullAt(b: Bucket): void {
    this.staleFrom = Math.min(this.staleFrom, fullAt(b, this.perKey));
  }

  /** Drops buckets that have refilled completely: a fresh bucket for the key would be the same. */
  private prune(now: number): void {
    if (now < this.staleFrom) return;
    let next = Infinity;
    for (const [key, b] of this.buckets) {
      const full = fullAt(b, this.perKey);
      if (full <= now) this.buckets.delete(key);
      else next = Math.min(next, full);
    }
    this.staleFrom = next;
  }
}

function refill(b: Bucket, spec: BucketSpec, now: number): Bucket {
  // A clock that stepped back (NTP, a test) must not drain the bucket: no refill, no debt.
  b.tokens = Math.min(spec.capacity, b.tokens + (Math.max(0, now - b.at) / 60_000) * spec.perMinute);
  b.at = now;
  return b;
}

/** When a bucket will be full again if nobody takes from it. */
function fullAt(b: Bucket, spec: BucketSpec): number {
  if (b.tokens >= spec.capacity) return b.at;
  return spec.perMinute > 0 ? b.at + ((spec.capacity - b.tokens) / spec.perMinute) * 60_000 : Infinity;
}
