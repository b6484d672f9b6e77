/**
 * The benchmark harness as an API (bench/run.ts is its command line; the smoke test
 * uses it directly): the scenario list, running scenarios one after another (a missing
 * component is a skip with a note, an error is recorded and the run goes on), the
 * report with the machine line, the table, and the JSON file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { formatTable } from '../src/cli/format';
import { releaseScratch } from './lib/fixture';
import { ComponentMissing, type Figure, type Scenario, type ScenarioResult } from './types';
import * as issuance from './scenarios/issuance';
import * as pairing from './scenarios/pairing';
import * as connect from './scenarios/connect';
import * as unary from './scenarios/unary';
import * as fanout from './scenarios/fanout';
import * as bridge from './scenarios/bridge';
import * as cli from './scenarios/cli';
import * as startup from './scenarios/startup';
import * as chat from './scenarios/chat';
import * as cron from './scenarios/cron';
import * as storage from './scenarios/storage';
import * as scaleOut from './scenarios/scale-out';
import * as cronGrowth from './scenarios/cron-growth';
import * as realGateway from './scenarios/real-gateway';

/** Every scenario, in the order a full run goes through them. */
export const SCENARIOS: readonly Scenario[] = [issuance, pairing, connect, unary, fanout, bridge, cli, startup, chat, cron, cronGrowth, storage, scaleOut, realGateway].map((m) => m.scenario);

/** The repository root (this file runs from dist/bench). */
export const ROOT = resolve(__dirname, '..', '..');

/** Where `npm run bench` writes its JSON. */
export const DEFAULT_RESULTS_FILE = resolve(ROOT, 'bench-results', 'latest.json');

/** The machine a run happened on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  os: string;
  memoryGb: number;
}

/** A whole run, as written to the JSON file. */
export interface BenchReport {
  machine: MachineInfo;
  startedAt: string;
  quick: boolean;
  wallMs: number;
  results: ScenarioResult[];
  summary: { scenarios: number; skipped: string[]; failed: string[]; targets: number; met: number; notMet: string[] };
}

/** CPU model, cores, Node version, OS, memory. */
export function machineInfo(): MachineInfo {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    node: process.version,
    os: `${platform()} ${release()}`,
    memoryGb: Math.round(totalmem() / 2 ** 30),
  };
}

/** One line describing the machine. */
export function machineLine(m: MachineInfo, quick: boolean): string {
  return `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, node ${m.node}, ${m.os}${quick ? ' (quick)' : ''}`;
}

/** Looks scenarios up by name; throws on unknown names. All of them when `names` is empty. */
export function selectScenarios(names: readonly string[]): Scenario[] {
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')} (known: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  return names.length > 0 ? SCENARIOS.filter((s) => names.includes(s.name)) : [...SCENARIOS];
}

/** Runs one scenario; a missing component becomes `skipped`, any other error `error`. */
export async function runScenario(s: Scenario, opts: { quick: boolean; log?: (line: string) => void }): Promise<ScenarioResult> {
  const t0 = performance.now();
  let result: ScenarioResult;
  try {
    result = await s.run({ quick: opts.quick, log: opts.log });
  } catch (err) {
    if (err instanceof ComponentMissing) result = { scenario: s.name, figures: [], skipped: err.message };
    else result = { scenario: s.name, figures: [], error: (err as Error)?.stack ?? String(err) };
  }
  result.elapsedMs = Math.round(performance.now() - t0);
  return result;
}

/** Runs scenarios in order and builds the report. */
export async function runScenarios(scenarios: readonly Scenario[], opts: { quick: boolean; log?: (line: string) => void }): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const results: ScenarioResult[] = [];
  try {
    for (const s of scenarios) {
      opts.log?.(`running ${s.name}: ${s.description}`);
      const r = await runScenario(s, opts);
      opts.log?.(`  ${s.name}: ${r.skipped ? `skipped (${r.skipped})` : r.error ? `FAILED: ${r.error.split('\n')[0]}` : `${r.figures.length} figures`} in ${((r.elapsedMs ?? 0) / 1000).toFixed(1)} s`);
      results.push(r);
    }
  } finally {
    // Every scenario has stopped its servers by now: their state copies can go.
    releaseScratch();
  }
  return buildReport(results, { quick: opts.quick, startedAt, wallMs: Math.round(performance.now() - t0) });
}

