import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { systemClock, type Clock } from '../../clock';
import { errors } from '../../errors';
import { componentLogger, type Logger } from '../../logging';
import type { GatewayConnection } from '../../transport/grpc/client/gateway-connection';
import { ControlUiRoot, controlUiRoutes, type BearerCheck } from '../control-ui';
import { BRIDGE_VERSION } from './bridge-version';
import { DeviceTokenBook } from './device-token-book';
import { createBridgeListener } from './bridge-listener';
import { AuthFailures } from './auth-failures';
import { BridgeConnection } from './connection';
import { checkBridgeExposure } from './exposure';
import { httpRoutes } from './http-routes';
import { legacyMethodTable } from './methods';
import { checkOrigin } from './origin-policy';
import { resolvePolicy, type BridgePolicy } from './policy';
import { sharedSecretMatches } from './shared-secret';
import { HealthBroadcaster } from './health-broadcast';
import { GatewayReadiness } from './readiness';
import { RunTracker } from './run-tracker';
import type { BridgeTlsSource } from './tls-source';

/** The legacy gateway's port. */
export const DEFAULT_BRIDGE_PORT = 18789;

/**
 * Default scopes of token-only clients (the shared token, no device identity).
 *
 * Why only `operator.read`: the shared token is a bearer secret that is not bound to
 * a device, so what it does cannot be attributed to one device, revoked for one
 * device, or limited by an operator's approval. The legacy CLI sends no device
 * identity on loopback, so without a grant it could not even list cron jobs; read
 * access keeps it useful. Everything that changes state needs a legacy device that
 * an operator approved (the same approval queue as certificates). This is a stated
 * policy, not a guess about where a connection comes from: the gateway applies it
 * to principal `token` (config `bridge.tokenOnlyScopes`); an operator who wants more
 * widens it there explicitly.
 */
export const DEFAULT_TOKEN_ONLY_SCOPES: readonly string[] = Object.freeze(['operator.read']);

/** How to start the bridge. */
export interface BridgeOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 18789; 0 picks a free one). */
  port?: number;
  /** An mTLS connection to the gateway made with the bridge's certificate (role `bridge`). Not closed by the bridge. */
  gateway: GatewayConnection;
  /** The shared legacy token (also accepted as the legacy password); a function is read at each connect. */
  legacyToken: string | (() => string);
  log: Logger;
  /**
   * Scopes the gateway grants principal `token`, reported to token-only clients in
   * hello-ok and used to refuse what they cannot do before a gateway round trip.
   * Must match the gateway's `bridge.tokenOnlyScopes`; the gateway enforces its own
   * value either way. Default DEFAULT_TOKEN_ONLY_SCOPES.
   */
  tokenOnlyScopes?: readonly string[] | (() => readonly string[]);
  /** Limits and timings (tests shorten tickIntervalMs and handshakeTimeoutMs). */
  policy?: Partial<BridgePolicy>;
  /**
   * Browser origins allowed besides the bridge's own and loopback ones (config
   * `bridge.controlUi.allowedOrigins`; a function is read at each upgrade). Requests
   * without an Origin (CLIs, node clients) are not affected. See origin-policy.ts.
   */
  allowedOrigins?: readonly string[] | (() => readonly string[]);
  /**
   * Folder of the legacy Control UI bundle (the `dist/control-ui` folder of the `openclaw`
   * npm package), served on this port's HTTP side. Without it `GET /` says how to set it.
   */
  controlUiRoot?: string;
  /** Default agent id the Control UI's bootstrap config names (default `main`). */
  defaultAgentId?: () => string;
  /** Serve `wss://` and `https://` with this certificate (reloaded when it changes); absent: plain `ws://`. */
  tls?: BridgeTlsSource;
  /** Allow plain `ws://` on an address other hosts can reach (a warning at every start). */
  insecure?: boolean;
  /** The address other hosts see this port on, when it differs from `host` (a container runtime publishing it); judged instead of `host`. */
  exposedOn?: string;
  /** Lock out loopback addresses too after too many wrong credentials (default: exempt, so a local CLI never locks its user out). */
  authLimitLoopback?: boolean;
  clock?: Clock;
}

