#!/usr/bin/env node
/** openclaw-gateway: runs the gateway (and, in-process, the bridge and worker), or one component alone. */
import { Command } from 'commander';
import { ErrorCode, GatewayError } from '../errors';
import { envOn, resolveGatewayConfig, type GatewayConfig, type GatewayFlags } from '../config/gateway-config';
import type { RunningGateway } from '../gateway/gateway-app';
import { beginFirstStartKeys } from '../gateway/first-start-keys';
import { statePaths } from '../identity/state-layout';

function collect(value: string, prev: string[] = []): string[] {
  return [...prev, value];
}

function banner(g: RunningGateway, config: GatewayConfig): string {
  const cli = g.identities.cli;
  const ui = g.bridgeUrl && config.controlUiRoot ? g.bridgeUrl.replace(/^ws(s?):/, 'http$1:') : undefined;
  return [
    '',
    `OpenClaw gateway (mTLS) is up`,
    `  gRPC (mTLS):     ${g.grpcAddress}`,
    `  legacy WS:       ${g.bridgeUrl ?? '(bridge not running)'}`,
    ...(ui ? [`  Control UI:      ${ui}  (open ${ui}#token=<legacy token>, then approve the browser)`] : []),
    ...(g.config.bridgeTls?.kind === 'ca' ? [`  legacy TLS CA:   ${g.paths.caCert} (clients trust this file: certs-tools ca-export)`] : []),
    `  CA fingerprint:  SHA256:${g.caFingerprint}`,
    `  trust domain:    ${g.trustDomain}`,
    `  state dir:       ${g.paths.root}`,
    `  local CLI certs: ${cli}`,
    ...(g.legacyTokenFile ? [`  legacy token:    ${g.legacyTokenFile}`] : []),
    ...(g.metricsUrl ? [`  metrics:         ${g.metricsUrl}`] : []),
    ...(g.readyUrl ? [`  readiness:       ${g.readyUrl}`] : []),
    '',
    `Try:  openclaw-cli status          (uses ${cli} by default)`,
    `      openclaw-cli devices list`,
    `      (not on PATH? in the project folder: npx openclaw-cli status, or npm link once)`,
    '',
  ].join('\n');
}

async function runStart(flags: GatewayFlags): Promise<void> {
  const config = resolveGatewayConfig(flags);
  // On a first start the CA's and the server's keys are made while the gateway's modules load.
  const firstStartKeys = beginFirstStartKeys(statePaths(config.stateDir));
  const { startGateway } = require('../gateway/gateway-app') as typeof import('../gateway/gateway-app');
  const gateway = await startGateway(config, { firstStartKeys });
  process.stdout.write(banner(gateway, config));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    gateway.log.info({ signal }, 'stopping');
    gateway.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => {
    try {
      gateway.reloadTls();
    } catch (err) {
      gateway.log.error({ err }, 'TLS reload failed; keeping the current certificate');
    }
  });
}

const program = new Command('openclaw-gateway').description('OpenClaw gateway with mTLS device identity');

program
  .command('start', { isDefault: true })
  .description('run the gateway with embedded defaults (CA, certificates and state are created on first start)')
  .option('--state-dir <dir>', 'state directory (env OPENCLAW_STATE_DIR, default ~/.openclaw)')
  .option('--grpc-host <host>', 'gRPC listen address (env OPENCLAW_GRPC_HOST, default 127.0.0.1)')
  .option('--grpc-port <port>', 'gRPC port (env OPENCLAW_GRPC_PORT, default 18790)')
  .option('--bridge-host <host>', 'legacy WS bridge listen address (env OPENCLAW_BRIDGE_HOST, default 127.0.0.1)')
  .option('--bridge-port <port>', 'legacy WS bridge port (env OPENCLAW_BRIDGE_PORT, default 18789)')
  .option('--san <name>', 'extra DNS name or IP for the server certificate (repeatable; env OPENCLAW_SANS)', collect)
  .option('--log-level <level>', 'trace|debug|info|warn|error (env OPENCLAW_LOG_LEVEL)')
  .option('--no-bridge', 'do not run the WS bridge in this process')
  .option('--bridge-tls', 'serve the legacy port as wss:// and https:// with a server certificate from the gateway\'s CA (env OPENCLAW_BRIDGE_TLS=1)')
  .option('--bridge-cert <file>', 'serve the legacy port over TLS with this certificate (PEM, leaf then chain); reloaded when the file changes (env OPENCLAW_BRIDGE_CERT)')
  .option('--bridge-key <file>', 'the private key of --bridge-cert (PEM; env OPENCLAW_BRIDGE_KEY)')
  .option('--bridge-insecure', 'allow plain ws:// on a non-loopback --bridge-host (tokens cross the network in clear text; env OPENCLAW_BRIDGE_INSECURE=1)')
  .option('--no-worker', 'do not run the backend worker in this process')
  .option('--database-url <url>', 'keep state in PostgreSQL, shared by replicas (env OPENCLAW_DATABASE_URL; default: files in the state dir)')
  .option('--proxy-protocol', 'the gRPC port is behind a TCP load balancer that sends a PROXY protocol header (HAProxy send-proxy-v2); connections without one are closed (env OPENCLAW_PROXY_PROTOCOL=1)')
  .option('--metrics-addr <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (env OPENCLAW_METRICS_ADDR; default: off)')
  .option('--health-addr <host:port>', 'serve readiness for load balancers at http://HOST:PORT/readyz: 200 while serving with a current store, else 503 (env OPENCLAW_HEALTH_ADDR; default: off)')
  .option('--control-ui-root <dir>', 'serve the legacy Control UI on the bridge port from DIR, the dist/control-ui folder of an installed openclaw npm package (env OPENCLAW_CONTROL_UI_ROOT; default: none)')
  .action((flags: GatewayFlags) => runStart(flags));

