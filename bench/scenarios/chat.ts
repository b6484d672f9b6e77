/**
 * Chat: SessionService.SendMessage with the built-in provider (offline, deterministic,
 * streams one delta per word), on one mTLS connection to a gateway child. Measured per
 * turn: send to the first assistant delta on the stream, and send to the end of the
 * stream. Turns are sequential (one turn at a time per session); a new session every
 * 20 turns. Baseline: a Ping round trip on the same connection, sampled between turns.
 */
import { randomBytes } from 'node:crypto';
import { SessionService, type SendMessageResponse } from '../../src/gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { stopAll } from '../lib/child';
import { connectTo, identityTls, ping } from '../lib/grpc';
import { startGatewayChild } from '../lib/servers';
import { latencyStats, nowMs, round, withTimeout } from '../measure';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from '../types';

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const turns = opts.quick ? 15 : 150;
  const warmup = opts.quick ? 3 : 10;
  const gw = await startGatewayChild();
  const conn = connectTo(gw.info.address, identityTls(gw.info.identities.cli));
  try {
    const sessions = conn.client(SessionService);
    const payload = randomBytes(32);
    let sessionId = '';
    const firstDelta: number[] = [];
    const whole: number[] = [];
    const pings: number[] = [];
    for (let i = -warmup; i < turns; i++) {
      if ((i + warmup) % 20 === 0) sessionId = (await unaryCall(sessions, sessions.createSession, { label: `bench ${i}` })).session!.sessionId;
      const t0 = nowMs();
      let first = 0;
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          const s = sessions.sendMessage({ sessionId, text: `hello from the bench, turn ${i}`, idempotencyKey: '' });
          s.on('data', (m: SendMessageResponse) => {
            if (first === 0 && m.output?.stream === 'assistant' && m.output.delta) first = nowMs();
          });
          s.on('error', reject);
          s.on('end', () => resolve());
        }),
        15_000,
        'chat turn',
      );
      const end = nowMs();
      if (first === 0) throw new Error('the turn streamed no assistant delta');
      const p0 = nowMs();
      await ping(conn, payload);
      const p = nowMs() - p0;
      if (i < 0) continue;
      firstDelta.push(first - t0);
      whole.push(end - t0);
      pings.push(p);
    }
    const f = latencyStats(firstDelta);
    const w = latencyStats(whole);
    const b = latencyStats(pings);
    const figures: Figure[] = [
      {
        name: 'chat send -> first assistant delta (builtin provider)',
        unit: 'ms p50',
        value: round(f.p50, 3),
        p50: round(f.p50, 3),
        p99: round(f.p99, 3),
        baseline: { name: 'Ping round trip', value: round(b.p50, 3) },
        ratio: round(f.p50 / b.p50, 1),
      },
      {
        name: 'chat send -> end of turn (builtin provider, ~9 deltas)',
        unit: 'ms p50',
        value: round(w.p50, 3),
        p50: round(w.p50, 3),
        p99: round(w.p99, 3),
      },
    ];
    return {
      scenario: 'chat',
      figures,
      notes: [`${turns} turns after ${warmup} warm-up, sequential, one session per 20 turns; the user message and the reply are persisted per turn (transcript file per session)`],
    };
  } finally {
    conn.close();
    await stopAll([gw]);
  }
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'chat',
  description: 'SessionService.SendMessage (builtin provider): send -> first delta latency, vs a Ping round trip',
  run,
};
