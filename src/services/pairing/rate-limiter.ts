import type { Clock } from '../../clock';

/**
 * A token bucket per key (e.g. per peer address) plus one global bucket, so that one
 * noisy client cannot fill the pairing queue and many cannot together.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly perKey: { capacity: number; perMinute: number },
    private readonly global: { capacity: number; perMinute: number },
  ) {}

  /** Takes one token for `key`; false when either bucket is empty. */
  take(key: string): boolean {
    const now = this.clock.now();
    const g = this.refill('\0global', this.global, now);
    const k = this.refill(key, this.perKey, now);
    if (g.tokens < 1 || k.tokens < 1) return false;
    g.tokens -= 1;
    k.tokens -= 1;
    if (this.buckets.size > 10_000) this.prune(now);
    return true;
  }

  private refill(key: string, spec: { capacity: number; perMinute: number }, now: number) {
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: spec.capacity, at: now };
      this.buckets.set(key, b);
    }
    // A clock that stepped back (NTP, a test) must not drain the bucket: no refill, no debt.
    b.tokens = Math.min(spec.capacity, b.tokens + (Math.max(0, now - b.at) / 60_000) * spec.perMinute);
    b.at = now;
    return b;
  }

  private prune(now: number): void {
    for (const [k, b] of this.buckets) if (now - b.at > 10 * 60_000) this.buckets.delete(k);
  }
}
