/**
 * mTLS connect + first call: a fresh channel (own subchannel, `grpc.use_local_subchannel_pool`)
 * per sample, TCP + TLS 1.3 handshake with the cli client certificate + HTTP/2 set-up +
 * one Ping, then close. The real gateway against a bare grpc-js server with the same
 * TLS (same certificate-provider credentials, client certificates optional) and a
 * trivial Ping, no interceptor. Servers run in child processes; samples alternate
 * between them so machine noise hits both alike.
 */
import { randomBytes } from 'node:crypto';
import { stopAll } from '../lib/child';
import { connectTo, identityTls, ping } from '../lib/grpc';
import { startBareChild, startGatewayChild } from '../lib/servers';
import { latencyStats, nowMs, round } from '../measure';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from '../types';

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const samples = opts.quick ? 30 : 300;
  const warmup = opts.quick ? 5 : 30;
  const gw = await startGatewayChild();
  const bare = await startBareChild(gw.info.stateDir).catch(async (err: unknown) => {
    await gw.stop();
    throw err;
  });
  try {
    const tls = identityTls(gw.info.identities.cli);
    const payload = randomBytes(32);
    const once = async (address: string): Promise<number> => {
      const t0 = nowMs();
      const conn = connectTo(address, tls);
      try {
        await ping(conn, payload);
        return nowMs() - t0;
      } finally {
        conn.close();
      }
    };
    for (let i = 0; i < warmup; i++) {
      await once(gw.info.address);
      await once(bare.info.address);
    }
    const g: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < samples; i++) {
      if (i % 2 === 0) {
        g.push(await once(gw.info.address));
        b.push(await once(bare.info.address));
      } else {
        b.push(await once(bare.info.address));
        g.push(await once(gw.info.address));
      }
    }
    const gs = latencyStats(g);
    const bs = latencyStats(b);
    const figures: Figure[] = [
      {
        name: 'mTLS connect + first Ping, gateway',
        unit: 'ms p50',
        value: round(gs.p50, 3),
        p50: round(gs.p50, 3),
        p99: round(gs.p99, 3),
        baseline: { name: 'bare grpc-js, same TLS', value: round(bs.p50, 3) },
        ratio: round(gs.p50 / bs.p50, 2),
      },
      { name: 'mTLS connect + first Ping, bare grpc-js', unit: 'ms p50', value: round(bs.p50, 3), p50: round(bs.p50, 3), p99: round(bs.p99, 3) },
    ];
    return {
      scenario: 'connect',
      figures,
      notes: [`${samples} fresh channels per server (after ${warmup} warm-up each), alternating; RSA-2048 server and client keys; ratio > 1 means the gateway is slower`],
    };
  } finally {
    await stopAll([gw, bare]);
  }
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'connect',
  description: 'fresh mTLS channel + first Ping: gateway vs bare grpc-js with the same TLS',
  run,
};
