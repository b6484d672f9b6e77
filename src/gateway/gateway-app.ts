import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, unwatchFile, watchFile } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { systemClock, type Clock } from '../clock';
import { parseListenAddress, type GatewayConfig } from '../config/gateway-config';
import type { DestinationStream } from 'pino';
import { createLogger, type Logger } from '../logging';
import { DeviceRegistry, generateKeyPairAsync, type CertificateAuthority, ensureServerCert, ensureServerCertAsync, loadOrCreateCa, serverNames, statePaths, type StatePaths } from '../identity';
import { openDevices, type DeviceRecord } from '../store/device-store';
import { openStore } from '../store/open-store';
import { bindStoreToCa } from '../store/ca-binding';
import type { Collection, StoreBackend } from '../store/collection';
import { removeStaleTempFiles, writeFileAtomicSync } from '../store/atomic-file';
import { EventHub } from '../services/events/event-hub';
import type { EventPublisher } from '../services/events/event-publisher';
import { GatewayMetrics } from '../metrics/gateway-metrics';
import { startMetricsServer, type MetricsServer } from '../metrics/metrics-server';
import { staleness } from '../store/freshness';
import { Readiness } from './readiness';
import { startReadinessServer, type ReadinessServer } from './readiness-server';
import { PresenceTracker } from '../services/presence/presence-tracker';
import { localGatewaySelf } from '../services/presence/client-presence';
import { LOG_LEVELS } from '../services/config/config-schema';
import { LogBuffer } from '../services/logs/log-buffer';
import { BootstrapTokens, openTokens } from '../services/pairing/bootstrap-tokens';
import { PairingService } from '../services/pairing/pairing-service';
import { openPairingRequests } from '../services/pairing/pairing-requests';
import { LegacyDevices } from '../services/pairing/legacy-devices';
import { LegacyDeviceTokens, LEGACY_TOKEN_KEY_PURPOSE } from '../services/pairing/legacy-device-tokens';
import { RateLimiter } from '../services/pairing/rate-limiter';
import { ExpiredRenewal } from '../services/pairing/expired-renewal';
import { openRenewalChallenges } from '../services/pairing/renewal-challenges';
import { GrpcGatewayServer, type ExtraService } from '../transport/grpc/server/grpc-server';
import type { AnonymousBudgets } from '../transport/grpc/server/authz-table';
import { loadTlsMaterial, ReloadableCertificates } from '../transport/grpc/server/reloadable-certificates';
import { ensureLocalIdentity, localIdentityCurrent, LOCAL_IDENTITIES, withIdentitiesLock } from './local-identities';
import { createDomainServices, type DomainServices } from './domain-services';
import { CronService as CronDesc } from '../gen/openclaw/cron/v1/cron_pb';
import { SessionService as SessionDesc } from '../gen/openclaw/sessions/v1/sessions_pb';
import { ConfigService as ConfigDesc } from '../gen/openclaw/config/v1/config_pb';
import { cronHandlers } from '../transport/grpc/server/handlers/cron-handlers';
import { sessionHandlers } from '../transport/grpc/server/handlers/session-handlers';
import { configHandlers } from '../transport/grpc/server/handlers/config-handlers';
import { startWorker, type RunningWorker } from '../worker/cron-worker';
import { startStandaloneBridge } from '../bridge/ws/standalone';
import { beginFirstStartKeys, type FirstStartKeys } from './first-start-keys';
import type { LocalCalls } from '../transport/grpc/client/gateway-connection';
import type { RunningBridge } from '../bridge/ws/bridge-server';
import { loggedTlsSource, type BridgeTlsSource } from '../bridge/ws/tls-source';

/** The gateway's version, as reported by status and hello. */
export const GATEWAY_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

