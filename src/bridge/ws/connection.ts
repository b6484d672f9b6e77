import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { Clock } from '../../clock';
import { ErrorCode, GatewayError } from '../../errors';
import { audit, type Logger } from '../../logging';
import type { GatewayConnection } from '../../transport/grpc/client/gateway-connection';
import type { AuthFailures } from './auth-failures';
import { authenticate } from './authenticate';
import { CLOSE, closeReason } from './close-codes';
import { EventRelay } from './event-relay';
import { errorFrame, eventFrame, MIN_PROBE_PROTOCOL, NO_ID, okFrame, parseConnectParams, parseRequestFrame, PROTOCOL_VERSION, rawEventFrame, stateEventFrame, type ConnectParams, type ParsedFrame } from './frames';
import type { HealthBroadcaster } from './health-broadcast';
import { presenceClientInfo, presenceOfEvent } from './presence';
import { helloPayload, loadSnapshot } from './hello';
import { isGatewayUnreachable, LegacyError, legacyErrors, toLegacyError } from './legacy-errors';
import type { OriginDecision } from './origin-policy';
import { advertisedMethods, type LegacyMethod, type MethodContext } from './methods';
import { errorPayloadOf } from './methods/run-answers';
import type { BridgePolicy } from './policy';
import { callOptsFor, principalHas, type Principal } from './principal';
import type { RunTracker } from './run-tracker';
import { unclassifiedMethod } from './unclassified-method';
import { withTokenOnlyHint } from './token-only-hint';

/** Gateway events forwarded to legacy clients (the others are not part of protocol v4). */
export const FORWARDED_EVENTS: readonly string[] = ['agent', 'chat', 'sessions.changed', 'presence', 'cron', 'device.pair.requested', 'device.pair.resolved'];

/**
 * Every event a legacy client can get from the bridge (hello-ok `features.events`): of
 * what the legacy gateway announces, the ones this gateway really sends, in its order.
 */
export const BRIDGE_EVENTS: readonly string[] = ['connect.challenge', 'agent', 'chat', 'sessions.changed', 'presence', 'tick', 'shutdown', 'health', 'cron', 'device.pair.requested', 'device.pair.resolved'];

const FORWARDED = new Set(FORWARDED_EVENTS);

/** Why the gateway ends a device's streams when the device's credentials changed. */
const DEVICE_GONE = new Set(['DEVICE_TOKEN_ROTATED', 'DEVICE_TOKEN_REVOKED', 'DEVICE_REVOKED']);

/** What a connection needs from the bridge. */
export interface ConnectionDeps {
  gateway: GatewayConnection;
  policy: Readonly<BridgePolicy>;
  log: Logger;
  clock: Clock;
  legacyToken: () => string;
  tokenOnlyScopes: () => readonly string[];
  methods: ReadonlyMap<string, LegacyMethod>;
  runs: RunTracker;
  /** Bridge-wide `health` events; its version goes into hello snapshots and presence frames. */
  health: HealthBroadcaster;
  /** The version to announce when the gateway did not tell one. */
  version: string;
  /** Remote address, for audit lines. */
  remote: string;
  /** The raw TCP socket, to bound what a client may send before hello (frames still in flight included), and to batch writes. */
  rawSocket?: { on(event: 'data', fn: (chunk: Buffer) => void): unknown; off(event: 'data', fn: (chunk: Buffer) => void): unknown; cork?(): void; uncork?(): void };
  /** The upgrade's browser Origin and the origin policy's decision (origin-policy.ts); a refused one fails the connect. */
  origin?: { value?: string; decision: OriginDecision };
  /** Told of each device token handed out in a hello-ok (the Control UI's bootstrap config accepts it as a bearer token). */
  onDeviceToken?: (deviceId: string, token: string) => void;
  /** Wrong credentials per client address; a locked-out address is refused before any comparison. */
  authFailures?: AuthFailures;
  /** Closes the open connections of a device on this bridge (its token was rotated or revoked, or it was removed). */
  disconnectDevice: (deviceId: string) => void;
  /** Called with 'open' when the handshake finished and with 'closed' when the socket closed. */
  onState: (conn: BridgeConnection, state: 'open' | 'closed') => void;
}

