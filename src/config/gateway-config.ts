import { errors } from '../errors';
import { defaultStateDir } from '../identity/state-layout';

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

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Resolves the gateway's start-up config from flags and environment. */
export function resolveGatewayConfig(flags: GatewayFlags, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const logLevel = flags.logLevel ?? env.OPENCLAW_LOG_LEVEL ?? 'info';
  if (!LEVELS.includes(logLevel)) throw errors.invalid('BAD_CONFIG', `log level must be one of ${LEVELS.join(', ')}`);
  const metricsAddr = flags.metricsAddr || env.OPENCLAW_METRICS_ADDR || undefined;
  if (metricsAddr) parseListenAddress(metricsAddr, 'metrics address');
  const healthAddr = flags.healthAddr || env.OPENCLAW_HEALTH_ADDR || undefined;
  if (healthAddr) parseListenAddress(healthAddr, 'health address');
  const sans = [...(env.OPENCLAW_SANS ?? '').split(','), ...(flags.san ?? [])].map((s) => s.trim()).filter(Boolean);
  return Object.freeze({
    stateDir: flags.stateDir ?? defaultStateDir(env),
    grpcHost: flags.grpcHost ?? env.OPENCLAW_GRPC_HOST ?? '127.0.0.1',
    grpcPort: port(flags.grpcPort ?? env.OPENCLAW_GRPC_PORT, 'gRPC port', 18790),
    bridgeHost: flags.bridgeHost ?? env.OPENCLAW_BRIDGE_HOST ?? '127.0.0.1',
    bridgePort: port(flags.bridgePort ?? env.OPENCLAW_BRIDGE_PORT, 'bridge port', 18789),
    sans: Object.freeze([...new Set(sans)]),
    logLevel,
    bridge: flags.bridge ?? env.OPENCLAW_BRIDGE !== '0',
    worker: flags.worker ?? env.OPENCLAW_WORKER !== '0',
    legacyToken: env.OPENCLAW_GATEWAY_TOKEN || undefined,
    databaseUrl: flags.databaseUrl || env.OPENCLAW_DATABASE_URL || undefined,
    metricsAddr,
    healthAddr,
    proxyProtocol: flags.proxyProtocol ?? (env.OPENCLAW_PROXY_PROTOCOL === '1' || env.OPENCLAW_PROXY_PROTOCOL === 'true'),
    controlUiRoot: flags.controlUiRoot || env.OPENCLAW_CONTROL_UI_ROOT || undefined,
  });
}
