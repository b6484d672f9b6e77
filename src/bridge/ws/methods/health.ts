import { GatewayService, type GetStatusResponse } from '../../../gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { presenceOfResponse } from '../presence';
import { principalHas } from '../principal';
import { ms } from './params';
import type { LegacyMethod, MethodContext } from './types';

/**
 * The legacy health summary. Channel and heartbeat fields are part of the shape
 * legacy clients render; this gateway has no channels, so they are empty.
 */
export function healthSummary(input: { ts: number; durationMs: number; status?: GetStatusResponse }): Record<string, unknown> {
  const st = input.status;
  return {
    ok: true,
    ts: input.ts,
    durationMs: input.durationMs,
    channels: {},
    channelOrder: [],
    channelLabels: {},
    heartbeatSeconds: 0,
    agents: [],
    sessions: { path: '', count: st?.sessions ?? 0, recent: [] },
    ...(st
      ? {
          gateway: {
            version: st.version,
            uptimeMs: ms(st.uptimeMs),
            connections: st.connections,
            devicesActive: st.devicesActive,
            pairingPending: st.pairingPending,
            cronJobs: st.cronJobs,
          },
        }
      : {}),
  };
}

async function status(ctx: MethodContext): Promise<GetStatusResponse> {
  const c = ctx.gateway.client(GatewayService);
  return unaryCall(c, c.getStatus, {}, ctx.call);
}

/**
 * `health` answers for any scopes: the gateway's Ping needs none, and the status
 * counters are added only when the principal may read them.
 */
async function health(ctx: MethodContext): Promise<unknown> {
  const started = ctx.clock.now();
  const c = ctx.gateway.client(GatewayService);
  await unaryCall(c, c.ping, {}, ctx.call);
  const st = principalHas(ctx.principal, 'operator.read') ? await status(ctx) : undefined;
  return healthSummary({ ts: ctx.clock.now(), durationMs: ctx.clock.now() - started, status: st });
}

/** health, status, system-presence. */
export const HEALTH_METHODS: readonly LegacyMethod[] = [
  { method: 'health', scope: null, handler: health },
  {
    method: 'status',
    scope: 'operator.read',
    handler: async (ctx) => {
      const st = await status(ctx);
      return {
        ok: true,
        ts: ctx.clock.now(),
        version: st.version,
        uptimeMs: ms(st.uptimeMs),
        startedAtMs: ms(st.startedAtMs),
        devices: { active: st.devicesActive, revoked: st.devicesRevoked, pairingPending: st.pairingPending },
        connections: st.connections,
        cron: { jobs: st.cronJobs },
        sessions: { count: st.sessions, recent: [] },
        trustDomain: st.trustDomain,
        caFingerprintSha256: st.caFingerprintSha256,
      };
    },
  },
  {
    method: 'system-presence',
    scope: 'operator.read',
    handler: async (ctx) => {
      const c = ctx.gateway.client(GatewayService);
      // The same list as hello snapshots and `presence` events: the gateway, then its clients.
      return presenceOfResponse(await unaryCall(c, c.getPresence, {}, ctx.call), ctx.clock.now()).presence;
    },
  },
];