type State = 'awaiting-connect' | 'authenticating' | 'open' | 'closing';

type RawData = WebSocket.RawData;

function sizeOf(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

function textOf(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return (data instanceof ArrayBuffer ? Buffer.from(data) : data).toString('utf8');
}

/**
 * One legacy WebSocket connection: challenge, connect, hello-ok, then requests and
 * events. Before hello only `connect` is accepted (64 KiB frames, 15 queued frames,
 * 15 s); afterwards each request maps to gRPC calls made for the connection's
 * principal, and gateway events are forwarded with a per-connection seq.
 */
export class BridgeConnection {
  readonly connId = randomUUID();
  private state: State = 'awaiting-connect';
  private readonly nonce = randomUUID();
  private seq = 0;
  private principal?: Principal;
  private client?: ConnectParams['client'];
  /** The device id a connect claimed (for audit lines of refused connects). */
  private claimedDevice?: string;
  private readonly queued: (string | undefined)[] = [];
  private readonly pendingEvents: [string, string][] = [];
  private relay?: EventRelay;
  private readonly abort = new AbortController();
  private readonly handshakeTimer: NodeJS.Timeout;
  private readonly pingTimer: NodeJS.Timeout;
  private killTimer?: NodeJS.Timeout;
  private alive = true;
  private inFlight = 0;
  /** The socket is corked until the end of this tick (see send). */
  private corked = false;
  private preauthBytes = 0;
  /** Counts raw bytes before hello: ws buffers a whole frame (up to maxPayload) before the message-size check sees it. */
  private readonly countPreauth = (chunk: Buffer): void => {
    this.preauthBytes += chunk.length;
    const budget = (this.deps.policy.maxQueuedBeforeHello + 1) * (this.deps.policy.preauthMaxPayload + 14);
    // Empty reason, as the legacy gateway's socket layer closes it.
    if (this.preauthBytes > budget) this.closeWith(CLOSE.messageTooBig, '', 500);
  };
  private sessionsSubscribed = false;
  /** The client presence version last told to this client (hello snapshot or presence event). */
  private presenceVersion = 0;
  /** The gateway's presence version in the hello snapshot, until the first presence event is sent. */
  private snapshotPresence?: number;

  constructor(
    private readonly ws: WebSocket,
    private readonly deps: ConnectionDeps,
  ) {
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', () => this.onClose());
    ws.on('error', (err) => deps.log.debug({ connId: this.connId, err: err.message }, 'bridge socket error'));
    ws.on('pong', () => {
      this.alive = true;
    });
    deps.rawSocket?.on('data', this.countPreauth);
    this.handshakeTimer = setTimeout(() => this.closeWith(CLOSE.policyViolation, 'handshake timeout'), deps.policy.handshakeTimeoutMs);
    this.pingTimer = setInterval(() => this.ping(), deps.policy.pingIntervalMs);
    this.send(eventFrame('connect.challenge', { nonce: this.nonce, ts: deps.clock.now() }));
  }

  /** The principal once the handshake succeeded. */
  get authenticated(): Principal | undefined {
    return this.state === 'open' ? this.principal : undefined;
  }

  /** The bridge-wide `tick` (one timer for every connection, as the legacy gateway has). */
  tick(ts: number): void {
    if (this.state === 'open') this.sendEvent('tick', { ts });
  }

  /** A `health` event (every client gets them, whatever its scopes). */
  sendHealth(payload: Record<string, unknown>, version: number): void {
    if (this.state !== 'open') return;
    this.send(stateEventFrame('health', payload, ++this.seq, { presence: this.presenceVersion, health: version }));
  }

  /** Gateway stopping: `shutdown` event (authenticated clients), then close 1012. */
  shutdown(reason: string): void {
    if (this.state === 'open') this.sendEvent('shutdown', { reason });
    this.closeWith(CLOSE.serviceRestart, 'service restart');
  }

  /** Drops the socket without a close handshake (last resort at shutdown). */
  terminate(): void {
    this.ws.terminate();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.state === 'closing') return;
    if (this.state !== 'open' && sizeOf(data) > this.deps.policy.preauthMaxPayload) {
      this.closeWith(CLOSE.messageTooBig, '');
      return;
    }
    // Legacy frames are text; after hello a binary frame is answered as an invalid frame
    // (before it, its bytes are read as text, as the legacy gateway does).
    const text = isBinary && this.state === 'open' ? undefined : textOf(data);
    switch (this.state) {
      case 'awaiting-connect':
        this.state = 'authenticating';
        void this.handshake(text);
        return;
      case 'authenticating':
        if (this.queued.length >= this.deps.policy.maxQueuedBeforeHello) this.closeWith(CLOSE.policyViolation, 'too many frames before hello');
        else this.queued.push(text);
        return;
      case 'open':
        this.request(text);
    }
  }

  private parse(text: string | undefined): ParsedFrame {
    return text === undefined ? { ok: false, problem: 'binary frames are not supported' } : parseRequestFrame(text);
  }

  private async handshake(text: string | undefined): Promise<void> {
    const parsed = this.parse(text);
    // As the legacy gateway: a first frame that is not JSON is closed (1000) without an
    // answer; JSON that is not a request frame gets 1008 "invalid request frame", no answer.
    if (!parsed.ok && parsed.notJson) return this.refuseFirstFrame(CLOSE.normal, '', 'not JSON');
    if (!parsed.ok) return this.refuseFirstFrame(CLOSE.policyViolation, 'invalid request frame', parsed.problem);
    const id = parsed.frame.id;
    try {
      if (parsed.frame.method !== 'connect') throw legacyErrors.firstRequestNotConnect();
      const checked = parseConnectParams(parsed.frame.params);
      if (!checked.ok) throw legacyErrors.invalidConnectParams(checked.problem);
      const params = checked.params;
      this.client = params.client;
      this.claimedDevice = params.device?.id;
      const protocol = this.protocolFor(params);
      if (protocol === undefined) throw legacyErrors.protocolMismatch(params.minProtocol, params.maxProtocol, PROTOCOL_VERSION, MIN_PROBE_PROTOCOL);
      const origin = this.deps.origin?.decision;
      if (origin && !origin.allowed) throw legacyErrors.originNotAllowed(origin.reason);

      const timeoutMs = Math.min(this.deps.policy.callTimeoutMs, this.deps.policy.handshakeTimeoutMs);
      const remoteIp = this.deps.remote.replace(/^::ffff:/, '');
      const lockedFor = this.deps.authFailures?.retryAfterMs(remoteIp) ?? 0;
      if (lockedFor > 0 && hasCredential(params)) throw legacyErrors.rateLimited(lockedFor);
      const authn = await authenticate(params, {
        gateway: this.deps.gateway,
        legacyToken: this.deps.legacyToken(),
        tokenOnlyScopes: this.deps.tokenOnlyScopes(),
        nonce: this.nonce,
        now: this.deps.clock.now(),
        signatureSkewMs: this.deps.policy.signatureSkewMs,
        callTimeoutMs: timeoutMs,
        remoteIp,
      });
      this.deps.authFailures?.succeed(remoteIp);
      if (this.state !== 'authenticating') return;
      const principal = authn.principal;
      this.principal = principal;
      const snapshotNow = () => loadSnapshot(this.deps.gateway, principal, () => this.deps.clock.now(), timeoutMs, this.deps.health.version);
      let loaded: Awaited<ReturnType<typeof loadSnapshot>>;
      if (presenceClientInfo(this.connId, params.client, principal)) {
        // Subscribed first: the snapshot then already lists this client (its own presence event is not sent).
        await this.subscribeEvents(principal, params.client);
        if (this.state !== 'authenticating') return;
        loaded = await snapshotNow();
      } else {
        // A client presence does not list (CLIs, probes): the two do not depend on each other.
        [, loaded] = await Promise.all([this.subscribeEvents(principal, params.client), snapshotNow()]);
      }
      if (this.state !== 'authenticating') return;
      const { snapshot, version } = loaded;
      this.presenceVersion = snapshot.stateVersion.presence;
      this.snapshotPresence = snapshot.stateVersion.presence;

      const hello = helloPayload({
        protocol,
        connId: this.connId,
        version: version ?? this.deps.version,
        methods: advertisedMethods(this.deps.methods),
        events: BRIDGE_EVENTS,
        snapshot,
        principal,
        deviceToken: authn.deviceToken,
        issuedAtMs: authn.issuedAtMs,
        policy: this.deps.policy,
      });
      this.send(okFrame(id, hello));
      if (authn.deviceToken && principal.deviceId) this.deps.onDeviceToken?.(principal.deviceId, authn.deviceToken);
      this.state = 'open';
      clearTimeout(this.handshakeTimer);
      this.deps.rawSocket?.off('data', this.countPreauth);
      this.auditConnect(true, { authMethod: principal.method, deviceId: principal.deviceId, role: principal.role, scopes: principal.scopes, proof: authn.proof });
      this.deps.onState(this, 'open');
      this.deps.health.afterHello();
      for (const [type, payload] of this.pendingEvents.splice(0)) this.forward(type, payload);
      for (const frame of this.queued.splice(0)) if (this.state === 'open') this.request(frame);
    } catch (err) {
      if (this.state === 'closing') return;
      const le = err instanceof LegacyError ? err : isGatewayUnreachable(err) ? legacyErrors.gatewayStarting() : toLegacyError(err, { principal: this.principal?.id });
      // A wrong shared token or device token counts against the address (a missing one does not).
      const authReason = le.details?.authReason;
      if (authReason === 'token_mismatch' || authReason === 'device_token_mismatch') this.deps.authFailures?.fail(this.deps.remote.replace(/^::ffff:/, ''));
      if (!(err instanceof LegacyError) && !(err instanceof GatewayError)) this.deps.log.error({ err, connId: this.connId }, 'bridge handshake failed');
      this.auditConnect(false, { code: le.code, reason: (le.details?.code as string | undefined) ?? le.message, requestId: le.details?.requestId, deviceId: le.details?.deviceId ?? this.claimedDevice });
      this.send(errorFrame(id, le.toShape()));
      this.closeWith(le.close?.code ?? CLOSE.policyViolation, le.close?.reason ?? le.message);
    }
  }

  /** A first frame that is not a request: closed without an answer (audited). */
  private refuseFirstFrame(code: number, reason: string, problem: string): void {
    this.auditConnect(false, { reason: 'invalid first frame', problem });
    this.closeWith(code, reason);
  }

  /**
   * The protocol to speak: 4 when the client's range holds it. Probes may offer 3 (up to
   * 4): they are answered with 4 all the same, as the legacy gateway does.
   */
  private protocolFor(p: ConnectParams): number | undefined {
    if (p.minProtocol <= PROTOCOL_VERSION && PROTOCOL_VERSION <= p.maxProtocol) return PROTOCOL_VERSION;
    if (p.client.mode === 'probe' && p.maxProtocol >= MIN_PROBE_PROTOCOL && p.minProtocol <= PROTOCOL_VERSION) return PROTOCOL_VERSION;
    return undefined;
  }

  /**
   * Opens the principal's event subscription (operator.read only) and waits until it is
   * live. The subscription also describes the client, so that the gateway lists it in
   * client presence while it lives (clients the legacy gateway lists: not cli/backend/probe).
   */
  private async subscribeEvents(principal: Principal, client: ConnectParams['client']): Promise<void> {
    if (!principalHas(principal, 'operator.read')) return;
    const relay = new EventRelay({
      gateway: this.deps.gateway,
      call: callOptsFor(principal),
      client: presenceClientInfo(this.connId, client, principal),
      log: this.deps.log,
      deliver: (type, payload) => {
        if (this.state === 'open') this.forward(type, payload);
        else if (this.state === 'authenticating') this.pendingEvents.push([type, payload]);
      },
      // The gateway cut the stream for good (principal revoked or no longer allowed):
      // the connection cannot go on as what it was authenticated as.
      onRefused: (err) => {
        this.deps.log.info({ connId: this.connId, reason: err.reason }, 'gateway ended the event subscription of a legacy client');
        // Its token rotated or revoked, or the device removed (through another bridge or replica): the legacy gateway's 4001.
        if (DEVICE_GONE.has(err.reason)) this.deviceRemoved();
        else this.closeWith(CLOSE.policyViolation, toLegacyError(err, { principal: principal.id }).message);
      },
    });
    this.relay = relay;
    try {
      await relay.start();
    } catch (err) {
      // Unreachable, or the principal holds as many subscriptions as it may: the connect fails with that.
      if (isGatewayUnreachable(err) || (err instanceof GatewayError && err.code === ErrorCode.ResourceExhausted)) throw err;
      // Refused (e.g. a role that may not subscribe): the client works without events.
      this.relay = undefined;
      this.deps.log.debug({ connId: this.connId, reason: (err as GatewayError).reason }, 'legacy client gets no events');
    }
  }

  private forward(type: string, payloadJson: string): void {
    if (!FORWARDED.has(type)) return;
    const p = this.principal!;
    if (type.startsWith('device.pair.') && !principalHas(p, 'operator.pairing')) return;
    if (type === 'sessions.changed' && !this.sessionsSubscribed) return;
    if (type === 'agent' && this.deps.runs.hasWaiters) this.deps.runs.observeAgentEvent(payloadJson);
    if (type === 'presence') {
      const presence = presenceOfEvent(payloadJson, this.deps.clock.now());
      if (!presence) return;
      // Changes that raced the handshake are in the hello snapshot already (this client's own connect among them).
      if (this.snapshotPresence !== undefined && presence.version <= this.snapshotPresence) return;
      this.snapshotPresence = undefined;
      // What the client is told only grows, also when the bridge's gateway connection moves to
      // another replica (whose count is its own): the gateway's version, or one more than the last.
      this.presenceVersion = Math.max(this.presenceVersion + 1, presence.version);
      this.send(stateEventFrame('presence', { presence: presence.presence }, ++this.seq, { presence: this.presenceVersion, health: this.deps.health.version }));
      return;
    }
    this.send(rawEventFrame(type, payloadJson, ++this.seq));
  }

  private sendEvent(event: string, payload: unknown): void {
    this.send(eventFrame(event, payload, ++this.seq));
  }

  private request(text: string | undefined): void {
    const parsed = this.parse(text);
    if (!parsed.ok) {
      this.send(errorFrame(parsed.id ?? NO_ID, legacyErrors.invalidRequest(`invalid request frame: ${parsed.problem}`).toShape()));
      return;
    }
    const { id, method, params } = parsed.frame;
    const principal = this.principal!;
    const spec = this.deps.methods.get(method);
    const refusal = this.refuse(method, spec, principal);
    if (refusal || !spec) {
      this.send(errorFrame(id, this.explain(refusal ?? unclassifiedMethod(method, principal), spec).toShape()));
      return;
    }
    const after: (() => void)[] = [];
    this.inFlight++;
    const ctx: MethodContext = {
      method,
      params,
      principal,
      gateway: this.deps.gateway,
      call: callOptsFor(principal, this.deps.policy.callTimeoutMs),
      streamCall: callOptsFor(principal),
      signal: this.abort.signal,
      accept: (payload) => this.send(okFrame(id, payload)),
      subscribeSessions: () => {
        this.sessionsSubscribed = true;
      },
      runs: this.deps.runs,
      clock: this.deps.clock,
      afterAnswer: (fn) => after.push(fn),
      disconnectDevice: (deviceId) => this.deps.disconnectDevice(deviceId),
    };
    Promise.resolve()
      .then(() => spec.handler(ctx))
      .then(
        (payload) => {
          this.send(okFrame(id, payload));
          for (const fn of after) fn();
        },
        (err: unknown) => {
          if (!(err instanceof LegacyError) && !(err instanceof GatewayError)) this.deps.log.error({ err, connId: this.connId, method }, 'bridge method failed');
          const le = this.explain(toLegacyError(err, { principal: principal.id, scope: spec.scope }), spec);
          this.send(errorFrame(id, le.toShape(), errorPayloadOf(err)));
          // The gateway no longer knows the principal (revoked): the connection is over.
          if (le.code === 'NOT_PAIRED') this.closeWith(CLOSE.policyViolation, le.message);
        },
      )
      .finally(() => this.inFlight--);
  }

  /** Why a request is refused before any gateway call, if it is. */
  private refuse(method: string, spec: LegacyMethod | undefined, principal: Principal): LegacyError | undefined {
    // As the legacy gateway: `connect` after hello needs admin like an unclassified method, and then is refused.
    if (method === 'connect') return principalHas(principal, 'operator.admin') ? legacyErrors.invalidRequest('connect is only valid as the first request') : unclassifiedMethod(method, principal);
    if (!spec) return unclassifiedMethod(method, principal);
    // Same scope table as the legacy gateway; the gateway checks again with the principal's grant.
    if (spec.scope && !principalHas(principal, spec.scope)) return legacyErrors.missingScope(spec.scope);
    if (this.inFlight >= this.deps.policy.maxInFlight) return legacyErrors.busy();
    return undefined;
  }

  /** A token-only client missing a scope of a served method is told how to get it. */
  private explain(le: LegacyError, spec: LegacyMethod | undefined): LegacyError {
    const p = this.principal;
    if (!spec || !p || p.deviceId !== undefined) return le;
    return withTokenOnlyHint(le, this.deps.tokenOnlyScopes());
  }

  /** This connection's device, when it signed in as one. */
  get deviceId(): string | undefined {
    return this.principal?.deviceId;
  }

  /** The device's credentials changed (token rotated or revoked, device removed): the legacy gateway's 4001 close. */
  deviceRemoved(): void {
    this.closeWith(CLOSE.deviceRemoved, 'device removed');
  }

  private send(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.ws.bufferedAmount + text.length > this.deps.policy.maxBufferedBytes) {
      this.deps.log.warn({ connId: this.connId, bufferedBytes: this.ws.bufferedAmount, remote: this.deps.remote }, 'closing a slow consumer');
      this.closeWith(CLOSE.policyViolation, 'slow consumer');
      return;
    }
    // Frames sent in one turn of the event loop (answers of requests that arrived together)
    // leave in one write instead of one system call each.
    const socket = this.deps.rawSocket;
    if (!this.corked && socket?.cork && socket.uncork) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork!();
      });
    }
    this.ws.send(text);
  }

  private ping(): void {
    if (!this.alive) {
      this.ws.terminate();
      return;
    }
    this.alive = false;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  private closeWith(code: number, reason: string, graceMs = 5000): void {
    if (this.state === 'closing') return;
    this.state = 'closing';
    this.stopWork();
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, closeReason(reason));
    // A peer that never answers the close frame (slow consumer) is cut after a grace period.
    this.killTimer = setTimeout(() => this.ws.terminate(), graceMs);
    this.killTimer.unref();
  }

  private stopWork(): void {
    this.deps.rawSocket?.off('data', this.countPreauth);
    clearTimeout(this.handshakeTimer);
    clearInterval(this.pingTimer);
    this.relay?.stop();
    this.relay = undefined;
    this.abort.abort();
  }

  private onClose(): void {
    this.state = 'closing';
    this.stopWork();
    if (this.killTimer) clearTimeout(this.killTimer);
    this.deps.onState(this, 'closed');
  }

  private auditConnect(allowed: boolean, fields: Record<string, unknown>): void {
    audit(this.deps.log, 'bridge.connect', {
      allowed,
      connId: this.connId,
      remote: this.deps.remote,
      clientId: this.client?.id,
      clientMode: this.client?.mode,
      clientVersion: this.client?.version,
      platform: this.client?.platform,
      ...(this.deps.origin?.value !== undefined ? { origin: this.deps.origin.value.slice(0, 200), originCheck: this.deps.origin.decision.allowed ? this.deps.origin.decision.matchedBy : this.deps.origin.decision.reason } : {}),
      ...fields,
    });
  }
}

/** Whether a connect presents a credential (shared token, password or device token) that a lockout refuses. */
function hasCredential(params: ConnectParams): boolean {
  const a = params.auth ?? {};
  return [a.token, a.password, a.deviceToken].some((v) => typeof v === 'string' && v.length > 0);
}
