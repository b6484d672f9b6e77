/**
 * Event fan-out to 1, 100 and 1,000 subscribers, each an EventService.Subscribe stream
 * on its own mTLS connection (cli identity), held by this process; the server is a
 * child process. Events enter the real gateway through its own EventHub.publish (a
 * bench-only IPC command in bench/servers/gateway-server.ts: the same call cron,
 * sessions and pairing make), with a ~240-byte JSON payload carrying the publish time.
 * The baseline is a bare grpc-js server writing the same SubscribeResponse messages
 * to the same number of streams (same adapter, same TLS, no hub, no interceptor), one
 * message object per subscriber; the gateway encodes each event's shared part once per
 * event and each stream's subscription id once per stream, and per delivery only writes
 * the framing and the sequence around them.
 *
 * Per server and size: server RSS per idle subscriber (RSS delta after GC / N);
 * publish-to-receive latency with one event in flight (p50/p99 over all deliveries);
 * delivered events/s with a bounded window of events in flight; server CPU per
 * delivery. Every server holds its subscribers at the same time (an idle server costs
 * nothing) and the measured phases alternate between servers in rounds. At the largest
 * size of a full run a third server serializes each event's shared fields once (the
 * serialize-once variant), to size that change for the gateway. The smoke run stops at
 * 250 subscribers.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MAX_SUBSCRIPTIONS_PER_OWNER } from '../../src/services/events/event-hub';
import type { ClientTls } from '../../src/transport/grpc/client/gateway-connection';
import { stopAll, type ChildServer } from '../lib/child';
import { identityTls } from '../lib/grpc';
import { startBareChild, startGatewayChild } from '../lib/servers';
import { SubscriberPool } from '../lib/subscribers';
import { latencyStats, median, round, sleep } from '../measure';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from '../types';

const execFileP = promisify(execFile);

/** Against bare grpc-js writing a message per subscriber; at 1,000 the gateway must beat it (it encodes each event's shared part once, not per subscriber). */
const targetRatio = (n: number): number => (n >= 1000 ? 1.2 : 0.8);
const PAD_BYTES = 200;

type Server = ChildServer<{ address: string }>;

/** One server at one size: its subscribers (held by this process) and what was measured. */
interface Target {
  key: string;
  server: Server;
  pool?: SubscriberPool;
  rssPerSubKiB: number;
  latencies: number[];
  rounds: { deliveriesPerSec: number; eventsPerSec: number; cpuUsPerDelivery: number }[];
}

/** Subscribers per device identity (below the gateway's per-device cap). */
const SUBSCRIBERS_PER_DEVICE = Math.min(200, MAX_SUBSCRIPTIONS_PER_OWNER);

/** `k` more operator identities, issued with certs-tools into the running gateway's state dir (it sees them at once). */
async function extraOperators(stateDir: string, k: number): Promise<ClientTls[]> {
  const out: ClientTls[] = [];
  for (let i = 0; i < k; i++) {
    const dir = join(stateDir, 'bench-subscribers', String(i));
    await execFileP(process.execPath, [join(__dirname, '..', '..', 'certs-tools', 'main.js'), '--state-dir', stateDir, 'issue', '--role', 'operator', '--name', `bench-subscriber-${i}`, '--out', dir]);
    out.push(identityTls(dir));
  }
  return out;
}

async function waitAttached(server: Server, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await server.request<number>('attached');
    if (a === n) return;
    if (Date.now() > deadline) throw new Error(`${server.name}: ${a} subscribers attached, expected ${n}`);
    await sleep(50);
  }
}