program
  .command('migrate-store')
  .description('copy the state kept in the state dir\'s store (devices, bootstrap tokens, cron jobs and runs, sessions and transcripts, runtime config) into PostgreSQL, verified; safe to run again (pending pairing requests and renewal challenges live minutes and are not copied)')
  .requiredOption('--to <url>', 'postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (env OPENCLAW_DATABASE_URL is not used here: name the target)')
  .option('--state-dir <dir>', 'state directory (env OPENCLAW_STATE_DIR, default ~/.openclaw)')
  .action(async (flags: { to: string; stateDir?: string }) => {
    const { statePaths, defaultStateDir, loadCa } = await import('../identity');
    const { silentLogger } = await import('../logging');
    const { openStore } = await import('../store/open-store');
    const { openDevices } = await import('../store/device-store');
    const { openTokens } = await import('../services/pairing/bootstrap-tokens');
    const { openRuntimeConfig } = await import('../services/config/runtime-config-store');
    const { bindStoreToCa } = await import('../store/ca-binding');
    const { copyCollection } = await import('../store/migrate-store');
    const { openSessionCollections } = await import('../services/sessions/session-store');
    const { DEFAULT_SESSION_LIMITS } = await import('../services/sessions/session-service');
    const { openCron } = await import('../services/cron/cron-store');
    const paths = statePaths(flags.stateDir ?? defaultStateDir());
    const ca = loadCa(paths);
    if (!ca) throw new GatewayError(ErrorCode.FailedPrecondition, 'NO_CA', `no CA in ${paths.root}: nothing to migrate`);
    const log = silentLogger();
    const from = await openStore({ stateDir: paths.root, log });
    const to = await openStore({ stateDir: paths.root, databaseUrl: flags.to, log });
    try {
      await bindStoreToCa(to, ca);
      const maxKeptMessages = DEFAULT_SESSION_LIMITS.maxKeptMessages;
      const [fromSessions, toSessions] = [await openSessionCollections(from, { legacyDir: paths.sessionsDir, maxKeptMessages }), await openSessionCollections(to, { maxKeptMessages })];
      const copied = [
        await copyCollection(await openDevices(from, paths.devices), await openDevices(to)),
        await copyCollection(await openTokens(from, paths.tokens), await openTokens(to)),
        // Transcripts before the directory entries that make them visible.
        await copyCollection(fromSessions.messages, toSessions.messages),
        await copyCollection(fromSessions.sessions, toSessions.sessions),
        await copyCollection(await openCron(from, paths.cron), await openCron(to)),
        await copyCollection(await openRuntimeConfig(from, paths.config), await openRuntimeConfig(to)),
      ];
      for (const c of copied) process.stdout.write(`${c.name}: ${c.records} records, ${c.written} written, verified\n`);
      process.stdout.write(`Done. Start every replica with --database-url (or OPENCLAW_DATABASE_URL) and the same CA folder (${paths.caDir}).\n`);
    } finally {
      await from.close();
      await to.close();
    }
  });

