/**
 * Failed credential attempts per client address, as the legacy gateway limits them: after
 * `maxFailures` wrong shared tokens or device tokens within a minute, an address is locked
 * out for `lockoutMs` (its attempts are refused with `rate_limited` before any comparison),
 * so neither the WebSocket connect nor `/control-ui-config.json` is an unlimited oracle for
 * guessing the shared token. Loopback addresses are not locked out unless asked (a local
 * CLI with a stale token must not lock its user out). Bounded memory: at most `maxEntries`
 * addresses are tracked; the oldest go first.
 */
import type { Clock } from '../../clock';
import { isLoopbackHost } from './exposure';

const WINDOW_MS = 60_000;

export interface AuthFailureLimits {
  maxFailures: number;
  lockoutMs: number;
  /** Lock out loopback addresses too (tests; default: exempt). */
  limitLoopback?: boolean;
  maxEntries?: number;
}

export class AuthFailures {
  private readonly entries = new Map<string, { failures: number[]; lockedUntil: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly limits: AuthFailureLimits,
  ) {}

  /** Milliseconds until `address` may try again; 0 when it may now. */
  retryAfterMs(address: string): number {
    const e = this.entries.get(key(address));
    if (!e) return 0;
    return Math.max(0, e.lockedUntil - this.clock.now());
  }

  /** Counts a wrong credential from `address`; locks it out past the limit. Returns whether it is now locked out. */
  fail(address: string): boolean {
    const k = key(address);
    if (!this.limits.limitLoopback && isLoopbackHost(k)) return false;
    const now = this.clock.now();
    const e = this.entries.get(k) ?? { failures: [], lockedUntil: 0 };
    this.entries.delete(k);
    e.failures = e.failures.filter((t) => now - t < WINDOW_MS);
    e.failures.push(now);
    if (e.failures.length >= this.limits.maxFailures) {
      e.lockedUntil = now + this.limits.lockoutMs;
      e.failures = [];
    }
    this.entries.set(k, e);
    const max = this.limits.maxEntries ?? 10_000;
    while (this.entries.size > max) this.entries.delete(this.entries.keys().next().value as string);
    return e.lockedUntil > now;
  }

  /** A credential from `address` was right: its failures are forgotten. */
  succeed(address: string): void {
    this.entries.delete(key(address));
  }
}

const key = (address: string) => address.replace(/^::ffff:/, '');
