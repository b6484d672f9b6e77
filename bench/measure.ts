/** Timing helpers shared by scenarios: a synchronous loop, a closed-loop async load, and statistics. */

export interface Measurement {
  /** Operations per second over the measured loop. */
  opsPerSec: number;
  /** Median and 99th-percentile time of one operation, ms. */
  p50: number;
  p99: number;
  iterations: number;
  elapsedMs: number;
}

/** The p-th percentile (nearest rank) of samples sorted ascending. */
export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  const i = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[i];
}

/** Median of unsorted numbers. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** p50 / p90 / p99 of unsorted samples (ms). */
export function latencyStats(samples: number[]): { p50: number; p90: number; p99: number; n: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), n: s.length };
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export function nowMs(): number {
  return performance.now();
}

/**
 * Wall-clock time in ms with sub-millisecond resolution: comparable between processes
 * of one machine (both read the same system clock), unlike performance.now().
 */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Rounds to `digits` decimals (figures in the JSON stay readable). */
export const round = (n: number, digits: number): number => Number(n.toFixed(digits));

/**
 * Runs `op(i)` `warmup` times unmeasured, then until both `minIterations` ran and
 * `minMs` passed (capped at `maxIterations`), timing each call.
 */
export function measureSync(
  op: (i: number) => void,
  limits: { warmup: number; minIterations: number; minMs: number; maxIterations?: number },
): Measurement {
  for (let i = 0; i < limits.warmup; i++) op(i);
  const samples: number[] = [];
  const max = limits.maxIterations ?? Number.MAX_SAFE_INTEGER;
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  for (let i = 0; i < max; i++) {
    const t0 = process.hrtime.bigint();
    op(limits.warmup + i);
    const t1 = process.hrtime.bigint();
    samples.push(Number(t1 - t0) / 1e6);
    elapsedNs = t1 - start;
    if (samples.length >= limits.minIterations && elapsedNs >= BigInt(limits.minMs) * 1_000_000n) break;
  }
  const elapsedMs = Number(elapsedNs) / 1e6;
  samples.sort((a, b) => a - b);
  return {
    opsPerSec: samples.length / (elapsedMs / 1000),
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    iterations: samples.length,
    elapsedMs,
  };
}

/**
 * Closed-loop async load: `concurrency` workers each call `op()` again as soon as the
 * previous call finished, for `durationMs` (bounded by `maxOps` in total). Latency of
 * every call is recorded; a failed call aborts the run.
 */
export async function measureClosedLoop(
  op: () => Promise<unknown>,
  limits: { concurrency: number; durationMs: number; maxOps?: number },
): Promise<Measurement> {
  const samples: number[] = [];
  const maxOps = limits.maxOps ?? 10_000_000;
  const start = nowMs();
  const deadline = start + limits.durationMs;
  let started = 0;
  let end = start;
  const worker = async (): Promise<void> => {
    while (started < maxOps && nowMs() < deadline) {
      started++;
      const t0 = nowMs();
      await op();
      const t1 = nowMs();
      samples.push(t1 - t0);
      end = Math.max(end, t1);
    }
  };
  await Promise.all(Array.from({ length: limits.concurrency }, worker));
  const elapsedMs = end - start;
  samples.sort((a, b) => a - b);
  return {
    opsPerSec: samples.length / (elapsedMs / 1000),
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    iterations: samples.length,
    elapsedMs,
  };
}

/**
 * Runs `op` sequentially `n` times after `warmup` unmeasured runs and returns the
 * per-run times (ms). For latency figures where each run is slow (connect, spawn).
 */
export async function sampleSequential(op: (i: number) => Promise<number | void>, n: number, warmup = 0): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await op(-1 - i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = nowMs();
    const reported = await op(i);
    out.push(typeof reported === 'number' ? reported : nowMs() - t0);
  }
  return out;
}

/** A promise that rejects after `ms` with `what` (guards every wait in the harness). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
