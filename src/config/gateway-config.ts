import { errors } from '../errors';
import { defaultStateDir } from '../identity/state-layout';
import { checkBridgeExposure } from '../bridge/ws/exposure';

/** Start-up settings of the gateway process (flags > environment > defaults), frozen. */
export interface GatewayConfig {
  readonly stateDir: string;
  readonly grpcHost: string;
  readonly grpcPort: number;
  readonly bridgeHost: string;
  readonly bridgePort: number;
  /** Extra names/addresses for the server certificate (e.g. a compose service name). */
  readonly sans: readonly string[];
  readonly logLevel: string;
  /** Run the WS bridge in this process. */
  readonly bridge: boolean;
  /**
   * TLS on the legacy port: `ca` = a server certificate from the gateway's CA (the gRPC
   * server's, which also names the bridge's address), `files` = `bridgeCert`/`bridgeKey`
   * brought by the operator; absent: plain ws:// and http://.
   */
  readonly bridgeTls?: { readonly kind: 'ca' } | { readonly kind: 'files'; readonly cert: string; readonly key: string };
  /** Plain ws:// allowed on a non-loopback bridge address (warned about at every start). */
  readonly bridgeInsecure: boolean;
  /** Run the backend worker (cron runner) in this process. */
  readonly worker: boolean;
  /** Shared token for legacy WS clients; created in the state dir when not given. */
  readonly legacyToken?: string;
  /** PostgreSQL URL for state shared by replicas; absent: files in the state dir. */
  readonly databaseUrl?: string;
  /** HOST:PORT of the Prometheus endpoint (GET /metrics); absent: no metrics. */
  readonly metricsAddr?: string;
  /** HOST:PORT of the readiness endpoint for load balancers (GET /readyz); absent: none. */
  readonly healthAddr?: string;
  /** The gRPC port expects a PROXY protocol header (v1 or v2) on every connection: behind HAProxy with send-proxy-v2. */
  readonly proxyProtocol: boolean;
  /** Folder of the legacy Control UI bundle the bridge serves (`dist/control-ui` of the openclaw npm package); absent: none. */
  readonly controlUiRoot?: string;
}

/** Flag values as commander hands them over (all optional). */
export interface GatewayFlags {
  stateDir?: string;
  grpcHost?: string;
  grpcPort?: string | number;
  bridgeHost?: string;
  bridgePort?: string | number;
  san?: string[];
  logLevel?: string;
  bridge?: boolean;
  bridgeTls?: boolean;
  bridgeCert?: string;
  bridgeKey?: string;
  bridgeInsecure?: boolean;
  worker?: boolean;
  databaseUrl?: string;
  metricsAddr?: string;
  healthAddr?: string;
  proxyProtocol?: boolean;
  controlUiRoot?: string;
}

function port(value: string | number | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw errors.invalid('BAD_CONFIG', `${name} must be a port number (0-65535), got "${value}"`);
  return n;
}

/** Parses "host:port", "[v6]:port" or ":port" (host 127.0.0.1); BAD_CONFIG naming `what` otherwise. */
export function parseListenAddress(value: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  const p = m ? Number(m[3]) : NaN;
  if (!m || p > 65535) throw errors.invalid('BAD_CONFIG', `${what} must be HOST:PORT (e.g. 127.0.0.1:9464), got "${value}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: p };
}

/** An environment switch: on for `1` or `true`. */
export const envOn = (v: string | undefined): boolean => v === '1' || v === 'true';

/** The legacy port's TLS settings from flags and environment; BAD_CONFIG for half a pair. */
function bridgeTlsOf(flags: GatewayFlags, env: NodeJS.ProcessEnv): GatewayConfig['bridgeTls'] {
  const cert = flags.bridgeCert || env.OPENCLAW_BRIDGE_CERT || undefined;
  const key = flags.bridgeKey || env.OPENCLAW_BRIDGE_KEY || undefined;
  if (!!cert !== !!key) throw errors.invalid('BAD_CONFIG', '--bridge-cert and --bridge-key go together (the certificate, with its chain, and its private key, both PEM)');
  if (cert && key) return Object.freeze({ kind: 'files' as const, cert, key });
  return (flags.bridgeTls ?? envOn(env.OPENCLAW_BRIDGE_TLS)) ? Object.freeze({ kind: 'ca' as const }) : undefined;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Resolves the gateway's start-up config from flags and environment. */
export function resolveGatewayConfig(flags: GatewayFlags, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const logLevel = flags.logLevel ?? env.OPENCLAW_LOG_LEVEL ?? 'info';
  if (!LEVELS.includes(logLevel)) throw errors.invalid('BAD_CONFIG', `log level must be one of ${LEVELS.join(', ')}`);
  const metricsAddr = flags.metricsAddr || env.OPENCLAW_METRICS_ADDR || undefined;
  if (metricsAddr) parseListenAddress(metricsAddr, 'metrics address');
  const healthAddr = flags.healthAddr || env.OPENCLAW_HEALTH_ADDR || undefined;
  if (healthAddr) parseListenAddress(healthAddr, 'health address');
  const bridge = flags.bridge ?? env.OPENCLAW_BRIDGE !== '0';
  const bridgeHost = flags.bridgeHost ?? env.OPENCLAW_BRIDGE_HOST ?? '127.0.0.1';
  const bridgeTls = bridgeTlsOf(flags, env);
  const bridgeInsecure = flags.bridgeInsecure ?? envOn(env.OPENCLAW_BRIDGE_INSECURE);
  // Refused before anything is created or listens (the bridge checks again when it starts).
  if (bridge) checkBridgeExposure(bridgeHost, !!bridgeTls, bridgeInsecure);
  const sans = [...(env.OPENCLAW_SANS ?? '').split(','), ...(flags.san ?? [])].map((s) => s.trim()).filter(Boolean);
  return Object.freeze({
    stateDir: flags.stateDir ?? defaultStateDir(env),
    grpcHost: flags.grpcHost ?? env.OPENCLAW_GRPC_HOST ?? '127.0.0.1',
    grpcPort: port(flags.grpcPort ?? env.OPENCLAW_GRPC_PORT, 'gRPC port', 18790),
    bridgeHost,
    bridgePort: port(flags.bridgePort ?? env.OPENCLAW_BRIDGE_PORT, 'bridge port', 18789),
    sans: Object.freeze([...new Set(sans)]),
    logLevel,
    bridge,
    bridgeTls,
    bridgeInsecure,
    worker: flags.worker ?? env.OPENCLAW_WORKER !== '0',
    legacyToken: env.OPENCLAW_GATEWAY_TOKEN || undefined,
    databaseUrl: flags.databaseUrl || env.OPENCLAW_DATABASE_URL || undefined,
    metricsAddr,
    healthAddr,
    proxyProtocol: flags.proxyProtocol ?? envOn(env.OPENCLAW_PROXY_PROTOCOL),
    controlUiRoot: flags.controlUiRoot || env.OPENCLAW_CONTROL_UI_ROOT || undefined,
  });
}
