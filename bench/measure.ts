/** A small synchronous timing loop shared by scenarios. */

export interface Measurement {
  /** Operations per second over the measured loop. */
  opsPerSec: number;
  /** Median and 99th-percentile time of one operation, ms. */
  p50: number;
  p99: number;
  iterations: number;
  elapsedMs: number;
}

function percentile(sortedMs: number[], p: number): number {
  const i = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[i];
}

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
