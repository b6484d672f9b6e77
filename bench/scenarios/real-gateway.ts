/**
 * Our legacy path against the real OpenClaw gateway, side by side in one run: the real
 * gateway (npm `openclaw@2026.9.6` on the pinned Node 24, installed into the legacy-client
 * cache on first use) and `openclaw-gateway start` with its bridge (this Node), both on
 * loopback, both spoken to by the same client from this process: a token-only legacy
 * client (`client.id` "cli", mode "cli", shared token, scopes `operator.read`, no device,
 * as the real CLI connects on loopback), which both gateways grant `operator.read` without
 * any widening. For `cron.list`, `health` and `status`: throughput with 64 requests in
 * flight on one connection, sequential throughput (1 in flight), and the handshake
 * (WebSocket open to hello-ok on a fresh connection) p50/p99. Rounds alternate which
 * gateway goes first; figures are medians over rounds, ratios ours / real.
 *
 * Like with like: ours gets three enabled cron jobs, as the real one creates three on its
 * first start (heartbeat, memory dreaming, skill review), so `cron.list` lists three on
 * both. Skipped with one line when the real gateway cannot be installed or started.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CronService } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { provisionedStateDir } from '../lib/fixture';
import { cpuSecondsOf, spawnGateway, type GatewayProcess } from '../lib/gateway-process';
import { connectTo, identityTls } from '../lib/grpc';
import { LegacyWsClient } from '../lib/legacy-ws';
import { freePort } from '../lib/ports';
import { startRealGateway, type RealGateway } from '../lib/real-gateway';
import { latencyStats, measureClosedLoop, median, nowMs, round, sleep, type Measurement } from '../measure';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from '../types';

/** Targets of issue "performance round 2": ours / real. */
const TARGET_IN_FLIGHT = 2.0;
const TARGET_SEQUENTIAL = 1.2;
const TARGET_HANDSHAKE = 1.0;
const IN_FLIGHT = 64;
const METHODS = ['cron.list', 'health', 'status'] as const;
type Method = (typeof METHODS)[number];
type Side = 'ours' | 'real';

interface Target {
  side: Side;
  url: string;
  token: string;
  pid: number;
}

async function connectWithRetry(t: Target, deadlineMs: number): Promise<LegacyWsClient> {
  for (;;) {
    try {
      return await LegacyWsClient.connect(t.url, { token: t.token, handshake: true, timeoutMs: 5000 });
    } catch (err) {
      if (nowMs() > deadlineMs) throw new Error(`${t.side} gateway: legacy handshake on ${t.url} failed: ${(err as Error).message}`);
      await sleep(100);
    }
  }
}

/** Waits until a freshly started process stops burning CPU (the real gateway loads plugins after /readyz). */
async function settle(pid: number, maxMs: number): Promise<number> {
  const t0 = nowMs();
  for (;;) {
    const c0 = cpuSecondsOf(pid);
    await sleep(500);
    const busy = (cpuSecondsOf(pid) - c0) / 0.5;
    if (!(busy > 0.1) || nowMs() - t0 > maxMs) return nowMs() - t0;
  }
}

/** Fresh connections one after another: open, challenge, connect, hello-ok; then close. */
async function handshakes(t: Target, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = nowMs();
    const c = await LegacyWsClient.connect(t.url, { token: t.token, handshake: true, timeoutMs: 5000 });
    out.push(nowMs() - t0);
    c.close();
  }
  return out;
}