/** A running gateway. */
export interface RunningGateway {
  config: GatewayConfig;
  paths: StatePaths;
  grpcPort: number;
  grpcAddress: string;
  /** `ws://host:port/` of the in-process legacy bridge, when it runs. */
  bridgeUrl?: string;
  /** `http://host:port/metrics` when `--metrics-addr` is set. */
  metricsUrl?: string;
  /** `http://host:port/readyz` when `--health-addr` is set. */
  readyUrl?: string;
  caFingerprint: string;
  trustDomain: string;
  identities: Record<string, string>;
  /** Where the built-in bridge's shared token is (a file, or "(from OPENCLAW_GATEWAY_TOKEN)"); undefined without the bridge. */
  legacyTokenFile?: string;
  registry: DeviceRegistry;
  /** Where state lives (files in the state dir, or PostgreSQL), and the devices collection. */
  store: StoreBackend;
  devices: Collection<DeviceRecord>;
  /** The event hub (embedding, benchmarks: publish into the gateway's event stream). */
  hub: EventHub;
  /** Calls of components in this process (the built-in bridge): the gRPC handlers through the same interceptors, without the network. */
  localCalls: LocalCalls;
  log: Logger;
  /** Re-reads the server certificate and CA bundle and applies them to new connections. */
  reloadTls(): boolean;
  /**
   * What the hourly timer does: re-issues the server certificate if it is due (waiting
   * for another process's lock without blocking calls) and applies it; true if re-issued.
   */
  renewServerCert(): Promise<boolean>;
  stop(): Promise<void>;
}

