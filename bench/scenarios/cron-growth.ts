/**
 * Cost of a write as the state grows: 3,000 cron job adds, one after another, each one
 * durable transaction (files backend: one fsynced journal line), on a gateway child;
 * twice: `CronService.AddJob` over mTLS, and the legacy `cron.add` through the built-in
 * bridge (a token-only legacy client allowed operator.admin, as a self-hoster widens it
 * with `bridge.tokenOnlyScopes`). Per path, the p50 of the last 200 adds is compared
 * with the first 200 (target <= 1.5x: the cost of storing a job must not grow with the
 * number of jobs; the whole-file store this replaced measured 3.4-4.5x).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ConfigService } from '../../src/gen/openclaw/config/v1/config_pb';
import { CronService } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { provisionedStateDir } from '../lib/fixture';
import { spawnGateway } from '../lib/gateway-process';
import { connectTo, identityTls } from '../lib/grpc';
import { LegacyWsClient } from '../lib/legacy-ws';
import { freePort } from '../lib/ports';
import { startGatewayChild } from '../lib/servers';
import { latencyStats, nowMs, round } from '../measure';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from '../types';

const TARGET = 1.5;

/** Adds job number i (a distinct schedule each) and returns its id. */
type Add = (name: string, i: number) => Promise<string>;

/** Warm-up adds removed again, then `total` timed adds: the latencies, ms. */
async function grow(add: Add, remove: (id: string) => Promise<unknown>, total: number, window: number, log?: (line: string) => void): Promise<number[]> {
  // Warm-up (JIT, connection, the gateway's first writes), then back to no jobs, so the
  // first window measures a warm gateway on an empty store, not a cold one.
  for (let i = 0; i < window; i++) await remove(await add(`warm-up ${i}`, i));
  const times: number[] = [];
  for (let i = 0; i < total; i++) {
    const t0 = nowMs();
    await add(`growth ${i}`, i);
    times.push(nowMs() - t0);
    if (i % 1000 === 999) log?.(`  ${i + 1} jobs`);
  }
  return times;
}

function figures(path: string, times: number[], total: number, window: number): Figure[] {
  const first = latencyStats(times.slice(0, window));
  const last = latencyStats(times.slice(-window));
  const ratio = last.p50 / first.p50;
  return [
    { name: `${path} p50, first ${window} (empty store)`, unit: 'ms', value: round(first.p50, 3), p50: round(first.p50, 3), p99: round(first.p99, 3) },
    {
      name: `${path} p50, last ${window} (${total - window}+ jobs)`,
      unit: 'ms',
      value: round(last.p50, 3),
      p50: round(last.p50, 3),
      p99: round(last.p99, 3),
      baseline: { name: `first ${window}, same run`, value: round(first.p50, 3) },
      ratio: round(ratio, 2),
      target: `<= ${TARGET}x the first ${window}`,
      met: ratio <= TARGET,
    },
  ];
}

/** AddJob over mTLS (the cli identity). */
async function overGrpc(total: number, window: number, log?: (line: string) => void): Promise<number[]> {
  const gw = await startGatewayChild();
  const conn = connectTo(gw.info.address, identityTls(gw.info.identities.cli));
  try {
    const cron = conn.client(CronService);
    const add: Add = async (name, i) =>
      (
        await unaryCall(cron, cron.addJob, {
          name,
          enabled: true,
          schedule: { kind: { case: 'everyMs', value: 3_600_000n + BigInt(i) } },
          payload: { kind: { case: 'agentTurn', value: { message: `job number ${i}: summarize the day`, sessionKey: '', agentId: '' } } },
        })
      ).job!.jobId;
    return await grow(add, (jobId) => unaryCall(cron, cron.removeJob, { jobId }), total, window, log);
  } finally {
    conn.close();
    await gw.stop();
  }
}

/** `cron.add` through the built-in bridge, as a legacy client sends it. */
async function overLegacy(total: number, window: number, log?: (line: string) => void): Promise<number[]> {
  const stateDir = await provisionedStateDir();
  const token = randomBytes(24).toString('base64url');
  const bridgePort = await freePort();
  const gw = await spawnGateway(['--state-dir', stateDir, '--grpc-port', '0', '--bridge-port', String(bridgePort), '--no-worker'], { env: { OPENCLAW_GATEWAY_TOKEN: token } });
  const conn = connectTo(gw.grpcAddress, identityTls(join(stateDir, 'identities', 'cli')));
  let client: LegacyWsClient | undefined;
  try {
    const config = conn.client(ConfigService);
    await unaryCall(config, config.patchConfig, { patchJson: JSON.stringify({ bridge: { tokenOnlyScopes: ['operator.read', 'operator.write', 'operator.admin'] } }), baseHash: '' });
    client = await LegacyWsClient.connect(`ws://127.0.0.1:${bridgePort}/`, { token, handshake: true, scopes: ['operator.read', 'operator.write', 'operator.admin'] });
    const c = client;
    const add: Add = async (name, i) => {
      const job = (await c.request('cron.add', { name, enabled: true, schedule: { kind: 'every', everyMs: 3_600_000 + i }, sessionTarget: 'main', wakeMode: 'now', payload: { kind: 'systemEvent', text: `job number ${i}: summarize the day` } })) as { id?: string };
      if (!job?.id) throw new Error(`cron.add answered without a job id: ${JSON.stringify(job).slice(0, 200)}`);
      return job.id;
    };
    return await grow(add, (id) => c.request('cron.remove', { id }), total, window, log);
  } finally {
    client?.close();
    conn.close();
    await gw.stop();
  }
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const total = opts.quick ? 600 : 3000;
  const window = opts.quick ? 100 : 200;
  const grpcTimes = await overGrpc(total, window, opts.log);
  const legacyTimes = await overLegacy(total, window, opts.log);
  return {
    scenario: 'cron-growth',
    figures: [...figures('cron.add (gRPC AddJob)', grpcTimes, total, window), ...figures('cron.add (legacy, through the bridge)', legacyTimes, total, window)],
    notes: [`${total} sequential adds per path, each on a fresh gateway with the files backend (one fsynced journal line per add; compaction on the way): AddJob over one mTLS connection, and legacy cron.add over one WebSocket to the built-in bridge`],
  };
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'cron-growth',
  description: 'cron.add latency with 3,000 jobs vs with none (files backend), over gRPC and through the legacy bridge: the cost of a write must not grow with the state',
  run,
};
