import { errors } from '../../errors';
import { SCOPES } from '../../identity/roles';

/** Log levels the gateway accepts. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Providers an agent may use. */
export const PROVIDER_KINDS = ['builtin', 'openai'] as const;
/** One of PROVIDER_KINDS. */
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

/** One configured agent. */
export interface AgentConfig {
  id: string;
  name: string;
  provider: ProviderKind;
  model: string;
}

/** An OpenAI-compatible endpoint. The key is read from the named environment variable by the caller, never stored here. */
export interface OpenAiConfig {
  baseUrl: string;
  model: string;
  apiKeyEnv: string;
  timeoutMs: number;
}

/** The gateway's runtime configuration with every default filled in. */
export interface GatewayConfig {
  agents: { default: string; list: AgentConfig[] };
  providers: { openai?: OpenAiConfig };
  pairing: { pendingTtlSeconds: number; maxPending: number };
  certs: { clientLifetimeDays: number; renewAfterExpiryDays: number };
  bridge: { tokenOnlyScopes: string[]; controlUi: { allowedOrigins: string[] } };
  cron: { enabled: boolean };
  logging: { level: LogLevel };
}

/** One problem found in a config document. */
export interface ConfigIssue {
  /** Dotted path of the field, e.g. `agents.list[0].provider`; `(root)` for the document itself. */
  path: string;
  message: string;
}

type Parser<T> = (value: unknown, path: string, issues: ConfigIssue[]) => T;

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ENV_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const at = (path: string, key: string): string => (path ? `${path}.${key}` : key);
const show = (path: string): string => path || '(root)';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function int(min: number, max: number, def: number): Parser<number> {
  return (v, path, issues) => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      issues.push({ path, message: `must be an integer from ${min} to ${max}` });
      return def;
    }
    return v;
  };
}

function bool(def: boolean): Parser<boolean> {
  return (v, path, issues) => {
    if (v === undefined) return def;
    if (typeof v !== 'boolean') {
      issues.push({ path, message: 'must be true or false' });
      return def;
    }
    return v;
  };
}

function oneOf<T extends string>(values: readonly T[], def: T | undefined): Parser<T> {
  return (v, path, issues) => {
    if (v === undefined && def !== undefined) return def;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      issues.push({ path, message: v === undefined ? `is required (one of ${values.join(', ')})` : `must be one of ${values.join(', ')}` });
      return values[0];
    }
    return v as T;
  };
}

function str(opts: { def?: string; pattern?: RegExp; patternHint?: string; maxLength?: number }): Parser<string> {
  const max = opts.maxLength ?? 200;
  return (v, path, issues) => {
    if (v === undefined && opts.def !== undefined) return opts.def;
    if (v === undefined) {
      issues.push({ path, message: 'is required' });
      return '';
    }
    if (typeof v !== 'string' || v.length === 0 || v.length > max) {
      issues.push({ path, message: `must be a non-empty string of at most ${max} characters` });
      return '';
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      issues.push({ path, message: `must be ${opts.patternHint ?? `a string matching ${opts.pattern}`}` });
      return '';
    }
    return v;
  };
}

function httpUrl(def: string): Parser<string> {
  return (v, path, issues) => {
    if (v === undefined) return def;
    let ok = false;
    if (typeof v === 'string' && v.length <= 2048) {
      try {
        const u = new URL(v);
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password;
      } catch {
        ok = false;
      }
    }
    if (!ok) issues.push({ path, message: 'must be an http(s) URL without credentials' });
    return ok ? (v as string) : def;
  };
}

function list<T>(item: Parser<T>, def: () => T[], maxItems: number): Parser<T[]> {
  return (v, path, issues) => {
    if (v === undefined) return def();
    if (!Array.isArray(v)) {
      issues.push({ path, message: 'must be an array' });
      return def();
    }
    if (v.length > maxItems) issues.push({ path, message: `must have at most ${maxItems} items` });
    return v.map((x, i) => item(x, `${path}[${i}]`, issues));
  };
}

/** A browser origin as a browser sends it: `http(s)://host[:port]`, lower case, nothing after. */
function browserOrigin(): Parser<string> {
  return (v, path, issues) => {
    let ok = false;
    if (typeof v === 'string' && v.length <= 300) {
      try {
        const u = new URL(v);
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === v;
      } catch {
        ok = false;
      }
    }
    if (!ok) issues.push({ path, message: 'must be a browser origin: http(s)://host[:port] in lower case, without a path (e.g. "https://gateway.example:18789")' });
    return ok ? (v as string) : '';
  };
}

/** An object with exactly these keys (all optional, defaults filled); unknown keys are refused. */
function obj<T>(fields: { [K in keyof T]-?: Parser<T[K]> }): Parser<T> {
  return (v, path, issues) => {
    const src = v === undefined ? {} : v;
    if (!isObject(src)) {
      issues.push({ path: show(path), message: 'must be an object' });
      return obj(fields)(undefined, path, []);
    }
    for (const k of Object.keys(src)) {
      if (!(k in fields)) issues.push({ path: at(path, k), message: 'unknown key' });
    }
    const out = {} as T;
    for (const k of Object.keys(fields) as (keyof T)[]) {
      const value = fields[k](src[k as string], at(path, k as string), issues);
      if (value !== undefined) out[k] = value;
    }
    return out;
  };
}

