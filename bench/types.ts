/** Shapes shared by the benchmark harness (bench/harness.ts) and its scenarios. */

/** One measured number, optionally compared with a baseline and a target. */
export interface Figure {
  name: string;
  unit: string;
  value: number;
  /** Median latency of one operation, in milliseconds. */
  p50?: number;
  /** 90th-percentile latency, ms (small samples, e.g. process spawns, where p99 would be the maximum). */
  p90?: number;
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
  /** Set when the scenario did not run because a component it needs is missing (not a failure). */
  skipped?: string;
  /** Set when the scenario failed while measuring (the harness exits non-zero). */
  error?: string;
  /** Wall time of the scenario, ms (set by the harness). */
  elapsedMs?: number;
}

/** Options every scenario gets. */
export interface ScenarioOptions {
  /** Fewer iterations (CI, smoke runs): the whole scenario stays well under 10 s. */
  quick: boolean;
  /** Progress lines (the harness prints them; tests pass a no-op). */
  log?: (line: string) => void;
}

/** A scenario the harness can run. */
export interface Scenario {
  name: string;
  /** One line: what it measures and against what. */
  description: string;
  run(opts: ScenarioOptions): Promise<ScenarioResult>;
}

/** Thrown by a scenario when a component it needs is not there (yet): the harness records a skip. */
export class ComponentMissing extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComponentMissing';
  }
}
