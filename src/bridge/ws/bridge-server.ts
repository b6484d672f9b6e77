import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { systemClock, type Clock } from '../../clock';
import { errors } from '../../errors';
import type { Logger } from '../../logging';
import type { GatewayConnection } from '../../transport/grpc/client/gateway-connection';
import { BRIDGE_VERSION } from './bridge-version';
import { BridgeConnection } from './connection';
import { httpRoutes } from './http-routes';
import { legacyMethodTable } from './methods';
import { resolvePolicy, type BridgePolicy } from './policy';
import { HealthBroadcaster } from './health-broadcast';
import { GatewayReadiness } from './readiness';
import { RunTracker } from './run-tracker';

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
   * Browser origins allowed besides the bridge's own (`Origin` host equal to `Host`).
   * Requests without an Origin (CLIs, node clients) are not affected.
   */
  allowedOrigins?: readonly string[];
  clock?: Clock;
}

/** A running bridge. */
export interface RunningBridge {
  readonly host: string;
  readonly port: number;
  /** `ws://host:port/`. */
  readonly url: string;
  /** Open sockets (handshaking or connected). */
  connections(): number;
  /** Sends `shutdown {reason}` to connected clients, closes every socket with 1012, stops listening. */
  close(reason?: string): Promise<void>;
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}

function originAllowed(req: IncomingMessage, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (!origin) return true;
  if (allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/**
 * Starts the WebSocket compatibility bridge: OpenClaw gateway protocol v4 on
 * `ws://host:port/` plus `/healthz` and `/readyz`, every call made through the gRPC
 * API for the legacy principal (delegation with the bridge's certificate).
 */
export async function startBridge(opts: BridgeOptions): Promise<RunningBridge> {
  const policy = resolvePolicy(opts.policy);
  const clock = opts.clock ?? systemClock;
  const log = opts.log.child({ component: 'bridge' });
  const host = opts.host ?? '127.0.0.1';
  const legacyToken = typeof opts.legacyToken === 'function' ? opts.legacyToken : () => opts.legacyToken as string;
  const scopes = opts.tokenOnlyScopes ?? DEFAULT_TOKEN_ONLY_SCOPES;
  const tokenOnlyScopes = typeof scopes === 'function' ? scopes : () => scopes;
  if (!legacyToken()) throw errors.invalid('BAD_CONFIG', 'the bridge needs a non-empty legacy token');
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

  const server = createServer(httpRoutes(readiness, () => closing));
  server.on('clientError', (_err, socket) => socket.destroy());
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: policy.maxPayload, clientTracking: false });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/') return refuseUpgrade(socket, 404, 'Not Found');
    if (closing) return refuseUpgrade(socket, 503, 'Service Unavailable');
    // A foreign browser origin is refused at its connect, with the legacy gateway's answer (the Control UI shows it).
    const foreignOrigin = !originAllowed(req, opts.allowedOrigins ?? []);
    if (foreignOrigin) log.warn({ origin: req.headers.origin, remote: req.socket.remoteAddress }, 'refusing a WebSocket from a foreign origin');
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
        foreignOrigin,
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

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (err) => reject(errors.unavailable('BIND_FAILED', `bridge cannot listen on ${host}:${opts.port ?? DEFAULT_BRIDGE_PORT}: ${err.message}`)));
    server.listen(opts.port ?? DEFAULT_BRIDGE_PORT, host, () => resolve((server.address() as { port: number }).port));
  });
  const urlHost = host.includes(':') ? `[${host}]` : host;
  log.info({ url: `ws://${urlHost}:${port}/`, gateway: opts.gateway.address }, 'legacy WebSocket bridge listening');

  return {
    host,
    port,
    url: `ws://${urlHost}:${port}/`,
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
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      log.info({ reason }, 'legacy WebSocket bridge stopped');
    },
  };
}
