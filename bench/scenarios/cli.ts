/**
 * Cold CLI commands: `openclaw-cli health` and `openclaw-cli cron list` spawned from the
 * build (a new Node process each time: module loading, TLS handshake with the cli
 * certificate, one or two calls, exit) against a running gateway (child process),
 * wall time from spawn to exit. Baseline: `node -e 0` spawned the same way (the
 * floor any Node CLI pays). Samples alternate between the commands.
 *
 * "Fresh HOME": `cron list` with a new empty HOME every run and no cache settings, as
 * `docker compose run --rm openclaw-cli` runs it: the compile cache then comes from the
 * folder beside the installed code (dist/compile-cache), which two earlier runs filled
 * (an image build does that with dist/src/cli/warm-compile-cache.js). Target: median
 * <= 2.4x `node -e 0` of the same loop.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stopAll } from '../lib/child';
import { scratchDir } from '../lib/fixture';
import { BIN_DIR } from '../lib/gateway-process';
import { startGatewayChild } from '../lib/servers';
import { latencyStats, nowMs, round, withTimeout } from '../measure';
import { ComponentMissing, type Figure, type Scenario, type ScenarioOptions, type ScenarioResult } from '../types';

const TARGET_MS = 150;
const TARGET_FRESH_HOME_RATIO = 2.4;

interface Spawned {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

function timeSpawn(args: string[], env: NodeJS.ProcessEnv): Promise<Spawned> {
  const t0 = nowMs();
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return withTimeout(
    new Promise<Spawned>((resolve) => proc.once('exit', (code) => resolve({ ms: nowMs() - t0, code, stdout, stderr }))),
    15_000,
    `node ${args.join(' ')}`,
  ).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const cliBin = join(BIN_DIR, 'openclaw-cli.js');
  if (!existsSync(cliBin)) throw new ComponentMissing(`${cliBin} is not built (openclaw-cli missing)`);
  const samples = opts.quick ? 3 : 30;
  const gw = await startGatewayChild();
  try {
    const env = { ...process.env, OPENCLAW_STATE_DIR: gw.info.stateDir, NO_COLOR: '1' };
    const common = ['--certs', gw.info.identities.cli, '--gateway', gw.info.address];
    const commands = {
      health: [cliBin, 'health', ...common],
      'cron list': [cliBin, 'cron', 'list', ...common],
      'cron list, fresh HOME': [cliBin, 'cron', 'list', ...common],
      'node -e 0': ['-e', '0'],
    };
    type Cmd = keyof typeof commands;
    // A new empty HOME for every run, and nothing that points the cache elsewhere.
    const freshHomeEnv = (): NodeJS.ProcessEnv => {
      const home = mkdtempSync(join(scratchDir(), 'fresh-home-'));
      const e: NodeJS.ProcessEnv = { ...env, HOME: home };
      delete e.XDG_CACHE_HOME;
      delete e.OPENCLAW_CLI_COMPILE_CACHE;
      return e;
    };
    const spawnOne = async (c: Cmd): Promise<Spawned> => {
      if (c !== 'cron list, fresh HOME') return timeSpawn(commands[c], env);
      const e = freshHomeEnv();
      try {
        return await timeSpawn(commands[c], e);
      } finally {
        rmSync(e.HOME!, { recursive: true, force: true });
      }
    };
    // Probe: a CLI that exists but cannot run these commands yet is a missing component.
    // Two fresh-HOME runs fill the cache beside the installed code, as an install would.
    for (const c of ['health', 'cron list', 'cron list, fresh HOME', 'cron list, fresh HOME'] as Cmd[]) {
      const r = await spawnOne(c);
      if (r.code !== 0) throw new ComponentMissing(`openclaw-cli ${c} exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
    }
    const times: Record<Cmd, number[]> = { health: [], 'cron list': [], 'cron list, fresh HOME': [], 'node -e 0': [] };
    const order = Object.keys(commands) as Cmd[];
    for (let i = 0; i < samples; i++) {
      for (const c of i % 2 === 0 ? order : [...order].reverse()) {
        const r = await spawnOne(c);
        if (r.code !== 0) throw new Error(`${c} exited ${r.code}: ${r.stderr.trim()}`);
        times[c].push(r.ms);
      }
    }
    const floor = latencyStats(times['node -e 0']);
    const figures: Figure[] = (['health', 'cron list'] as Cmd[]).map((c) => {
      const s = latencyStats(times[c]);
      return {
        name: `cold "openclaw-cli ${c}" (spawn to exit)`,
        unit: 'ms median',
        value: round(s.p50, 1),
        p50: round(s.p50, 1),
        p90: round(s.p90, 1),
        baseline: { name: 'node -e 0', value: round(floor.p50, 1) },
        ratio: round(s.p50 / floor.p50, 2),
        target: `<= ${TARGET_MS} ms median`,
        met: s.p50 <= TARGET_MS,
      };
    });
    const fresh = latencyStats(times['cron list, fresh HOME']);
    const freshRatio = fresh.p50 / floor.p50;
    figures.push({
      name: 'CLI cold start, fresh HOME: "openclaw-cli cron list" (spawn to exit)',
      unit: 'ms median',
      value: round(fresh.p50, 1),
      p50: round(fresh.p50, 1),
      p90: round(fresh.p90, 1),
      baseline: { name: 'node -e 0, same loop', value: round(floor.p50, 1) },
      ratio: round(freshRatio, 2),
      target: `<= ${TARGET_FRESH_HOME_RATIO}x node -e 0 (median)`,
      met: freshRatio <= TARGET_FRESH_HOME_RATIO,
    });
    figures.push({ name: 'node -e 0 (spawn to exit)', unit: 'ms median', value: round(floor.p50, 1), p50: round(floor.p50, 1), p90: round(floor.p90, 1) });
    return {
      scenario: 'cli',
      figures,
      notes: [
        `${samples} runs per command, alternating; p90 instead of p99 (small sample); --certs <state>/identities/cli --gateway 127.0.0.1:<port>`,
        ...(['health', 'cron list', 'cron list, fresh HOME'] as Cmd[]).map((c) => `${c}: max ${Math.max(...times[c]).toFixed(1)} ms`),
        'fresh HOME: a new empty HOME per run, no XDG_CACHE_HOME or OPENCLAW_CLI_COMPILE_CACHE; the compile cache is the one beside the installed code (dist/compile-cache)',
      ],
    };
  } finally {
    await stopAll([gw]);
  }
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'cli',
  description: 'cold openclaw-cli health / cron list wall time against a running gateway, vs node -e 0',
  run,
};
