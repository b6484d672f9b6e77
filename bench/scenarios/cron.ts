/**
 * Cron fire latency: two interval jobs (every 1 s, the shortest the gateway allows,
 * added half a second apart so their runs do not coincide) with a system-event payload,
 * on a gateway child running its in-process worker (which takes due runs over gRPC with
 * its own backend certificate and reports them with CompleteRun). An operator
 * subscription to `cron` events records when each run's `started` (handed to the
 * worker) and `finished` (worker reported) events arrive; the run's scheduled time comes
 * from ListRuns. Latency = event received - scheduled time (same machine clock).
 */
import { CronService } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { EventService, type SubscribeResponse } from '../../src/gen/openclaw/events/v1/events_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { stopAll } from '../lib/child';
import { connectTo, identityTls } from '../lib/grpc';
import { startGatewayChild } from '../lib/servers';
import { latencyStats, round, sleep, wallMs, withTimeout } from '../measure';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from '../types';

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const wanted = opts.quick ? 4 : 24;
  const gw = await startGatewayChild({ worker: true });
  const conn = connectTo(gw.info.address, identityTls(gw.info.identities.cli));
  const jobIds: string[] = [];
  try {
    const cron = conn.client(CronService);
    const deadline = Date.now() + 10_000;
    while (!(await unaryCall(cron, cron.getCronStatus, {})).workerConnected) {
      if (Date.now() > deadline) throw new Error('the in-process cron worker did not connect');
      await sleep(50);
    }
    const seen = new Map<string, { started?: number; finished?: number }>();
    let finished = 0;
    let onFinished: (() => void) | undefined;
    const events = conn.client(EventService).subscribe({ types: ['cron'] });
    const greeted = new Promise<void>((resolve) => events.once('data', () => resolve()));
    events.on('data', (m: SubscribeResponse) => {
      const at = wallMs();
      const e = m.event;
      if (!e || e.type !== 'cron') return;
      const p = JSON.parse(e.payloadJson) as { action: string; jobId: string; runId?: string };
      if (!p.runId || !jobIds.includes(p.jobId)) return;
      const r = seen.get(p.runId) ?? {};
      if (p.action === 'started') r.started = at;
      if (p.action === 'finished') {
        r.finished = at;
        finished++;
        onFinished?.();
      }
      seen.set(p.runId, r);
    });
    events.on('error', () => undefined);
    await withTimeout(greeted, 5000, 'event subscription');

    for (let j = 0; j < 2; j++) {
      const added = await unaryCall(cron, cron.addJob, {
        name: `bench interval ${j}`,
        enabled: true,
        schedule: { kind: { case: 'everyMs', value: 1000n } },
        payload: { kind: { case: 'systemEvent', value: { text: 'bench' } } },
      });
      jobIds.push(added.job!.jobId);
      if (j === 0) await sleep(500);
    }
    await withTimeout(
      new Promise<void>((resolve) => {
        onFinished = () => finished >= wanted && resolve();
        onFinished();
      }),
      wanted * 1000 + 10_000,
      `${wanted} cron runs`,
    );
    const toStart: number[] = [];
    const toFinish: number[] = [];
    for (const id of jobIds) {
      const runs = (await unaryCall(cron, cron.listRuns, { jobId: id, limit: 100 }).catch(() => ({ runs: [] }))).runs;
      for (const r of runs) {
        const s = seen.get(r.runId);
        if (!s?.started || !s.finished || r.trigger !== 'schedule') continue;
        toStart.push(s.started - Number(r.scheduledAtMs));
        toFinish.push(s.finished - Number(r.scheduledAtMs));
      }
    }
    // Removing a job drops its runs: only after ListRuns.
    for (const id of jobIds) await unaryCall(cron, cron.removeJob, { jobId: id }).catch(() => undefined);
    events.cancel();
    if (toStart.length === 0) throw new Error('no scheduled run could be matched with its events');
    const a = latencyStats(toStart);
    const b = latencyStats(toFinish);
    const figures: Figure[] = [
      { name: 'cron job due -> run handed to the worker ("started" event received)', unit: 'ms p50', value: round(a.p50, 2), p50: round(a.p50, 2), p99: round(a.p99, 2) },
      { name: 'cron job due -> worker reported it ("finished" event received)', unit: 'ms p50', value: round(b.p50, 2), p50: round(b.p50, 2), p99: round(b.p99, 2) },
    ];
    return {
      scenario: 'cron',
      figures,
      notes: [`${a.n} scheduled runs of 2 interval jobs (every 1 s, system-event payload); in-process worker over gRPC; p99 = max for this sample size`],
    };
  } finally {
    conn.close();
    await stopAll([gw]);
  }
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'cron',
  description: 'cron fire latency: interval job due -> worker takes it (started) -> worker reports (finished)',
  run,
};
