/**
 * Gateway start to ready: `openclaw-gateway start --state-dir <dir> --grpc-port 0
 * --no-bridge` spawned from the build, timed from spawn until its banner is printed;
 * first start (empty state dir: the CA, server certificate and local identities are
 * created) and warm start (the same dir again). RSS of the process is read half a
 * second after the banner (the in-process worker has connected by then). Baseline:
 * `node -e 0` spawned the same way.
 */
import { spawn } from 'node:child_process';
import { freshDir } from '../lib/fixture';
import { rssOf, spawnGateway } from '../lib/gateway-process';
import { latencyStats, median, nowMs, round, sleep } from '../measure';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from '../types';

const TARGET_READY_MS = 1000;
const TARGET_RSS_MB = 120;

function nodeFloor(): Promise<number> {
  const t0 = nowMs();
  const p = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  return new Promise((resolve) => p.once('exit', () => resolve(nowMs() - t0)));
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const starts = opts.quick ? 1 : 5;
  const first: number[] = [];
  const warm: number[] = [];
  const rss: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < starts; i++) {
    const dir = freshDir('startup');
    const args = ['--state-dir', dir, '--grpc-port', '0', '--no-bridge'];
    const a = await spawnGateway(args);
    first.push(a.readyMs);
    await a.stop();
    for (let k = 0; k < (opts.quick ? 1 : 2); k++) {
      const b = await spawnGateway(args);
      warm.push(b.readyMs);
      await sleep(500);
      rss.push(rssOf(b.proc.pid ?? 0));
      await b.stop();
    }
    floor.push(await nodeFloor());
  }
  const f = latencyStats(first);
  const w = latencyStats(warm);
  const base = median(floor);
  const rssMb = median(rss) / 2 ** 20;
  const figures: Figure[] = [
    {
      name: 'start to ready, first start (creates CA, server cert, identities)',
      unit: 'ms median',
      value: round(f.p50, 0),
      p50: round(f.p50, 1),
      p90: round(f.p90, 1),
      baseline: { name: 'node -e 0', value: round(base, 1) },
      ratio: round(f.p50 / base, 1),
      target: `<= ${TARGET_READY_MS} ms`,
      met: f.p50 <= TARGET_READY_MS,
    },
    {
      name: 'start to ready, warm start (existing state)',
      unit: 'ms median',
      value: round(w.p50, 0),
      p50: round(w.p50, 1),
      p90: round(w.p90, 1),
      baseline: { name: 'node -e 0', value: round(base, 1) },
      ratio: round(w.p50 / base, 1),
      target: `<= ${TARGET_READY_MS} ms`,
      met: w.p50 <= TARGET_READY_MS,
    },
    {
      name: 'RSS after start (warm, worker connected, no bridge)',
      unit: 'MB',
      value: round(rssMb, 1),
      target: `<= ${TARGET_RSS_MB} MB`,
      met: rssMb <= TARGET_RSS_MB,
    },
  ];
  return {
    scenario: 'startup',
    figures,
    notes: [`${first.length} first starts, ${warm.length} warm starts; spawn to banner on stdout; RSS from /proc 0.5 s after the banner; p90 for these small samples`],
  };
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'startup',
  description: 'openclaw-gateway start to ready (first and warm start) and RSS after start',
  run,
};