program
  .command('import-openclaw')
  .description('import an OpenClaw install (its ~/.openclaw): paired devices keep their device tokens, the shared token, cron jobs, agents and the OpenAI provider; all or nothing, safe to run again; run it while this gateway is stopped')
  .requiredOption('--from <dir>', 'the OpenClaw state folder (e.g. ~/.openclaw of the OpenClaw install; only read, never written)')
  .option('--state-dir <dir>', 'state directory (env OPENCLAW_STATE_DIR, default ~/.openclaw)')
  .option('--database-url <url>', 'the PostgreSQL database this gateway keeps its state in (env OPENCLAW_DATABASE_URL)')
  .option('--dry-run', 'report what would be imported; write nothing')
  .option('--json', 'print the report as JSON')
  .action(async (flags: { from: string; stateDir?: string; databaseUrl?: string; dryRun?: boolean; json?: boolean }) => {
    const { importOpenclaw } = await import('../import/openclaw/import-openclaw');
    const { formatReport } = await import('../import/openclaw/report');
    const { defaultStateDir } = await import('../identity');
    const { createLogger } = await import('../logging');
    const pino = (await import('pino')).default;
    const stateDir = flags.stateDir ?? process.env.OPENCLAW_STATE_DIR ?? defaultStateDir();
    // Audit lines (one per imported device) go to stderr; the report to stdout.
    const log = createLogger({ pretty: false, destination: pino.destination({ dest: 2, sync: true }) });
    const report = await importOpenclaw({ from: flags.from, stateDir, databaseUrl: flags.databaseUrl ?? (process.env.OPENCLAW_DATABASE_URL || undefined), dryRun: flags.dryRun === true, log });
    process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  });

