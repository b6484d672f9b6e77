import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ClientInfoSchema } from '../../gen/openclaw/events/v1/events_pb';
import type { GetPresenceResponse } from '../../gen/openclaw/gateway/v1/gateway_pb';
import type { ConnectParams } from './frames';
import type { Principal } from './principal';

/**
 * Client modes the legacy gateway leaves out of presence (one-shot CLI calls, backends,
 * probes); every other client is listed while connected, then for a while as gone.
 */
const UNTRACKED_MODES: ReadonlySet<string> = new Set(['cli', 'backend', 'probe']);

/**
 * What a legacy connection tells the gateway about itself on its event subscription,
 * so that the gateway lists it in client presence while the subscription lives
 * (undefined for clients the legacy gateway does not list).
 */
export function presenceClientInfo(connId: string, client: ConnectParams['client'], principal: Principal): MessageInitShape<typeof ClientInfoSchema> | undefined {
  if (UNTRACKED_MODES.has(client.mode)) return undefined;
  return {
    instanceKey: connId,
    clientId: client.id,
    mode: client.mode,
    displayName: client.displayName ?? '',
    version: client.version,
    platform: client.platform,
    deviceFamily: client.deviceFamily ?? '',
    modelIdentifier: client.modelIdentifier ?? '',
    instanceId: client.instanceId ?? '',
    role: principal.role,
    scopes: [...principal.scopes],
  };
}

/** The gateway process as the gateway describes it. */
export interface GatewayDescription {
  host: string;
  version: string;
  platform: string;
  deviceFamily: string;
}

/** A client of the gateway's client presence (from GetPresence or a `presence` event). */
export interface PresentClient {
  clientId: string;
  mode: string;
  displayName: string;
  version: string;
  platform: string;
  deviceFamily: string;
  modelIdentifier: string;
  instanceId: string;
  role: string;
  scopes: readonly string[];
  principal: string;
  connected: boolean;
  connectedAtMs: number;
  changedAtMs: number;
}

/**
 * The legacy presence list: the gateway first (`reason:"self"`), then its clients,
 * newest change first, as `{host, clientId, mode, roles, scopes?, deviceId?, instanceId?,
 * version, platform, deviceFamily?, onlineSince, reason:"connect"|"disconnect", text, ts}`.
 */
export function legacyPresence(gateway: GatewayDescription, clients: readonly PresentClient[], now: number): Record<string, unknown>[] {
  const self = {
    host: gateway.host,
    version: gateway.version,
    platform: gateway.platform,
    deviceFamily: gateway.deviceFamily,
    mode: 'gateway',
    reason: 'self',
    text: `Gateway: ${gateway.host} · app ${gateway.version} · mode gateway · reason self`,
    ts: now,
  };
  return [
    self,
    ...clients.map((c) => {
      const host = c.displayName || c.clientId;
      return {
        host,
        clientId: c.clientId,
        mode: c.mode,
        roles: [c.role],
        ...(c.scopes.length > 0 ? { scopes: [...c.scopes] } : {}),
        ...(c.principal && c.principal !== 'token' ? { deviceId: c.principal } : {}),
        ...(c.instanceId ? { instanceId: c.instanceId } : {}),
        version: c.version,
        platform: c.platform,
        ...(c.deviceFamily ? { deviceFamily: c.deviceFamily } : {}),
        ...(c.modelIdentifier ? { modelIdentifier: c.modelIdentifier } : {}),
        onlineSince: c.connectedAtMs,
        reason: c.connected ? 'connect' : 'disconnect',
        text: `Node: ${host} · mode ${c.mode}`,
        ts: c.changedAtMs,
      };
    }),
  ];
}

/** The legacy list and its version from a GetPresence answer. */
export function presenceOfResponse(res: GetPresenceResponse, now: number): { presence: Record<string, unknown>[]; version: number } {
  const gateway = res.gateway ?? { host: '', version: '', platform: '', deviceFamily: '' };
  const clients = res.clients.map((p) => ({
    ...(p.client ?? { clientId: '', mode: '', displayName: '', version: '', platform: '', deviceFamily: '', modelIdentifier: '', instanceId: '', role: '', scopes: [] }),
    principal: p.principal,
    connected: p.connected,
    connectedAtMs: Number(p.connectedAtMs),
    changedAtMs: Number(p.changedAtMs),
  }));
  return { presence: legacyPresence(gateway, clients, now), version: Number(res.clientsVersion) };
}

/** The legacy list and its version from the payload of the gateway's `presence` event, or undefined if it is not one. */
export function presenceOfEvent(payloadJson: string, now: number): { presence: Record<string, unknown>[]; version: number } | undefined {
  try {
    const p = JSON.parse(payloadJson) as { version?: unknown; gateway?: GatewayDescription; clients?: PresentClient[] };
    if (typeof p.version !== 'number' || !p.gateway || !Array.isArray(p.clients)) return undefined;
    return { presence: legacyPresence(p.gateway, p.clients, now), version: p.version };
  } catch {
    return undefined;
  }
}
