/**
 * Benchmark command line: `npm run bench [-- --quick] [--out FILE] [--markdown] [scenario ...]`.
 * Runs the listed scenarios (all by default; see bench/harness.ts), prints the machine
 * and a table, and writes bench-results/latest.json. Exit 1 when a scenario failed,
 * 2 on bad usage; skipped scenarios (component missing) do not fail the run.
 */
import { relative, resolve } from 'node:path';
import { DEFAULT_RESULTS_FILE, formatReport, machineInfo, machineLine, markdownTable, runScenarios, selectScenarios, writeReport } from './harness';
import type { Scenario } from './types';

// grpc-js passes IP addresses as TLS server names (DEP0123 on every connection): noise here.
process.noDeprecation = true;
// Ctrl-C: exit through process.exit so the scratch folder is removed; children follow (IPC disconnect).
process.once('SIGINT', () => process.exit(130));

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const markdown = args.includes('--markdown');
  const outIdx = args.indexOf('--out');
  const out = outIdx >= 0 ? resolve(args[outIdx + 1] ?? '') : DEFAULT_RESULTS_FILE;
  const names = args.filter((a, i) => !a.startsWith('--') && !(outIdx >= 0 && i === outIdx + 1));
  let scenarios: Scenario[];
  try {
    scenarios = selectScenarios(names);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  process.stdout.write(machineLine(machineInfo(), quick) + '\n\n');
  const report = await runScenarios(scenarios, { quick, log: (line) => process.stdout.write(line + '\n') });
  process.stdout.write('\n' + formatReport(report) + '\n');
  if (markdown) process.stdout.write('\n' + markdownTable(report) + '\n');
  const file = writeReport(report, out);
  process.stdout.write(`\nwrote ${relative(process.cwd(), file) || file}\n`);
  if (report.summary.failed.length > 0) process.exitCode = 1;
}

main().then(
  // Bench servers are children on IPC: make sure nothing keeps the harness alive.
  () => setTimeout(() => process.exit(), 100).unref(),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