/** Like obj, but absent stays absent (a section whose presence switches a feature on). */
function optionalObj<T>(fields: { [K in keyof T]-?: Parser<T[K]> }): Parser<T | undefined> {
  const inner = obj(fields);
  return (v, path, issues) => (v === undefined ? undefined : inner(v, path, issues));
}

/** The default agent: the offline built-in echo model. */
const DEFAULT_AGENT_CONFIG: AgentConfig = { id: 'main', name: 'Main', provider: 'builtin', model: 'builtin-echo' };

const agentParser: Parser<AgentConfig> = (v, path, issues) => {
  const a = obj<{ id: string; name: string | undefined; provider: ProviderKind; model: string | undefined }>({
    id: str({ pattern: ID_PATTERN, patternHint: 'letters, digits, ".", "_" or "-" (at most 64)' }),
    name: (x, p, i) => (x === undefined ? undefined : str({})(x, p, i)),
    provider: oneOf(PROVIDER_KINDS, undefined),
    model: (x, p, i) => (x === undefined ? undefined : str({})(x, p, i)),
  })(v, path, issues);
  // The model default depends on the provider section; resolved in parseConfig.
  return { id: a.id, name: a.name ?? a.id, provider: a.provider, model: a.model ?? '' };
};

const configParser: Parser<GatewayConfig> = obj<GatewayConfig>({
  agents: obj<GatewayConfig['agents']>({
    default: str({ def: DEFAULT_AGENT_CONFIG.id, pattern: ID_PATTERN, patternHint: 'an agent id' }),
    list: list(agentParser, () => [{ ...DEFAULT_AGENT_CONFIG }], 100),
  }),
  providers: obj<GatewayConfig['providers']>({
    openai: optionalObj<OpenAiConfig>({
      baseUrl: httpUrl('https://api.openai.com/v1'),
      model: str({ def: 'gpt-4o-mini' }),
      apiKeyEnv: str({ def: 'OPENAI_API_KEY', pattern: ENV_PATTERN, patternHint: 'an environment variable name' }),
      timeoutMs: int(1000, 600_000, 60_000),
    }),
  }),
  pairing: obj<GatewayConfig['pairing']>({
    pendingTtlSeconds: int(30, 86_400, 300),
    maxPending: int(1, 1000, 64),
  }),
  certs: obj<GatewayConfig['certs']>({
    clientLifetimeDays: int(1, 365, 14),
    renewAfterExpiryDays: int(0, 90, 7),
  }),
  bridge: obj<GatewayConfig['bridge']>({
    tokenOnlyScopes: list(oneOf(SCOPES, undefined) as Parser<string>, () => ['operator.read'], SCOPES.length),
    controlUi: obj<GatewayConfig['bridge']['controlUi']>({ allowedOrigins: list(browserOrigin(), () => [], 100) }),
  }),
  cron: obj<GatewayConfig['cron']>({ enabled: bool(true) }),
  logging: obj<GatewayConfig['logging']>({ level: oneOf(LOG_LEVELS, 'info') }),
});

/**
 * Checks a config document (as stored: only what was set) and returns it with every
 * default filled in. Throws INVALID_ARGUMENT `INVALID_CONFIG` whose message lists each
 * problem as `<path>: <reason>` (also in `details.issues`).
 */
export function parseConfig(raw: unknown): GatewayConfig {
  const issues: ConfigIssue[] = [];
  const config = configParser(raw, '', issues);

  const ids = new Set<string>();
  config.agents.list.forEach((a, i) => {
    if (!a.id) return;
    if (ids.has(a.id)) issues.push({ path: `agents.list[${i}].id`, message: `duplicate agent id "${a.id}"` });
    ids.add(a.id);
    if (a.provider === 'openai' && !config.providers.openai) {
      issues.push({ path: `agents.list[${i}].provider`, message: '"openai" needs the providers.openai section' });
    }
    if (!a.model) a.model = a.provider === 'openai' ? (config.providers.openai?.model ?? '') : DEFAULT_AGENT_CONFIG.model;
  });
  if (config.agents.list.length === 0) issues.push({ path: 'agents.list', message: 'must list at least one agent' });
  else if (!ids.has(config.agents.default)) {
    issues.push({ path: 'agents.default', message: `must be the id of an agent in agents.list (got "${config.agents.default}")` });
  }
  if (new Set(config.bridge.tokenOnlyScopes).size !== config.bridge.tokenOnlyScopes.length) {
    issues.push({ path: 'bridge.tokenOnlyScopes', message: 'must not repeat a scope' });
  }

  if (issues.length) {
    throw errors.invalid('INVALID_CONFIG', issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
  }
  return config;
}

/** The configuration when nothing is set. */
export function defaultConfig(): GatewayConfig {
  return parseConfig({});
}