/** Three enabled jobs on ours, as the real gateway has after its first start. */
async function addCronJobs(stateDir: string, grpcAddress: string): Promise<void> {
  const conn = connectTo(grpcAddress, identityTls(join(stateDir, 'identities', 'cli')));
  try {
    const cron = conn.client(CronService);
    for (const [i, name] of ['heartbeat-main', 'Memory Dreaming Promotion', 'skill-collection-review-main'].entries()) {
      await unaryCall(cron, cron.addJob, {
        name,
        enabled: true,
        schedule: { kind: { case: 'everyMs', value: BigInt(30 + i) * 60_000n } },
        payload: { kind: { case: 'agentTurn', value: { message: `${name}: run the routine`, sessionKey: '', agentId: '' } } },
      });
    }
  } finally {
    conn.close();
  }
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const phaseMs = opts.quick ? 300 : 2000;
  const warmMs = opts.quick ? 200 : 1500;
  const rounds = opts.quick ? 1 : 3;
  const handshakesPerRound = opts.quick ? 10 : 40;
  let real: RealGateway | undefined;
  let ours: GatewayProcess | undefined;
  const clients: LegacyWsClient[] = [];
  try {
    opts.log?.('  starting the real OpenClaw gateway (installs it on first use)');
    real = await startRealGateway();
    const settledReal = await settle(real.pid, 20_000);
    const stateDir = await provisionedStateDir();
    const token = randomBytes(24).toString('base64url');
    const bridgePort = await freePort();
    ours = await spawnGateway(['--state-dir', stateDir, '--grpc-port', '0', '--bridge-port', String(bridgePort)], { env: { OPENCLAW_GATEWAY_TOKEN: token } });
    await addCronJobs(stateDir, ours.grpcAddress);
    const targets: Record<Side, Target> = {
      real: { side: 'real', url: real.url, token: real.token, pid: real.pid },
      ours: { side: 'ours', url: `ws://127.0.0.1:${bridgePort}/`, token, pid: ours.proc.pid! },
    };
    const conns = {} as Record<Side, LegacyWsClient>;
    for (const side of ['real', 'ours'] as Side[]) {
      conns[side] = await connectWithRetry(targets[side], nowMs() + 10_000);
      clients.push(conns[side]);
      for (const m of METHODS) {
        try {
          await conns[side].request(m);
        } catch (err) {
          throw new Error(`${side} gateway: "${m}" failed for a token-only operator.read client: ${(err as Error).message}`);
        }
      }
    }
    opts.log?.(`  real gateway ready in ${(real.readyMs / 1000).toFixed(1)} s, quiet ${(settledReal / 1000).toFixed(1)} s later; ours in ${(ours.readyMs / 1000).toFixed(1)} s`);

    // Warm-up: every method and a few handshakes on both, so neither side pays its JIT in the first round.
    for (const side of ['real', 'ours'] as Side[]) {
      await handshakes(targets[side], 5);
      for (const m of METHODS) await measureClosedLoop(() => conns[side].request(m), { concurrency: IN_FLIGHT, durationMs: warmMs / 2 });
      for (const m of METHODS) await measureClosedLoop(() => conns[side].request(m), { concurrency: 1, durationMs: warmMs / 2 });
    }

    const inFlight: Record<string, Measurement[]> = {};
    const sequential: Record<string, Measurement[]> = {};
    const hs: Record<Side, number[]> = { real: [], ours: [] };
    const hsP50: Record<Side, number[]> = { real: [], ours: [] };
    const cpu: Record<Side, { s: number; ops: number }> = { real: { s: 0, ops: 0 }, ours: { s: 0, ops: 0 } };
    for (let r = 0; r < rounds; r++) {
      const order: Side[] = r % 2 === 0 ? ['ours', 'real'] : ['real', 'ours'];
      for (const side of order) {
        const samples = await handshakes(targets[side], handshakesPerRound);
        hs[side].push(...samples);
        hsP50[side].push(latencyStats(samples).p50);
        for (const m of METHODS) {
          const c0 = cpuSecondsOf(targets[side].pid);
          const a = await measureClosedLoop(() => conns[side].request(m), { concurrency: IN_FLIGHT, durationMs: phaseMs });
          const b = await measureClosedLoop(() => conns[side].request(m), { concurrency: 1, durationMs: phaseMs });
          cpu[side].s += cpuSecondsOf(targets[side].pid) - c0;
          cpu[side].ops += a.iterations + b.iterations;
          (inFlight[`${side} ${m}`] ??= []).push(a);
          (sequential[`${side} ${m}`] ??= []).push(b);
        }
      }
      opts.log?.(`  round ${r + 1}/${rounds} done`);
    }

    const s = (set: Record<string, Measurement[]>, key: string) => ({
      ops: median(set[key].map((x) => x.opsPerSec)),
      p50: median(set[key].map((x) => x.p50)),
      p99: median(set[key].map((x) => x.p99)),
    });
    const figures: Figure[] = [];
    const throughput = (m: Method, set: Record<string, Measurement[]>, label: string, target: number) => {
      const o = s(set, `ours ${m}`);
      const rl = s(set, `real ${m}`);
      const ratio = o.ops / rl.ops;
      figures.push({
        name: `"${m}", ${label}`,
        unit: 'calls/s',
        value: round(o.ops, 0),
        p50: round(o.p50, 3),
        p99: round(o.p99, 3),
        baseline: { name: `real gateway (p50 ${rl.p50.toFixed(3)} ms, p99 ${rl.p99.toFixed(3)} ms)`, value: round(rl.ops, 0) },
        ratio: round(ratio, 2),
        target: `>= ${target}x the real gateway`,
        met: ratio >= target,
      });
    };
    for (const m of METHODS) {
      throughput(m, inFlight, `${IN_FLIGHT} in flight`, TARGET_IN_FLIGHT);
      throughput(m, sequential, 'sequential', TARGET_SEQUENTIAL);
    }
    const ho = latencyStats(hs.ours);
    const hr = latencyStats(hs.real);
    const hRatio = median(hsP50.ours) / median(hsP50.real);
    figures.push({
      name: 'handshake (open to hello-ok, fresh connection) p50',
      unit: 'ms',
      value: round(median(hsP50.ours), 3),
      p50: round(ho.p50, 3),
      p99: round(ho.p99, 3),
      baseline: { name: `real gateway (p99 ${hr.p99.toFixed(3)} ms)`, value: round(median(hsP50.real), 3) },
      ratio: round(hRatio, 2),
      target: `<= ${TARGET_HANDSHAKE}x the real gateway`,
      met: hRatio <= TARGET_HANDSHAKE,
    });
    const perCall = (side: Side) => (cpu[side].s * 1e6) / cpu[side].ops;
    const notes = [
      `real: ${real.label}, HOME a fresh folder, token auth, loopback; ready (/readyz 200) ${(real.readyMs / 1000).toFixed(1)} s after spawn. Ours: openclaw-gateway start (bridge and worker in process) on node ${process.version}, ready ${(ours.readyMs / 1000).toFixed(1)} s after spawn.`,
      'client (this process, same code for both): token-only legacy client, client.id "cli", mode "cli", scopes [operator.read], shared token, no device; both gateways grant it operator.read (ours by its default bridge.tokenOnlyScopes, nothing widened). cron.list lists 3 enabled jobs on both.',
      `${rounds} round(s), order alternating; per round and gateway: ${handshakesPerRound} handshakes, then per method ${phaseMs} ms with ${IN_FLIGHT} in flight and ${phaseMs} ms sequential on one connection; figures are medians over rounds (p50/p99 of calls: median over rounds), ratios ours / real.`,
      `gateway CPU per call during the method phases: ours ${perCall('ours').toFixed(0)} us, real ${perCall('real').toFixed(0)} us.`,
    ];
    return { scenario: 'real-gateway', figures, notes };
  } finally {
    for (const c of clients) c.close();
    await ours?.stop();
    await real?.stop();
  }
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'real-gateway',
  description: 'our bridge vs the real OpenClaw gateway 2026.9.6 (cron.list, health, status: 64 in flight, sequential, handshake), alternating in one run',
  run,
};
