import { GatewayService } from '../../gen/openclaw/gateway/v1/gateway_pb';
import { SessionService, type ListAgentsResponse } from '../../gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall, type GatewayConnection } from '../../transport/grpc/client/gateway-connection';
import { isGatewayUnreachable } from './legacy-errors';
import { healthSummary } from './methods/health';
import { defaultAgentIdOf } from './methods/session-defaults';
import { canonicalSessionKey, DEFAULT_SESSION_KEY } from './methods/session-keys';
import { presenceOfResponse } from './presence';
import type { BridgePolicy } from './policy';
import { callOptsFor, principalHas, type Principal } from './principal';

/** The hello-ok snapshot: presence, health, their versions, uptime, and (for readers) the session defaults. */
export interface HelloSnapshot {
  presence: Record<string, unknown>[];
  health: Record<string, unknown>;
  stateVersion: { presence: number; health: number };
  uptimeMs: number;
  sessionDefaults?: SessionDefaultsSnapshot;
}

/**
 * `snapshot.sessionDefaults`, as the real gateway 2026.9.6 sends it: {defaultAgentId, modelConfigured,
 * ownership, selectionRequired, mainKey, mainSessionKey, scope}. The Control UI opens
 * `mainSessionKey` first. There is no ownership model here, so `ownership` is absent.
 */
export interface SessionDefaultsSnapshot {
  defaultAgentId: string;
  modelConfigured: boolean;
  selectionRequired: boolean;
  mainKey: string;
  mainSessionKey: string;
  scope: string;
}

function sessionDefaultsOf(res: ListAgentsResponse): SessionDefaultsSnapshot {
  const defaultAgentId = defaultAgentIdOf(res);
  const agent = res.agents.find((a) => a.agentId === defaultAgentId);
  return {
    defaultAgentId,
    modelConfigured: Boolean(agent?.model),
    selectionRequired: false,
    mainKey: DEFAULT_SESSION_KEY,
    mainSessionKey: canonicalSessionKey(DEFAULT_SESSION_KEY, defaultAgentId),
    scope: 'per-sender',
  };
}

/**
 * Reads the snapshot through the gateway as the principal. Principals without
 * operator.read get an empty one after a Ping (which also proves the gateway is up).
 * Throws only when the gateway is unreachable; refusals give an empty part.
 * `healthVersion`: the bridge's health state version (health events).
 */
export async function loadSnapshot(gateway: GatewayConnection, principal: Principal, now: () => number, timeoutMs: number, healthVersion = 0): Promise<{ snapshot: HelloSnapshot; version?: string }> {
  const opts = callOptsFor(principal, timeoutMs);
  const g = gateway.client(GatewayService);
  const started = now();
  if (!principalHas(principal, 'operator.read')) {
    await unaryCall(g, g.ping, {}, opts);
    return { snapshot: { presence: [], health: healthSummary({ ts: now(), durationMs: now() - started }), stateVersion: { presence: 0, health: healthVersion }, uptimeMs: 0 } };
  }
  const soft = <T>(p: Promise<T>): Promise<T | undefined> =>
    p.catch((err: unknown) => {
      if (isGatewayUnreachable(err)) throw err;
      return undefined;
    });
  const sessions = gateway.client(SessionService);
  const [status, res, agents] = await Promise.all([
    soft(unaryCall(g, g.getStatus, {}, opts)),
    soft(unaryCall(g, g.getPresence, {}, opts)),
    soft(unaryCall(sessions, sessions.listAgents, {}, opts)),
  ]);
  const presence = res ? presenceOfResponse(res, now()) : undefined;
  return {
    snapshot: {
      presence: presence?.presence ?? [],
      health: healthSummary({ ts: now(), durationMs: now() - started, status }),
      stateVersion: { presence: presence?.version ?? 0, health: healthVersion },
      uptimeMs: status ? Number(status.uptimeMs) : 0,
      ...(agents ? { sessionDefaults: sessionDefaultsOf(agents) } : {}),
    },
    version: status?.version,
  };
}

/**
 * The contracts of the legacy gateway's methods this bridge keeps, as hello-ok's
 * `features.capabilities` names them (clients check one before relying on it; the real CLI's
 * `models list` needs `published-model-catalog`: `models.list` rows with their input kinds,
 * whether they are local and available, and tags). Only what the methods here honour.
 */
export const BRIDGE_CAPABILITIES: readonly string[] = ['published-model-catalog'];

/** The hello-ok payload (legacy-protocol.md, "Handshake" step 4). */
export function helloPayload(input: {
  protocol: number;
  connId: string;
  version: string;
  methods: readonly string[];
  events: readonly string[];
  snapshot: HelloSnapshot;
  principal: Principal;
  deviceToken?: string;
  issuedAtMs?: number;
  policy: Pick<BridgePolicy, 'maxPayload' | 'maxBufferedBytes' | 'tickIntervalMs'>;
}): Record<string, unknown> {
  const p = input.principal;
  return {
    type: 'hello-ok',
    protocol: input.protocol,
    server: { version: input.version, connId: input.connId },
    features: { methods: [...input.methods], events: [...input.events], capabilities: [...BRIDGE_CAPABILITIES] },
    snapshot: input.snapshot,
    // The device token is the same on every hello until it is rotated or revoked (issuedAtMs: when it was issued).
    auth: {
      method: p.method,
      role: p.role,
      scopes: [...p.scopes],
      ...(input.deviceToken ? { deviceToken: input.deviceToken, issuedAtMs: input.issuedAtMs } : {}),
    },
    policy: { maxPayload: input.policy.maxPayload, maxBufferedBytes: input.policy.maxBufferedBytes, tickIntervalMs: input.policy.tickIntervalMs },
  };
}