/** Normalizes figures (every figure has `target` and `met`, null when it has no target) and sums up. */
export function buildReport(results: ScenarioResult[], run: { quick: boolean; startedAt: string; wallMs: number; machine?: MachineInfo }): BenchReport {
  const withTargets = results.map((r) => ({ ...r, figures: r.figures.map((f) => ({ ...f, target: f.target ?? null, met: f.target ? Boolean(f.met) : null }) as unknown as Figure) }));
  const targeted = withTargets.flatMap((r) => r.figures.filter((f) => f.target).map((f) => ({ scenario: r.scenario, f })));
  return {
    machine: run.machine ?? machineInfo(),
    startedAt: run.startedAt,
    quick: run.quick,
    wallMs: run.wallMs,
    results: withTargets,
    summary: {
      scenarios: results.length,
      skipped: results.filter((r) => r.skipped).map((r) => r.scenario),
      failed: results.filter((r) => r.error).map((r) => r.scenario),
      targets: targeted.length,
      met: targeted.filter((t) => t.f.met).length,
      notMet: targeted.filter((t) => !t.f.met).map((t) => `${t.scenario}: ${t.f.name}`),
    },
  };
}

/** Writes the report as JSON (creating the folder); returns the file. */
export function writeReport(report: BenchReport, file: string = DEFAULT_RESULTS_FILE): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}

function fmt(n: number | undefined | null): string {
  if (n === undefined || n === null || Number.isNaN(n)) return '';
  const a = Math.abs(n);
  return a >= 100 ? n.toFixed(0) : a >= 1 ? n.toFixed(2) : n.toFixed(3);
}

function row(scenario: string, f: Figure): string[] {
  return [
    scenario,
    f.name,
    `${fmt(f.value)} ${f.unit}`,
    fmt(f.p50),
    f.p99 === undefined && f.p90 !== undefined ? `${fmt(f.p90)} (p90)` : fmt(f.p99),
    f.baseline ? `${f.ratio === undefined ? '' : f.ratio.toFixed(2)}x ${f.baseline.name} (${fmt(f.baseline.value)})` : '',
    f.target ? `${f.target}: ${f.met ? 'met' : 'NOT met'}` : '',
  ];
}

/** The plain-text report: table, skips, failures, notes, summary. */
export function formatReport(report: BenchReport): string {
  const rows = report.results.flatMap((r) => r.figures.map((f) => row(r.scenario, f)));
  const out: string[] = [formatTable(['SCENARIO', 'FIGURE', 'VALUE', 'P50 MS', 'P99 MS', 'VS BASELINE (SAME RUN)', 'TARGET'], rows)];
  const skipped = report.results.filter((r) => r.skipped);
  if (skipped.length) out.push('', 'skipped:', ...skipped.map((r) => `  ${r.scenario}: ${r.skipped}`));
  const failed = report.results.filter((r) => r.error);
  if (failed.length) out.push('', 'FAILED:', ...failed.map((r) => `  ${r.scenario}: ${r.error}`));
  const notes = report.results.flatMap((r) => (r.notes ?? []).map((n) => `  ${r.scenario}: ${n}`));
  if (notes.length) out.push('', 'notes:', ...notes);
  const s = report.summary;
  out.push('', `targets met: ${s.met}/${s.targets}${s.notMet.length ? ` (not met: ${s.notMet.join('; ')})` : ''}; wall time ${(report.wallMs / 1000).toFixed(1)} s`);
  return out.join('\n');
}

/** The markdown table of a report (for the README's Performance section). */
export function markdownTable(report: BenchReport): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = ['| scenario | figure | value | p50 ms | p99 ms | vs baseline (same run) | target |', '|---|---|---|---|---|---|---|'];
  for (const r of report.results) {
    if (r.skipped) lines.push(`| ${r.scenario} | skipped: ${esc(r.skipped)} | | | | | |`);
    for (const f of r.figures) lines.push(`| ${row(r.scenario, f).map(esc).join(' | ')} |`);
  }
  return lines.join('\n');
}