/** Where components in this process reach the gRPC port. */
function localAddress(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return `127.0.0.1:${port}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Reads the legacy shared token from the environment, or from (created once) a 0600 file in the state dir. */
function legacyToken(config: GatewayConfig, paths: StatePaths): { token: string; file: string } {
  const file = join(paths.root, 'legacy-token');
  if (config.legacyToken) return { token: config.legacyToken, file: '(from OPENCLAW_GATEWAY_TOKEN)' };
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), file };
  const token = randomBytes(24).toString('base64url');
  writeFileAtomicSync(file, token + '\n', 0o600);
  return { token, file };
}

/**
 * Starts the gateway: CA, server certificate and local identities (created on first
 * start), the services, and the gRPC endpoint. The only place that wires real pieces.
 */
export async function startGateway(
  config: GatewayConfig,
  opts: {
    clock?: Clock;
    /** Where log lines go instead of stdout (tests); `logs tail` still sees them. */
    logDestination?: DestinationStream;
    /** A ready logger (embedding); `logs tail` then stays empty. */
    log?: Logger;
    env?: NodeJS.ProcessEnv;
    /** Rate budgets of calls without a certificate (default ANONYMOUS_BUDGETS); tests that open many widen them. */
    anonymousBudgets?: AnonymousBudgets;
    /** Keys a first start needs, already being made (beginFirstStartKeys before loading the gateway). */
    firstStartKeys?: FirstStartKeys;
  } = {},
): Promise<RunningGateway> {
  const clock = opts.clock ?? systemClock;
  const logs = new LogBuffer();
  const log = opts.log ?? createLogger({ level: config.logLevel, destination: opts.logDestination, extraStreams: [logs] });
  const paths = statePaths(config.stateDir);

  // Temp files of writes a killed process never finished (never the state itself, which
  // is renamed into place only when complete).
  const leftovers = removeStaleTempFiles(paths.root);
  if (leftovers.length > 0) log.warn({ removed: leftovers.map((f) => relative(paths.root, f)) }, 'removed temp files left by interrupted writes');
  // First start: the CA's and the server's RSA keys are made at the same time, off the
  // main thread (started by the program while modules loaded, else now), while the store opens.
  const early = opts.firstStartKeys ?? beginFirstStartKeys(paths);
  const caKeys = early?.ca;
  const serverKeys = early?.server;
  const opening = openStore({ stateDir: paths.root, databaseUrl: config.databaseUrl, log });
  // A failure is taken where it is awaited; until then it must not count as unhandled.
  opening.catch(() => undefined);
  let ca: CertificateAuthority;
  let names: string[];
  try {
    const made = loadOrCreateCa(paths, clock, caKeys && (await caKeys));
    ca = made.ca;
    if (made.created) log.info({ trustDomain: ca.trustDomain, caFingerprint: ca.fingerprint }, 'created a new CA');
    // The server certificate names the addresses the gateway listens on (a wildcard address names nothing);
    // with TLS from our CA on the legacy port, that port's address too (it serves the same certificate).
    const specific = (host: string) => (host !== '0.0.0.0' && host !== '::' ? [host] : []);
    names = serverNames(ca.trustDomain, [...config.sans, ...specific(config.grpcHost), ...(config.bridge && config.bridgeTls?.kind === 'ca' ? specific(config.bridgeHost) : [])]);
    if (ensureServerCert(paths, ca, names, clock, serverKeys && (await serverKeys))) log.info({ names }, 'issued the server certificate');
  } catch (err) {
    // Nothing left running: the store that was opening is closed.
    await opening.then((s) => s.close()).catch(() => undefined);
    throw err;
  }

  const store = await opening;
  let domain: DomainServices | undefined;
  try {
    const hub = await EventHub.open({ store, clock, logger: log });
    // Metrics only when asked for: without them nothing is counted on the call path.
    const metrics = config.metricsAddr ? new GatewayMetrics() : undefined;
    // A staged event is counted when staged: its transaction commits but for a database failure at COMMIT.
    const events: EventPublisher = metrics
      ? { publish: (type, payload) => (metrics.onEvent(type, payload), hub.publish(type, payload)), stage: (tx, type, payload) => (metrics.onEvent(type, payload), hub.stage(tx, type, payload)) }
      : hub;

    domain = await createDomainServices({ store, paths, clock, events, log, env: opts.env ?? process.env });
    const services = domain;
    const runtime = () => services.config.get().config;
    // logging.level, once set, is the level (live); unset, the start level (--log-level) is.
    const applyLogLevel = () => {
      const set = services.config.stored(['logging', 'level']);
      const level = (LOG_LEVELS as readonly unknown[]).includes(set) ? (set as string) : config.logLevel;
      if (log.level !== level) {
        log.level = level;
        log.info({ logLevel: level }, 'log level changed');
      }
    };
    applyLogLevel();
    services.config.onStoredChange(applyLogLevel);
    const DAY = 24 * 3600_000;
    if (config.databaseUrl && [paths.devices, paths.devicesJournal].some((f) => existsSync(f))) {
      // Not copied over by itself yet: say so rather than let every device fail as unknown.
      log.warn({ stateDir: paths.root }, 'devices kept in this state dir are not read with --database-url: copy them once with "openclaw-gateway migrate-store --to <url>"');
    }
    const devices = await openDevices(store, paths.devices);
    await bindStoreToCa(store, ca);
    const registry = new DeviceRegistry({
      store: devices,
      ca,
      clock,
      log,
      // Read at each use: a patch of certs.* applies to the next certificate issued or renewal checked.
      policy: () => ({ clientLifetimeMs: runtime().certs.clientLifetimeDays * DAY, renewAfterExpiryMs: runtime().certs.renewAfterExpiryDays * DAY }),
    });
    const identities: Record<string, string> = {};
    // Gateways starting together on one state dir (replicas) take turns here: the second
    // finds the first one's identities current instead of rotating them away.
    await withIdentitiesLock(paths.identitiesDir, async () => {
      // On a first start the keys of all local identities are generated in parallel.
      const missing = LOCAL_IDENTITIES.filter((spec) => !localIdentityCurrent(registry, paths.identity(spec.name), clock.now()));
      const keys = await Promise.all(missing.map(() => generateKeyPairAsync('p256')));
      for (const spec of LOCAL_IDENTITIES) {
        const k = missing.indexOf(spec);
        const { dir, issued } = await ensureLocalIdentity(registry, paths, spec, clock.now(), k >= 0 ? keys[k] : undefined);
        identities[spec.name] = dir;
        if (issued) log.info({ component: spec.name, dir }, 'provisioned a local identity');
      }
    });

    // A device revoked (by any process) is not listed, whatever it did last.
    const gone = (id: string) => registry.get(id)?.status === 'revoked';
    const presence = new PresenceTracker(clock, { self: localGatewaySelf(GATEWAY_VERSION), events: hub, gone });
    const tokens = new BootstrapTokens(await openTokens(store, paths.tokens), clock);
    const pairing = new PairingService({
      registry,
      tokens,
      // Pairing requests live in the store: submitted on one replica, decided on any.
      requests: await openPairingRequests(store),
      clock,
      events: hub,
      log,
      limits: () => ({ pendingTtlMs: runtime().pairing.pendingTtlSeconds * 1000, maxPending: runtime().pairing.maxPending }),
      // Pairing requests per source (devices with a certificate included), at most the anonymous pairing budget.
      rateLimiter: opts.anonymousBudgets
        ? new RateLimiter(clock, opts.anonymousBudgets.pairing.perAddress, opts.anonymousBudgets.pairing.global)
        : new RateLimiter(clock, { capacity: 20, perMinute: 10 }, { capacity: 200, perMinute: 120 }),
    });
    pairing.start();
    // Device tokens of legacy devices: derived with a key from the CA key (same on every replica), stored hashed.
    const legacy = new LegacyDevices({ registry, pairing, tokens: new LegacyDeviceTokens(ca.deriveSecret(LEGACY_TOKEN_KEY_PURPOSE)), clock, log });
    // Renewal challenges live in the store: begun on one replica, answered on any.
    const expiredRenewal = new ExpiredRenewal({ registry, challenges: await openRenewalChallenges(store), clock, log });
    const tls = new ReloadableCertificates(loadTlsMaterial({ serverCert: paths.serverCert, serverKey: paths.serverKey, caCert: paths.caCert }));
    const startedAt = clock.now();
    const server = new GrpcGatewayServer({
      log,
      clock,
      registry,
      hub,
      presence,
      logs,
      tls,
      pairing,
      tokens,
      legacy,
      expiredRenewal,
      status: {
        version: GATEWAY_VERSION,
        startedAt,
        counts: () => ({ cronJobs: services.cron.list().length, sessions: services.sessions.list().length }),
        replica: `${hostname()}/${process.pid}`,
        storage: store.kind,
      },
      tokenOnlyScopes: () => runtime().bridge.tokenOnlyScopes,
      anonymousBudgets: opts.anonymousBudgets,
      metrics,
      // A replica cut off from its database refuses calls that need a device rather than decide them from a stale copy.
      storeStale: () => staleness(store),
      proxyProtocol: config.proxyProtocol,
      extra: [
        { desc: CronDesc, impl: (ctx) => cronHandlers(ctx, services.cron) },
        { desc: SessionDesc, impl: (ctx) => sessionHandlers(ctx, services.sessions, services.agents) },
        { desc: ConfigDesc, impl: (ctx) => configHandlers(ctx, services.config) },
      ] as ExtraService[],
    });
    const grpcPort = await server.listen(config.grpcHost, config.grpcPort);
    const grpcAddress = `${config.grpcHost.includes(':') ? `[${config.grpcHost}]` : config.grpcHost}:${grpcPort}`;
    // A keepalive of this replica's own streams (not in the shared log).
    const tick = setInterval(() => hub.publish('tick', { ts: clock.now() }), 30_000);
    tick.unref();
    // The shared token is the in-process bridge's: without it there is none here (a bridge of its own reads its own).
    const { token: sharedToken, file: legacyTokenFile } = config.bridge ? legacyToken(config, paths) : { token: '', file: undefined };
    // The in-process worker takes the same path as a separate one: gRPC with its own backend certificate.
    // Behind a PROXY-protocol front, in-process components use gRPC's own loopback port.
    const inProcessAddress = config.proxyProtocol ? `127.0.0.1:${server.localPort}` : localAddress(config.grpcHost, grpcPort);
    const worker: RunningWorker | undefined = config.worker ? startWorker({ gateway: inProcessAddress, certsDir: identities.worker, log, clock }) : undefined;
    // So does the bridge: legacy clients reach the gRPC API through its bridge certificate
    // (through the same interceptors, without the loopback hop).
    let bridge: RunningBridge | undefined;
    let bridgeTls: BridgeTlsSource | undefined;
    if (config.bridge) {
      try {
        // TLS on the legacy port: the gateway's server certificate (re-issued by the hourly check below) or the operator's files; both watched.
        const tlsFiles = config.bridgeTls?.kind === 'files' ? config.bridgeTls : config.bridgeTls ? { cert: paths.serverCert, key: paths.serverKey } : undefined;
        bridgeTls = tlsFiles ? loggedTlsSource(tlsFiles, log) : undefined;
        bridge = await startStandaloneBridge({
          tls: bridgeTls,
          insecure: config.bridgeInsecure,
          gatewayAddress: inProcessAddress,
          certsDir: identities.bridge,
          host: config.bridgeHost,
          port: config.bridgePort,
          legacyToken: sharedToken,
          tokenOnlyScopes: () => runtime().bridge.tokenOnlyScopes,
          allowedOrigins: () => runtime().bridge.controlUi.allowedOrigins,
          controlUiRoot: config.controlUiRoot,
          defaultAgentId: () => runtime().agents.default,
          log,
          clock,
          // Calls go straight to the handlers, through the same interceptors as over the network.
          localCalls: server.inProcess,
        });
      } catch (err) {
        bridgeTls?.close();
        await worker?.stop();
        await server.close(0);
        throw err;
      }
    }
    let metricsServer: MetricsServer | undefined;
    if (metrics) {
      metrics.bind({
        streams: () => server.streams.count(),
        subscriptions: () => hub.attached,
        pairingPending: () => pairing.list().length,
        bridgeConnections: () => bridge?.connections() ?? 0,
        certificateExpiries: () => registry.list().flatMap((d) => (d.status === 'active' && d.cert ? [d.cert.notAfter] : [])),
        now: () => clock.now(),
      });
      try {
        metricsServer = await startMetricsServer(metrics, parseListenAddress(config.metricsAddr!, 'metrics address'));
      } catch (err) {
        await bridge?.close('gateway stopping');
        bridgeTls?.close();
        await worker?.stop();
        await server.close(0);
        throw err;
      }
    }
    // Health NOT_SERVING (and /readyz 503) while the store is stale, so a balancer takes this replica out.
    const readiness = new Readiness({ store, health: server.health, log });
    let readinessServer: ReadinessServer | undefined;
    if (config.healthAddr) {
      try {
        readinessServer = await startReadinessServer(readiness, parseListenAddress(config.healthAddr, 'health address'));
      } catch (err) {
        readiness.stop();
        await metricsServer?.close();
        await bridge?.close('gateway stopping');
        bridgeTls?.close();
        await worker?.stop();
        await server.close(0);
        throw err;
      }
    }
    log.info({ grpc: grpcAddress, caFingerprint: ca.fingerprint, trustDomain: ca.trustDomain, metrics: metricsServer?.address, readiness: readinessServer?.address }, 'gateway ready');

    const reloadTls = (): boolean => {
      const changed = tls.update(loadTlsMaterial({ serverCert: paths.serverCert, serverKey: paths.serverKey, caCert: paths.caCert }));
      if (changed) log.info('reloaded the server certificate and CA bundle');
      return changed;
    };
    // New server certificates apply without a restart: re-issued here when a third of
    // their life is left, or written by an operator (files watched, or SIGHUP). The
    // lock another process (certs-tools) may hold is waited for without blocking calls.
    let renewing: Promise<boolean> | undefined;
    const renewServerCert = (): Promise<boolean> =>
      (renewing ??= ensureServerCertAsync(paths, ca, names, clock)
        .then((issued) => {
          if (issued) {
            log.info({ names }, 're-issued the server certificate');
            reloadTls();
          }
          return issued;
        })
        .finally(() => (renewing = undefined)));
    const certTimer = setInterval(() => {
      renewServerCert().catch((err: unknown) => log.error({ err }, 'server certificate renewal failed; keeping the current one'));
    }, 3600_000);
    certTimer.unref();
    const onCertFile = () => {
      try {
        reloadTls();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'server certificate files changed but are not usable yet; keeping the current ones');
      }
    };
    watchFile(paths.serverMeta, { interval: 2000, persistent: false }, onCertFile);
    watchFile(paths.caCert, { interval: 2000, persistent: false }, onCertFile);
    watchFile(paths.serverCert, { interval: 2000, persistent: false }, onCertFile);

    return {
      config,
      paths,
      grpcPort,
      grpcAddress,
      bridgeUrl: bridge?.url,
      localCalls: server.inProcess,
      metricsUrl: metricsServer ? `http://${metricsServer.address}/metrics` : undefined,
      readyUrl: readinessServer ? `http://${readinessServer.address}/readyz` : undefined,
      caFingerprint: ca.fingerprint,
      trustDomain: ca.trustDomain,
      identities,
      legacyTokenFile,
      registry,
      store,
      devices,
      hub,
      log,
      reloadTls,
      renewServerCert,
      stop: async () => {
        // Not ready from now on: a balancer stops sending new connections here.
        readiness.stop();
        clearInterval(tick);
        clearInterval(certTimer);
        unwatchFile(paths.serverMeta, onCertFile);
        unwatchFile(paths.caCert, onCertFile);
        unwatchFile(paths.serverCert, onCertFile);
        pairing.stop();
        await metricsServer?.close();
        await readinessServer?.close();
        // Legacy clients get `shutdown` and close 1012 before the gRPC side goes away.
        await bridge?.close('gateway stopping');
        bridgeTls?.close();
        await worker?.stop();
        await services.stop();
        hub.publish('shutdown', { reason: 'gateway stopping' });
        // Delivers it to this replica's streams, leaves their subscriptions resumable elsewhere, ends them.
        await hub.close();
        await server.close();
        await store.close();
      },
    };
  } catch (err) {
    // A start that fails half-way (a busy port, ...) leaves no timer or database connection behind.
    await domain?.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
}
