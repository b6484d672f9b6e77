/**
 * Unary throughput and latency: GatewayService.Ping (32-byte payload) on one mTLS
 * connection with 1 and 64 calls in flight, the real gateway against a bare grpc-js
 * echo with the same proto adapter and TLS. Servers are child processes; the load
 * comes from this process. A grpc-js client costs about as much per call as the
 * server, so the 64-in-flight grpc-js figure is largely client-bound; the same load
 * from a raw HTTP/2 client (cheaper per call) shows the servers' own ceiling, and the
 * server CPU per call (read from the child) shows the gateway's overhead directly.
 * Both servers are warmed up first (grpc-js is ~2x slower in its first ~2 s); phases
 * alternate between the servers in rounds and the median round counts.
 */
import { randomBytes } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { PingRequestSchema } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { stopAll, type ChildServer } from '../lib/child';
import { connectTo, identityTls, ping } from '../lib/grpc';
import { RawGrpcClient } from '../lib/h2-load';
import { startBareChild, startGatewayChild } from '../lib/servers';
import { measureClosedLoop, median, round, type Measurement } from '../measure';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from '../types';

const TARGET_RATIO = 0.8;
const PING_PATH = '/openclaw.gateway.v1.GatewayService/Ping';

interface Phase {
  m: Measurement;
  cpuUsPerCall: number;
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const warmMs = opts.quick ? 300 : 2000;
  const phaseMs = opts.quick ? 400 : 2000;
  const rounds = opts.quick ? 1 : 3;
  const gw = await startGatewayChild();
  const bare = await startBareChild(gw.info.stateDir).catch(async (err: unknown) => {
    await gw.stop();
    throw err;
  });
  const tls = identityTls(gw.info.identities.cli);
  const payload = randomBytes(32);
  const framed = RawGrpcClient.frame(toBinary(PingRequestSchema, create(PingRequestSchema, { payload })));
  const servers = { gateway: gw as ChildServer<{ address: string }>, bare: bare as ChildServer<{ address: string }> };
  const conns = { gateway: connectTo(gw.info.address, tls), bare: connectTo(bare.info.address, tls) };
  const raws: Partial<Record<keyof typeof servers, RawGrpcClient>> = {};
  try {
    raws.gateway = await RawGrpcClient.connect(gw.info.address, tls);
    raws.bare = await RawGrpcClient.connect(bare.info.address, tls);
    const modes = {
      'grpc-js 1': (k: keyof typeof servers) => ({ op: () => ping(conns[k], payload), concurrency: 1 }),
      'grpc-js 64': (k: keyof typeof servers) => ({ op: () => ping(conns[k], payload), concurrency: 64 }),
      'raw h2 64': (k: keyof typeof servers) => ({ op: () => raws[k]!.unary(PING_PATH, framed), concurrency: 64 }),
    };
    type Mode = keyof typeof modes;
    const phase = async (k: keyof typeof servers, mode: Mode, durationMs: number): Promise<Phase> => {
      const { op, concurrency } = modes[mode](k);
      const before = await servers[k].stats();
      const m = await measureClosedLoop(op, { concurrency, durationMs });
      const after = await servers[k].stats();
      const cpu = after.cpuUserUs + after.cpuSystemUs - (before.cpuUserUs + before.cpuSystemUs);
      return { m, cpuUsPerCall: cpu / m.iterations };
    };
    // Warm-up: JIT and grpc-js internals of both sides, every load shape.
    for (const k of ['gateway', 'bare'] as const) {
      await phase(k, 'grpc-js 64', warmMs);
      await phase(k, 'raw h2 64', warmMs / 2);
      await phase(k, 'grpc-js 1', warmMs / 4);
    }
    const results: Record<Mode, Record<keyof typeof servers, Phase[]>> = {
      'grpc-js 1': { gateway: [], bare: [] },
      'grpc-js 64': { gateway: [], bare: [] },
      'raw h2 64': { gateway: [], bare: [] },
    };
    for (let r = 0; r < rounds; r++) {
      for (const mode of Object.keys(modes) as Mode[]) {
        const order = r % 2 === 0 ? (['gateway', 'bare'] as const) : (['bare', 'gateway'] as const);
        for (const k of order) results[mode][k].push(await phase(k, mode, phaseMs));
      }
    }
    const summary = (ps: Phase[]) => {
      const all = ps.map((p) => p.m);
      return {
        ops: median(all.map((m) => m.opsPerSec)),
        p50: median(all.map((m) => m.p50)),
        p99: median(all.map((m) => m.p99)),
        cpu: median(ps.map((p) => p.cpuUsPerCall)),
        n: all.reduce((a, m) => a + m.iterations, 0),
      };
    };
    const figures: Figure[] = [];
    const labels: Record<Mode, string> = {
      'grpc-js 1': 'Ping, 1 in flight (grpc-js client)',
      'grpc-js 64': 'Ping, 64 in flight (grpc-js client)',
      'raw h2 64': 'Ping, 64 in flight (raw HTTP/2 load, server-bound)',
    };
    const notes: string[] = [];
    for (const mode of Object.keys(modes) as Mode[]) {
      const g = summary(results[mode].gateway);
      const b = summary(results[mode].bare);
      const ratio = g.ops / b.ops;
      figures.push({
        name: labels[mode],
        unit: 'calls/s',
        value: round(g.ops, 0),
        p50: round(g.p50, 3),
        p99: round(g.p99, 3),
        baseline: { name: 'bare grpc-js echo', value: round(b.ops, 0) },
        ratio: round(ratio, 2),
        target: `>= ${TARGET_RATIO}x bare grpc-js`,
        met: ratio >= TARGET_RATIO,
      });
      notes.push(`${labels[mode]}: bare p50 ${b.p50.toFixed(3)} ms, p99 ${b.p99.toFixed(3)} ms; server CPU per call gateway ${g.cpu.toFixed(1)} us vs bare ${b.cpu.toFixed(1)} us; ${g.n} + ${b.n} calls`);
      if (mode === 'raw h2 64') {
        figures.push({
          name: 'server CPU per Ping (raw HTTP/2 load)',
          unit: 'us/call',
          value: round(g.cpu, 1),
          baseline: { name: 'bare grpc-js echo', value: round(b.cpu, 1) },
          ratio: round(g.cpu / b.cpu, 2),
        });
      }
    }
    notes.push(`warm-up ${warmMs} ms per server; ${rounds} round(s) of ${phaseMs} ms per phase, alternating servers; figures are the median round, p50/p99 the median of the rounds' percentiles`);
    return { scenario: 'unary', figures, notes };
  } finally {
    conns.gateway.close();
    conns.bare.close();
    raws.gateway?.close();
    raws.bare?.close();
    await stopAll([gw, bare]);
  }
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'unary',
  description: 'Ping calls/s and p99 at 1 and 64 in flight: gateway vs bare grpc-js echo (same adapter, same TLS)',
  run,
};
