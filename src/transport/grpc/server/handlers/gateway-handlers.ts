import type { GatewayService } from '../../../../gen/openclaw/gateway/v1/gateway_pb';
import type { ClientInfo, EventService } from '../../../../gen/openclaw/events/v1/events_pb';
import { errors } from '../../../../errors';
import type { ClientDescription } from '../../../../services/presence/client-presence';
import type { LogService } from '../../../../gen/openclaw/logs/v1/logs_pb';
import type { Clock } from '../../../../clock';
import { scopeSatisfied, type DeviceRegistry } from '../../../../identity';
import { MAX_SUBSCRIPTIONS_SHARED_TOKEN, type DeliveredEvent, type EventHub } from '../../../../services/events/event-hub';
import { TOKEN_PRINCIPAL } from '../../metadata-keys';
import type { PairingService } from '../../../../services/pairing/pairing-service';
import type { LogBuffer } from '../../../../services/logs/log-buffer';
import type { ServiceImpl } from '../../service-definition';
import { serverStream, unary, type HandlerContext } from '../handler-kit';
import { EventEncoder } from './event-encoding';

/** What the status call reports beyond identity: counts owned by other services. */
export interface StatusSources {
  version: string;
  startedAt: number;
  clock: Clock;
  registry: DeviceRegistry;
  pairing: PairingService;
  counts: () => { cronJobs: number; sessions: number };
  /** This process among replicas: "<host>/<pid>". */
  replica: string;
  /** Where state is kept ("files" or "postgres"). */
  storage: string;
}

/** GatewayService: status, presence and a cheap authenticated ping. */
export function gatewayHandlers(ctx: HandlerContext, src: StatusSources): ServiceImpl<typeof GatewayService> {
  return {
    getStatus: unary(ctx, () => {
      const all = src.registry.list({ includeRevoked: true });
      const counts = src.counts();
      const now = src.clock.now();
      return {
        version: src.version,
        uptimeMs: BigInt(now - src.startedAt),
        startedAtMs: BigInt(src.startedAt),
        devicesActive: all.filter((d) => d.status === 'active').length,
        devicesRevoked: all.filter((d) => d.status === 'revoked').length,
        pairingPending: src.pairing.list().length,
        connections: ctx.presence.list().length,
        cronJobs: counts.cronJobs,
        sessions: counts.sessions,
        trustDomain: src.registry.ca.trustDomain,
        caFingerprintSha256: src.registry.ca.fingerprint,
        replica: src.replica,
        storage: src.storage,
      };
    }),
    getPresence: unary(ctx, () => ({
      entries: ctx.presence.list().map((e) => ({
        deviceId: e.deviceId,
        label: e.label,
        role: e.role,
        transport: e.transport,
        connectedAtMs: BigInt(e.connectedAt),
        lastSeenMs: BigInt(e.lastSeen),
        streams: e.streams,
      })),
      clients: ctx.presence.clients.list().map(({ principal, connected, connectedAtMs, changedAtMs, ...client }) => ({
        client,
        principal,
        connected,
        connectedAtMs: BigInt(connectedAtMs),
        changedAtMs: BigInt(changedAtMs),
      })),
      clientsVersion: BigInt(ctx.presence.clients.version),
      gateway: { ...ctx.presence.clients.self },
    })),
    ping: unary(ctx, (req) => ({ payload: req.payload, serverTimeMs: BigInt(src.clock.now()) })),
  };
}

