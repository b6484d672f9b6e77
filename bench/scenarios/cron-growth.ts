/**
 * Cost of a write as the state grows: 3,000 `CronService.AddJob` calls, one after
 * another, on a gateway child with the files backend (each add one durable transaction:
 * one journal line, fsynced). The p50 of the last 200 adds is compared with the first
 * 200 (target <= 1.5x: the cost of storing a job must not grow with the number of jobs;
 * the whole-file store this replaced measured 3.4-4.5x).
 */
import { CronService } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { connectTo, identityTls } from '../lib/grpc';
import { startGatewayChild } from '../lib/servers';
import { latencyStats, nowMs, round } from '../measure';
import type { Scenario, ScenarioOptions, ScenarioResult } from '../types';

const TARGET = 1.5;

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const total = opts.quick ? 600 : 3000;
  const window = opts.quick ? 100 : 200;
  const gw = await startGatewayChild();
  const conn = connectTo(gw.info.address, identityTls(gw.info.identities.cli));
  try {
    const cron = conn.client(CronService);
    const add = (name: string, i: number) =>
      unaryCall(cron, cron.addJob, {
        name,
        enabled: true,
        schedule: { kind: { case: 'everyMs', value: 3_600_000n + BigInt(i) } },
        payload: { kind: { case: 'agentTurn', value: { message: `job number ${i}: summarize the day`, sessionKey: '', agentId: '' } } },
      });
    // Warm-up (JIT, TLS session, the gateway's first writes), then back to no jobs, so the
    // first window measures a warm gateway on an empty store, not a cold one.
    for (let i = 0; i < window; i++) {
      const { job } = await add(`warm-up ${i}`, i);
      await unaryCall(cron, cron.removeJob, { jobId: job!.jobId });
    }
    const times: number[] = [];
    for (let i = 0; i < total; i++) {
      const t0 = nowMs();
      await add(`growth ${i}`, i);
      times.push(nowMs() - t0);
      if (i % 1000 === 999) opts.log?.(`  ${i + 1} jobs`);
    }
    const first = latencyStats(times.slice(0, window));
    const last = latencyStats(times.slice(-window));
    const ratio = last.p50 / first.p50;
    return {
      scenario: 'cron-growth',
      figures: [
        { name: `cron.add p50, first ${window} (empty store)`, unit: 'ms', value: round(first.p50, 3), p50: round(first.p50, 3), p99: round(first.p99, 3) },
        {
          name: `cron.add p50, last ${window} (${total - window}+ jobs)`,
          unit: 'ms',
          value: round(last.p50, 3),
          p50: round(last.p50, 3),
          p99: round(last.p99, 3),
          baseline: { name: `first ${window}, same run`, value: round(first.p50, 3) },
          ratio: round(ratio, 2),
          target: `<= ${TARGET}x the first ${window}`,
          met: ratio <= TARGET,
        },
      ],
      notes: [`${total} sequential AddJob calls over one mTLS connection, files backend (one fsynced journal line per add; compaction on the way)`],
    };
  } finally {
    conn.close();
    await gw.stop();
  }
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'cron-growth',
  description: 'cron.add latency with 3,000 jobs vs with none (files backend): the cost of a write must not grow with the state',
  run,
};
