/**
 * Benchmark harness: `npm run bench [-- --quick] [scenario ...]`. Runs the listed
 * scenarios (all by default), prints the machine and a table, and writes
 * bench-results/latest.json. To add a scenario, add it to SCENARIOS.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { formatTable } from '../src/cli/format';
import * as issuance from './scenarios/issuance';
import type { Figure, Scenario, ScenarioResult } from './types';

const SCENARIOS: Scenario[] = [{ name: 'issuance', run: issuance.run }];

/** The repository root (this file runs from dist/bench). */
const ROOT = resolve(__dirname, '..', '..');

function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    node: process.version,
    os: `${platform()} ${release()}`,
    memoryGb: Math.round(totalmem() / 2 ** 30),
  };
}

function fmt(n: number | undefined): string {
  if (n === undefined) return '';
  return n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toFixed(3);
}

function row(scenario: string, f: Figure): string[] {
  return [
    scenario,
    f.name,
    `${fmt(f.value)} ${f.unit}`,
    fmt(f.p50),
    fmt(f.p99),
    f.baseline ? `${fmt(f.ratio)}x ${f.baseline.name} (${fmt(f.baseline.value)})` : '',
    f.target ? `${f.target}: ${f.met ? 'met' : 'NOT met'}` : '',
  ];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown scenario ${unknown.join(', ')} (known: ${SCENARIOS.map((s) => s.name).join(', ')})\n`);
    process.exitCode = 2;
    return;
  }
  const selected = names.length > 0 ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS;

  const m = machine();
  const startedAt = new Date().toISOString();
  process.stdout.write(`machine: ${m.cpu}, ${m.cores} cores, node ${m.node}, ${m.os}${quick ? ' (quick)' : ''}\n\n`);

  const results: ScenarioResult[] = [];
  for (const s of selected) {
    process.stdout.write(`running ${s.name}...\n`);
    results.push(await s.run({ quick }));
  }

  const rows = results.flatMap((r) => r.figures.map((f) => row(r.scenario, f)));
  process.stdout.write('\n' + formatTable(['SCENARIO', 'FIGURE', 'VALUE', 'P50 MS', 'P99 MS', 'VS BASELINE', 'TARGET'], rows) + '\n');
  const notes = results.flatMap((r) => (r.notes ?? []).map((n) => `  ${r.scenario}: ${n}`));
  if (notes.length > 0) process.stdout.write('\nnotes:\n' + notes.join('\n') + '\n');

  const outDir = join(ROOT, 'bench-results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'latest.json');
  writeFileSync(file, JSON.stringify({ machine: m, startedAt, quick, results }, null, 2) + '\n');
  process.stdout.write(`\nwrote ${relative(process.cwd(), file) || file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