/** EventService: one server stream per subscription, resumable by (subscription id, seq) on any replica. */
export function eventHandlers(ctx: HandlerContext, hub: EventHub): ServiceImpl<typeof EventService> {
  const encoder = new EventEncoder();
  return {
    subscribe: serverStream(ctx, async (req, caller, sink) => {
      const client = req.client ? checkClientInfo(req.client) : undefined;
      // Replayed events (and live ones) arrive while subscribe() runs; hold them until the
      // client has been told its subscription id, so `subscribed` always comes first.
      const held: DeliveredEvent[] = [];
      let send: ((e: DeliveredEvent) => void) | undefined;
      const sub = await hub.subscribe(
        {
          owner: caller.deviceId,
          // Every token-only legacy client is the one shared principal: room for many of them.
          maxHeld: caller.deviceId === TOKEN_PRINCIPAL ? MAX_SUBSCRIPTIONS_SHARED_TOKEN : undefined,
          types: req.types,
          subscriptionId: req.subscriptionId || undefined,
          resumeAfterSeq: Number(req.resumeAfterSeq),
          // Pairing events carry device ids and verification codes: pairing operators only.
          accept: (type) => !type.startsWith('device.pair.') || scopeSatisfied(caller.scopes, 'operator.pairing'),
        },
        (e) => (send ? send(e) : held.push(e)),
      );
      if (sink.isClosed) {
        // The client left while the subscription was being attached.
        sub.detach();
        return;
      }
      // A subscriber that described itself is listed in client presence while the stream lives.
      const leave = client ? ctx.presence.clients.open(caller.deviceId, client) : undefined;
      sink.write({ event: { seq: 0n, subscriptionId: sub.subscriptionId, type: 'subscribed', tsMs: BigInt(ctx.clock.now()), payloadJson: '{}' } });
      // Each event's shared part is encoded once for all the streams it goes to; this stream's own part once.
      const encode = encoder.forSubscription(sub.subscriptionId);
      send = (e) => sink.write(encode(e) as never);
      for (const e of held.splice(0)) send(e);
      // The hub ends a stream whose subscription was resumed elsewhere, expired, or when
      // stopping (an error), or that its owner ended (null: the stream ends with OK).
      const endedBy = await Promise.race([sink.closed.then(() => undefined), sub.ended]);
      leave?.();
      sub.detach();
      if (endedBy) throw endedBy;
      if (endedBy === null) sink.end();
    }),
    unsubscribe: unary(ctx, async (req, caller) => {
      if (!req.subscriptionId) throw errors.invalid('INVALID_SUBSCRIPTION_ID', 'subscription_id is required');
      if (!(await hub.unsubscribe(caller.deviceId, req.subscriptionId))) {
        throw errors.notFound('SUBSCRIPTION_NOT_FOUND', `subscription ${req.subscriptionId} is not one of yours (unknown or expired)`);
      }
      return {};
    }),
  };
}

/** Checks what a subscriber says about itself (bounded, so presence cannot be used to store much). */
function checkClientInfo(c: ClientInfo): ClientDescription {
  if (c.instanceKey.length === 0 || c.instanceKey.length > 128) throw errors.invalid('INVALID_CLIENT_INFO', 'client.instance_key must have 1 to 128 characters');
  const fields = [c.clientId, c.mode, c.displayName, c.version, c.platform, c.deviceFamily, c.modelIdentifier, c.instanceId, c.role];
  if (fields.some((f) => f.length > 256) || c.scopes.length > 64 || c.scopes.some((sc) => sc.length > 128)) {
    throw errors.invalid('INVALID_CLIENT_INFO', 'client fields have at most 256 characters, scopes at most 64 names of 128');
  }
  return {
    instanceKey: c.instanceKey,
    clientId: c.clientId,
    mode: c.mode,
    displayName: c.displayName,
    version: c.version,
    platform: c.platform,
    deviceFamily: c.deviceFamily,
    modelIdentifier: c.modelIdentifier,
    instanceId: c.instanceId,
    role: c.role,
    scopes: [...c.scopes],
  };
}

/** LogService: recent gateway log lines, and new ones as they come when following. */
export function logHandlers(ctx: HandlerContext, logs: LogBuffer): ServiceImpl<typeof LogService> {
  return {
    tailLogs: serverStream(ctx, async (req, _caller, sink) => {
      for (const line of logs.tail(req.lines > 0 ? req.lines : 50)) sink.write({ lineJson: line });
      if (!req.follow) {
        sink.end();
        return;
      }
      const stop = logs.follow((line) => sink.write({ lineJson: line }));
      await sink.closed;
      stop();
    }),
  };
}