/** Opens N subscriptions to the target's server and reads the server's RSS delta (after GC) per subscriber. */
async function attach(t: Target, tls: ClientTls[], n: number, log?: (line: string) => void): Promise<void> {
  const rss0 = (await t.server.stats(true)).rss;
  const t0 = performance.now();
  t.pool = await SubscriberPool.open(t.server.info.address, tls, n);
  await waitAttached(t.server, n, 10_000);
  log?.(`    ${t.server.name}: ${n} subscriptions open in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await sleep(200);
  t.rssPerSubKiB = ((await t.server.stats(true)).rss - rss0) / n / 1024;
}

/** Publishes `events` events one at a time, each when the previous one reached every subscriber. */
async function sampleLatency(t: Target, n: number, events: number): Promise<void> {
  const pool = t.pool!;
  pool.sampleLatency();
  for (let i = 0; i < events; i++) {
    const target = pool.delivered + n;
    t.server.post('publish', { count: 1, padBytes: PAD_BYTES });
    await pool.waitFor(target, 10_000);
  }
  t.latencies.push(...pool.takeLatencies());
}

/**
 * Publishes for `durationMs` keeping at most `window` events undelivered (so queues
 * stay bounded and the figure is a sustainable rate), then waits for the rest.
 */
async function throughput(t: Target, n: number, durationMs: number) {
  const pool = t.pool!;
  const window = Math.max(2, Math.ceil(4000 / n));
  const batch = Math.max(1, Math.floor(window / 4));
  const base = pool.delivered;
  const before = await t.server.stats();
  const t0 = performance.now();
  let published = 0;
  while (performance.now() - t0 < durationMs) {
    const outstanding = published - (pool.delivered - base) / n;
    if (outstanding + batch > window) {
      await pool.waitFor(base + (published + batch - window) * n, 15_000);
      continue;
    }
    t.server.post('publish', { count: batch, padBytes: PAD_BYTES });
    published += batch;
  }
  await pool.waitFor(base + published * n, 30_000);
  const elapsedS = (pool.lastDeliveryAt - t0) / 1000;
  const after = await t.server.stats();
  const deliveries = published * n;
  return {
    deliveriesPerSec: deliveries / elapsedS,
    eventsPerSec: published / elapsedS,
    cpuUsPerDelivery: (after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs) / deliveries,
  };
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  // Each subscription is a TLS handshake with a client certificate (~3-7 ms of CPU on
  // this machine, both sides): the smoke run stops at 250.
  const sizes = opts.quick ? [1, 100, 250] : [1, 100, 1000];
  const limits = opts.quick ? { latencyEvents: 10, warmMs: 200, durationMs: 500, rounds: 1 } : { latencyEvents: 100, warmMs: 2000, durationMs: 2000, rounds: 3 };
  const figures: Figure[] = [];
  const notes: string[] = [];
  const largest = sizes[sizes.length - 1];
  for (const n of sizes) {
    const gw = await startGatewayChild();
    const targets: Target[] = [{ key: 'gateway', server: gw as Server, rssPerSubKiB: NaN, latencies: [], rounds: [] }];
    try {
      if (!gw.info.hubCaptured) throw new Error('the gateway child could not reach its EventHub');
      const add = (key: string, server: Server) => targets.push({ key, server, rssPerSubKiB: NaN, latencies: [], rounds: [] });
      add('bare', (await startBareChild(gw.info.stateDir)) as Server);
      if (n === largest && !opts.quick) add('bare-shared', (await startBareChild(gw.info.stateDir, 'shared-bytes')) as Server);
      // A device may hold MAX_SUBSCRIPTIONS_PER_OWNER subscriptions: the subscribers are spread over enough operator devices.
      const tls = [identityTls(gw.info.identities.cli), ...(await extraOperators(gw.info.stateDir, Math.ceil(n / SUBSCRIBERS_PER_DEVICE) - 1))];
      // Every server gets its subscribers first (idle servers cost nothing), then the
      // phases alternate between servers round by round, so noise hits all alike.
      for (const t of targets) await attach(t, tls, n, opts.log);
      for (const t of targets) await throughput(t, n, limits.warmMs);
      for (let r = 0; r < limits.rounds; r++) {
        const order = r % 2 === 0 ? targets : [...targets].reverse();
        for (const t of order) await sampleLatency(t, n, Math.ceil(limits.latencyEvents / limits.rounds));
        for (const t of order) t.rounds.push(await throughput(t, n, limits.durationMs));
      }
      const res = Object.fromEntries(
        targets.map((t) => [
          t.key,
          {
            rssPerSubKiB: t.rssPerSubKiB,
            latency: latencyStats(t.latencies),
            deliveriesPerSec: median(t.rounds.map((x) => x.deliveriesPerSec)),
            eventsPerSec: median(t.rounds.map((x) => x.eventsPerSec)),
            cpuUsPerDelivery: median(t.rounds.map((x) => x.cpuUsPerDelivery)),
          },
        ]),
      );
      opts.log?.(`    ${n} subscribers: deliveries/s per round ${targets.map((t) => `${t.key} ${t.rounds.map((x) => x.deliveriesPerSec.toFixed(0)).join('/')}`).join('; ')}`);
      const g = res.gateway;
      const b = res.bare;
      const ratio = g.deliveriesPerSec / b.deliveriesPerSec;
      figures.push({
        name: `fan-out to ${n} subscriber${n === 1 ? '' : 's'}: delivered events/s, publish-to-receive latency`,
        unit: 'deliveries/s',
        value: round(g.deliveriesPerSec, 0),
        p50: round(g.latency.p50, 3),
        p99: round(g.latency.p99, 3),
        baseline: { name: 'bare grpc-js streams', value: round(b.deliveriesPerSec, 0) },
        ratio: round(ratio, 2),
        target: `>= ${targetRatio(n)}x bare grpc-js`,
        met: ratio >= targetRatio(n),
      });
      notes.push(
        `${n} subs: bare latency p50 ${b.latency.p50.toFixed(3)} ms, p99 ${b.latency.p99.toFixed(3)} ms; server CPU per delivery gateway ${g.cpuUsPerDelivery.toFixed(1)} us vs bare ${b.cpuUsPerDelivery.toFixed(1)} us; events/s gateway ${g.eventsPerSec.toFixed(0)} vs bare ${b.eventsPerSec.toFixed(0)}`,
      );
      if (n >= 100) {
        figures.push({
          name: `server RSS per idle subscriber (${n} subscribers, own connection each)`,
          unit: 'KiB',
          value: round(g.rssPerSubKiB, 1),
          baseline: { name: 'bare grpc-js', value: round(b.rssPerSubKiB, 1) },
          ratio: round(g.rssPerSubKiB / b.rssPerSubKiB, 2),
        });
      }
      if (n === largest) {
        figures.push({
          name: `server CPU per delivery (${n} subscribers)`,
          unit: 'us',
          value: round(g.cpuUsPerDelivery, 2),
          baseline: { name: 'bare grpc-js', value: round(b.cpuUsPerDelivery, 2) },
          ratio: round(g.cpuUsPerDelivery / b.cpuUsPerDelivery, 2),
        });
      }
      const s = res['bare-shared'];
      if (s) {
        figures.push({
          name: `fan-out to ${n}, bare grpc-js with each event's shared fields serialized once`,
          unit: 'deliveries/s',
          value: round(s.deliveriesPerSec, 0),
          p50: round(s.latency.p50, 3),
          p99: round(s.latency.p99, 3),
          baseline: { name: 'bare grpc-js, message per subscriber', value: round(b.deliveriesPerSec, 0) },
          ratio: round(s.deliveriesPerSec / b.deliveriesPerSec, 2),
        });
        notes.push(`${n} subs, serialize-once variant: server CPU per delivery ${s.cpuUsPerDelivery.toFixed(2)} us vs ${b.cpuUsPerDelivery.toFixed(2)} us (message per subscriber)`);
      }
    } finally {
      for (const t of targets) t.pool?.close();
      await Promise.all(targets.map((t) => waitAttached(t.server, 0, 5000).catch(() => undefined)));
      await stopAll(targets.map((t) => t.server));
    }
  }
  notes.push(
    `latency: ${limits.latencyEvents} events one at a time per server (p99 at N subscribers is when the last stream gets the event); throughput: ${limits.rounds} round(s) of ${limits.durationMs} ms per server, alternating, after ${limits.warmMs} ms warm-up, at most max(2, 4000/N) events in flight; figures are median rounds; payload ~${PAD_BYTES + 40} B JSON`,
    `subscribers use the cli identity and, past ${SUBSCRIBERS_PER_DEVICE}, more operator identities (${SUBSCRIBERS_PER_DEVICE} per device; a device may hold ${MAX_SUBSCRIPTIONS_PER_OWNER} subscriptions), each subscriber on its own connection; RSS per subscriber = server RSS delta after GC / N; the gateway keeps recent events once for all subscriptions, in its event log (the last 10,000, or 5 min, at most 50,000), for resumption`,
  );
  return { scenario: 'fanout', figures, notes };
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'fanout',
  description: 'event fan-out to 1/100/1000 subscribers: deliveries/s, publish-to-receive p99, RSS per idle subscriber, vs bare grpc-js streams',
  run,
};