program
  .command('worker')
  .description('run the backend worker (cron runner) as its own process, with a backend certificate folder')
  .requiredOption('--gateway <host:port>', 'gateway gRPC address')
  .requiredOption('--certs <dir>', 'certificate folder of a backend identity (certs-tools issue --role backend)')
  .option('--log-level <level>', 'trace|debug|info|warn|error', 'info')
  .option('--renew-check <seconds>', 'how often the certificate folder is checked for renewal or replacement', '60')
  .action(async (flags: { gateway: string; certs: string; logLevel: string; renewCheck: string }) => {
    const { startWorker } = await import('../worker/cron-worker');
    const { createLogger } = await import('../logging');
    const { readCertsDir } = await import('../identity');
    readCertsDir(flags.certs); // fail now, with the folder named, if it is incomplete
    const log = createLogger({ level: flags.logLevel });
    const worker = startWorker({ gateway: flags.gateway, certsDir: flags.certs, log, renewCheckMs: seconds(flags.renewCheck, '--renew-check') * 1000 });
    process.stdout.write(`worker ${worker.workerId} started; gateway ${flags.gateway}\n`);
    const stop = () => void worker.stop().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

program
  .command('bridge')
  .description('run the legacy WebSocket bridge as its own process, with a bridge certificate folder')
  .requiredOption('--gateway <host:port>', 'gateway gRPC address')
  .requiredOption('--certs <dir>', 'certificate folder of a bridge identity (certs-tools issue --role bridge)')
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--port <port>', 'listen port', '18789')
  .option('--token-file <file>', 'file holding the legacy shared token (default: env OPENCLAW_GATEWAY_TOKEN)')
  .option('--token-only-scopes <list>', "scopes the gateway grants token-only legacy clients (its bridge.tokenOnlyScopes), reported in hello-ok", 'operator.read')
  .option('--control-ui-root <dir>', 'serve the legacy Control UI from DIR, the dist/control-ui folder of an installed openclaw npm package (env OPENCLAW_CONTROL_UI_ROOT)')
  .option('--allowed-origins <list>', 'browser origins allowed besides the bridge\'s own and loopback ones, comma-separated (the gateway\'s bridge.controlUi.allowedOrigins)', '')
  .option('--log-level <level>', 'trace|debug|info|warn|error', 'info')
  .option('--renew-check <seconds>', 'how often the certificate folder is checked for renewal or replacement', '60')
  .option('--tls', 'serve wss:// and https:// with the server certificate in <certs>/tls (cert.pem, key.pem: "certs-tools issue-server --out <certs>/tls"), reloaded when it changes (env OPENCLAW_BRIDGE_TLS=1)')
  .option('--tls-cert <file>', 'serve wss:// and https:// with this certificate instead (PEM, leaf then chain), reloaded when the file changes')
  .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
  .option('--published-on <addr>', 'where a container runtime publishes this port (HOST:PORT, or PORT for every interface): the address judged for plain ws:// instead of --host (env OPENCLAW_BRIDGE_PUBLISH)')
  .option('--insecure', 'allow plain ws:// where other hosts can reach it (tokens cross the network in clear text; env OPENCLAW_BRIDGE_INSECURE=1)')
  .action(async (flags: { gateway: string; certs: string; host: string; port: string; tokenFile?: string; tokenOnlyScopes: string; controlUiRoot?: string; allowedOrigins: string; logLevel: string; renewCheck: string; tls?: boolean; tlsCert?: string; tlsKey?: string; publishedOn?: string; insecure?: boolean }) => {
    const { startStandaloneBridge } = await import('../bridge/ws/standalone');
    const { createLogger } = await import('../logging');
    const { errors } = await import('../errors');
    const log = createLogger({ level: flags.logLevel });
    // A token file is watched: a new token written there (compose's init does, when
    // OPENCLAW_GATEWAY_TOKEN changes) is in force for new connections without a restart.
    const { watchedTokenFile } = await import('../bridge/ws/token-file');
    const tokenFile = flags.tokenFile ? watchedTokenFile(flags.tokenFile, log) : undefined;
    const token = tokenFile ? tokenFile.current : process.env.OPENCLAW_GATEWAY_TOKEN;
    if (!token) throw errors.invalid('NO_LEGACY_TOKEN', 'the bridge needs the legacy shared token: set OPENCLAW_GATEWAY_TOKEN or pass --token-file');
    const port = Number(flags.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw errors.invalid('BAD_CONFIG', `--port must be a port number, got "${flags.port}"`);
    if (!!flags.tlsCert !== !!flags.tlsKey) throw errors.invalid('BAD_CONFIG', '--tls-cert and --tls-key go together (the certificate, with its chain, and its private key, both PEM)');
    const env = process.env;
    const { join } = await import('node:path');
    const tlsFiles = flags.tlsCert
      ? { cert: flags.tlsCert, key: flags.tlsKey! }
      : (flags.tls ?? envOn(env.OPENCLAW_BRIDGE_TLS))
        ? { cert: join(flags.certs, 'tls', 'cert.pem'), key: join(flags.certs, 'tls', 'key.pem') }
        : undefined;
    const insecure = flags.insecure ?? envOn(env.OPENCLAW_BRIDGE_INSECURE);
    const { checkBridgeExposure, publishedHost, STANDALONE_TLS_WAYS } = await import('../bridge/ws/exposure');
    const published = flags.publishedOn || env.OPENCLAW_BRIDGE_PUBLISH || undefined;
    // Inside a container the bridge listens on every interface of the container; what the
    // network sees is where the runtime publishes the port. Only then (a wildcard --host)
    // is the published address judged; a specific --host is judged as it is.
    const wildcard = ['0.0.0.0', '::', '[::]'].includes(flags.host.trim());
    const exposedOn = published && wildcard ? publishedHost(published) : flags.host;
    checkBridgeExposure(exposedOn, !!tlsFiles, insecure, STANDALONE_TLS_WAYS);
    const tokenOnlyScopes = flags.tokenOnlyScopes.split(',').map((s) => s.trim()).filter(Boolean);
    const { loggedTlsSource } = await import('../bridge/ws/tls-source');
    const tls = tlsFiles ? loggedTlsSource(tlsFiles, log) : undefined;
    const allowedOrigins = flags.allowedOrigins.split(',').map((s) => s.trim()).filter(Boolean);
    for (const o of allowedOrigins) {
      let origin: string | undefined;
      try {
        origin = new URL(o).origin;
      } catch {
        origin = undefined;
      }
      if (origin !== o || !/^https?:/.test(o)) throw errors.invalid('BAD_CONFIG', `--allowed-origins: "${o}" is not a browser origin (http(s)://host[:port] in lower case, without a path)`);
    }
    const controlUiRoot = flags.controlUiRoot || process.env.OPENCLAW_CONTROL_UI_ROOT || undefined;
    const bridge = await startStandaloneBridge({
      gatewayAddress: flags.gateway,
      certsDir: flags.certs,
      host: flags.host,
      port,
      legacyToken: token,
      tokenOnlyScopes,
      allowedOrigins,
      controlUiRoot,
      log,
      tls,
      insecure,
      exposedOn,
      renewCheckMs: seconds(flags.renewCheck, '--renew-check') * 1000,
    });
    process.stdout.write(`bridge listening on ${bridge.url}; gateway ${flags.gateway}\n`);
    const stop = () => {
      tokenFile?.close();
      void bridge.close('bridge stopping').then(() => process.exit(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

/** A whole number of seconds from 1 to one day, or a clear usage error. */
function seconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 86_400) throw new GatewayError(ErrorCode.InvalidArgument, 'BAD_CONFIG', `${flag} must be whole seconds from 1 to 86400, got "${value}"`);
  return n;
}

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = err instanceof GatewayError ? err.message : (err as Error).message;
  process.stderr.write(`openclaw-gateway: error: ${message}\n`);
  process.exitCode = 1;
});