/** A running bridge. */
export interface RunningBridge {
  readonly host: string;
  readonly port: number;
  /** `ws://host:port/`, or `wss://host:port/` with TLS. */
  readonly url: string;
  /** Open sockets (handshaking or connected). */
  connections(): number;
  /** Sends `shutdown {reason}` to connected clients, closes every socket with 1012, stops listening. */
  close(reason?: string): Promise<void>;
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}


/**
 * Starts the WebSocket compatibility bridge: OpenClaw gateway protocol v4 on
 * `ws://host:port/` plus `/healthz`, `/readyz` and the legacy Control UI (when a root is given), every call made through the gRPC
 * API for the legacy principal (delegation with the bridge's certificate).
 */
export async function startBridge(opts: BridgeOptions): Promise<RunningBridge> {
  const policy = resolvePolicy(opts.policy);
  const clock = opts.clock ?? systemClock;
  const log = componentLogger(opts.log, { component: 'bridge' });
  const host = opts.host ?? '127.0.0.1';
  const legacyToken = typeof opts.legacyToken === 'function' ? opts.legacyToken : () => opts.legacyToken as string;
  const scopes = opts.tokenOnlyScopes ?? DEFAULT_TOKEN_ONLY_SCOPES;
  const tokenOnlyScopes = typeof scopes === 'function' ? scopes : () => scopes;
  if (!legacyToken()) throw errors.invalid('BAD_CONFIG', 'the bridge needs a non-empty legacy token');
  const origins = opts.allowedOrigins ?? [];
  const allowedOrigins = typeof origins === 'function' ? origins : () => origins;
  // Checked now, so a wrong folder fails the start with a clear message rather than every page load.
  const uiRoot = opts.controlUiRoot ? ControlUiRoot.open(opts.controlUiRoot) : undefined;
  const exposedOn = opts.exposedOn ?? host;
  if (checkBridgeExposure(exposedOn, !!opts.tls, !!opts.insecure) === 'insecure') {
    log.warn({ host: exposedOn }, 'the legacy bridge listens without TLS on an address other hosts can reach (allowed as insecure): the shared token and device tokens cross the network in clear text');
  }
  const methods = legacyMethodTable();
  const runs = new RunTracker(clock);
  const readiness = new GatewayReadiness(opts.gateway, clock);
  const pending = new Set<BridgeConnection>();
  const open = new Set<BridgeConnection>();
  const health = new HealthBroadcaster({ gateway: opts.gateway, clock, log, intervalMs: policy.healthIntervalMs, callTimeoutMs: policy.callTimeoutMs, targets: () => open });
  // One `tick` timer for every connection, as on the legacy gateway: a client's first tick comes 0 to tickIntervalMs after its hello.
  const ticker = setInterval(() => {
    const ts = clock.now();
    for (const c of open) c.tick(ts);
  }, policy.tickIntervalMs);
  ticker.unref();
  health.start();
  let closing = false;
  let drained: (() => void) | undefined;

  const tokens = new DeviceTokenBook(opts.gateway, policy.callTimeoutMs);
  const authFailures = new AuthFailures(clock, { maxFailures: policy.authFailuresPerMinute, lockoutMs: policy.authLockoutMs, limitLoopback: opts.authLimitLoopback });
  const checkBearer = async (token: string, remote: string): Promise<BearerCheck> => {
    const address = remote.replace(/^::ffff:/, '');
    const lockedFor = authFailures.retryAfterMs(address);
    if (lockedFor > 0) return { ok: false, retryAfterMs: lockedFor };
    if (sharedSecretMatches(token, legacyToken())) return authFailures.succeed(address), { ok: true, via: 'shared-token' };
    const deviceId = await tokens.verify(token);
    if (deviceId) return authFailures.succeed(address), { ok: true, via: 'device-token', deviceId };
    authFailures.fail(address);
    return { ok: false };
  };
  const controlUi = controlUiRoutes({
    root: uiRoot,
    checkBearer,
    facts: () => ({ serverVersion: BRIDGE_VERSION, assistantAgentId: opts.defaultAgentId?.() ?? 'main' }),
    log,
  });
  const listener = createBridgeListener(httpRoutes(readiness, () => closing, controlUi), opts.tls, (err) => log.debug({ err: err.message }, 'TLS handshake failed on the legacy port'));
  const server = listener.server;
  server.on('clientError', (_err, socket) => socket.destroy());
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: policy.maxPayload, clientTracking: false });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/') return refuseUpgrade(socket, 404, 'Not Found');
    if (closing) return refuseUpgrade(socket, 503, 'Service Unavailable');
    // A browser origin the policy refuses fails at its connect, with the legacy gateway's answer (the Control UI shows it).
    // Over TLS, a host name the served certificate covers counts as the bridge's own (see origin-policy.ts).
    const leaf = opts.tls && (req.socket as TLSSocket).encrypted ? opts.tls.current().leaf : undefined;
    const certifiedName = leaf ? (name: string) => (isIP(name.replace(/^\[|\]$/g, '')) ? leaf.checkIP(name.replace(/^\[|\]$/g, '')) : leaf.checkHost(name)) !== undefined : undefined;
    const origin = { value: req.headers.origin, decision: checkOrigin(req.headers, req.socket.remoteAddress, allowedOrigins(), certifiedName) };
    if (!origin.decision.allowed) log.warn({ origin: req.headers.origin?.slice(0, 200), reason: origin.decision.reason, remote: req.socket.remoteAddress }, 'refusing a WebSocket from a browser origin');
    if (pending.size >= policy.maxPendingHandshakes) return refuseUpgrade(socket, 503, 'Service Unavailable');
    // The 101 answer and the connect.challenge that follows it leave in one write.
    socket.cork();
    process.nextTick(() => socket.uncork());
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new BridgeConnection(ws, {
        gateway: opts.gateway,
        policy,
        log,
        clock,
        legacyToken,
        tokenOnlyScopes,
        methods,
        runs,
        health,
        version: BRIDGE_VERSION,
        remote: req.socket.remoteAddress ?? '',
        rawSocket: socket,
        origin,
        onDeviceToken: (deviceId, token) => tokens.remember(deviceId, token),
        authFailures,
        disconnectDevice: (deviceId) => {
          for (const c of [...open]) if (c.deviceId === deviceId) c.deviceRemoved();
        },
        onState: (c, state) => {
          pending.delete(c);
          if (state === 'open') open.add(c);
          else open.delete(c);
          if (closing && pending.size === 0 && open.size === 0) drained?.();
        },
      });
      pending.add(conn);
    });
  });

  let port: number;
  try {
    port = await listener.listen(opts.port ?? DEFAULT_BRIDGE_PORT, host);
  } catch (err) {
    clearInterval(ticker);
    health.stop();
    throw errors.unavailable('BIND_FAILED', `bridge cannot listen on ${host}:${opts.port ?? DEFAULT_BRIDGE_PORT}: ${(err as Error).message}`);
  }
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `${listener.scheme}://${urlHost}:${port}/`;
  log.info({ url, gateway: opts.gateway.address, tls: opts.tls ? { subject: opts.tls.current().leaf.subject, validTo: opts.tls.current().leaf.validTo } : false }, 'legacy WebSocket bridge listening');

  return {
    host,
    port,
    url,
    connections: () => pending.size + open.size,
    close: async (reason = 'gateway stopping') => {
      if (closing) return;
      closing = true;
      clearInterval(ticker);
      health.stop();
      const all = [...pending, ...open];
      const done = new Promise<void>((resolve) => {
        drained = resolve;
        if (all.length === 0) resolve();
      });
      for (const c of all) c.shutdown(reason);
      const timer = setTimeout(() => {
        for (const c of [...pending, ...open]) c.terminate();
      }, 3000);
      await done;
      clearTimeout(timer);
      wss.close();
      await listener.close();
      log.info({ reason }, 'legacy WebSocket bridge stopped');
    },
  };
}
