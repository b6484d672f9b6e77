/** Shapes shared by the benchmark harness (bench/run.ts) and its scenarios. */

/** One measured number, optionally compared with a baseline and a target. */
export interface Figure {
  name: string;
  unit: string;
  value: number;
  /** Median latency of one operation, in milliseconds. */
  p50?: number;
  /** 99th-percentile latency of one operation, in milliseconds. */
  p99?: number;
  /** What `value` is compared with (measured in the same run). */
  baseline?: { name: string; value: number };
  /** value / baseline.value. */
  ratio?: number;
  /** The goal, as text (e.g. ">= 500/s native"). */
  target?: string;
  /** Whether the target was met. */
  met?: boolean;
}

/** What one scenario reports. */
export interface ScenarioResult {
  scenario: string;
  figures: Figure[];
  notes?: string[];
}

/** Options every scenario gets. */
export interface ScenarioOptions {
  /** Fewer iterations (CI, smoke runs): the whole scenario stays well under 10 s. */
  quick: boolean;
}

/** A scenario the harness can run. */
export interface Scenario {
  name: string;
  run(opts: ScenarioOptions): Promise<ScenarioResult>;
}
