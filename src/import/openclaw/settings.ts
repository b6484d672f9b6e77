import type { ReportItem } from './report';

/**
 * `openclaw.json` -> what has an equivalent here: the gateway's shared token (our
 * `legacy-token`), the OpenAI provider (its key only as an environment variable name: this
 * gateway never stores API keys) and the agents that use it. Everything else is reported
 * as skipped with the reason.
 */

export interface PlannedSettings {
  /** The shared token legacy clients are configured with, when it can be carried over. */
  sharedToken?: string;
  /** Runtime config sections to add (ours: `providers.openai`, `agents`). */
  openai?: { baseUrl: string; model: string; apiKeyEnv: string };
  agents: { id: string; name: string; provider: 'openai'; model: string }[];
  defaultAgent?: string;
  items: ReportItem[];
}

const ENV_REF = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// Top-level sections read here, or known to need nothing here.
const HANDLED = new Set(['gateway', 'agents', 'models', 'meta', '$schema']);

export function planSettings(config: Record<string, unknown>, dotEnv: Record<string, string> = {}): PlannedSettings {
  const items: ReportItem[] = [];
  const out: PlannedSettings = { agents: [], items };
  const gateway = isObject(config.gateway) ? config.gateway : {};
  const auth = isObject(gateway.auth) ? gateway.auth : {};

  // The shared token.
  const envToken = dotEnv.OPENCLAW_GATEWAY_TOKEN || undefined;
  const mode = typeof auth.mode === 'string' ? auth.mode : auth.token !== undefined || envToken ? 'token' : auth.password !== undefined ? 'password' : 'none';
  let secret = mode === 'token' ? (auth.token ?? envToken) : mode === 'password' ? (auth.password ?? dotEnv.OPENCLAW_GATEWAY_PASSWORD) : undefined;
  let fromEnvFile: string | undefined;
  if (mode === 'token' && auth.token === undefined && envToken) fromEnvFile = 'OPENCLAW_GATEWAY_TOKEN';
  if (mode === 'password' && auth.password === undefined && dotEnv.OPENCLAW_GATEWAY_PASSWORD) fromEnvFile = 'OPENCLAW_GATEWAY_PASSWORD';
  // A `${VAR}` whose value the install keeps in its .env file.
  const ref = typeof secret === 'string' ? ENV_REF.exec(secret.trim())?.[1] : undefined;
  if (ref && dotEnv[ref]) {
    secret = dotEnv[ref];
    fromEnvFile = ref;
  }
  const tokenItem: ReportItem = { kind: 'shared-token', source: `gateway.auth.${mode === 'password' ? 'password' : 'token'}`, target: 'legacy-token', outcome: 'imported' };
  if (mode !== 'token' && mode !== 'password') {
    items.push({ ...tokenItem, target: undefined, outcome: 'skipped', reason: `auth mode "${mode}" has no shared secret to carry over (this gateway's legacy clients use its own legacy-token)` });
  } else if (typeof secret !== 'string' || secret.trim() === '') {
    items.push({ ...tokenItem, target: undefined, outcome: 'skipped', reason: `no ${mode} set in openclaw.json` });
  } else if (ENV_REF.test(secret.trim())) {
    const env = ENV_REF.exec(secret.trim())![1];
    items.push({ ...tokenItem, target: undefined, outcome: 'skipped', reason: `the ${mode} is the environment variable ${env}, not set in the install's .env: start this gateway with OPENCLAW_GATEWAY_TOKEN set to its value` });
  } else {
    out.sharedToken = secret.trim();
    tokenItem.notes = [];
    if (fromEnvFile) {
      tokenItem.source = `${fromEnvFile} (from the install's .env)`;
      tokenItem.notes.push(`read from the OpenClaw folder's .env file (${fromEnvFile})`);
    }
    if (mode === 'password') tokenItem.notes.push('a password here is the shared token (legacy clients may keep sending it as their password)');
    tokenItem.notes.push("the built-in bridge's token; a bridge run as its own process (compose) reads its own token file: give it the same token (OPENCLAW_GATEWAY_TOKEN)");
    items.push(tokenItem);
  }
  for (const k of Object.keys(gateway)) {
    if (k === 'auth') continue;
    const why =
      k === 'port'
        ? `the bridge listens on 18789 unless started with --bridge-port ${JSON.stringify(gateway.port)}`
        : k === 'bind'
          ? 'the bridge listens on 127.0.0.1 unless started with --bridge-host'
          : k === 'mode'
            ? 'nothing to carry (this gateway is always local)'
            : 'no equivalent setting here';
    items.push({ kind: 'setting', source: `gateway.${k}`, outcome: 'skipped', reason: why });
  }
  for (const k of Object.keys(auth)) {
    if (k !== 'mode' && k !== 'token' && k !== 'password') items.push({ kind: 'setting', source: `gateway.auth.${k}`, outcome: 'skipped', reason: 'no equivalent setting here' });
  }

  // Model providers: OpenAI (key by environment variable only).
  const models = isObject(config.models) ? config.models : {};
  const providers = isObject(models.providers) ? models.providers : {};
  const agentsCfg = isObject(config.agents) ? config.agents : {};
  const defaults = isObject(agentsCfg.defaults) ? agentsCfg.defaults : {};
  const modelRef = (v: unknown): string | undefined => (typeof v === 'string' ? v : isObject(v) && typeof v.primary === 'string' ? v.primary : undefined);
  const defaultModel = modelRef(defaults.model);
  const split = (ref: string | undefined) => {
    const i = ref ? ref.indexOf('/') : -1;
    return ref && i > 0 ? { provider: ref.slice(0, i), model: ref.slice(i + 1) } : undefined;
  };
  for (const [id, p] of Object.entries(providers)) {
    const source = `models.providers.${id}`;
    if (id !== 'openai' || !isObject(p)) {
      items.push({ kind: 'provider', source, outcome: 'skipped', reason: 'no equivalent provider here (builtin and openai only)' });
      continue;
    }
    const key = typeof p.apiKey === 'string' ? p.apiKey.trim() : undefined;
    const env = key ? ENV_REF.exec(key)?.[1] : 'OPENAI_API_KEY';
    if (!env) {
      items.push({ kind: 'provider', source, outcome: 'skipped', reason: 'its API key is written in openclaw.json; this gateway reads keys from an environment variable only: set providers.openai.apiKeyEnv with openclaw-cli gateway-config patch' });
      continue;
    }
    const baseUrl = typeof p.baseUrl === 'string' ? p.baseUrl : 'https://api.openai.com/v1';
    const fromDefault = split(defaultModel);
    const model = fromDefault?.provider === 'openai' ? fromDefault.model : 'gpt-4o-mini';
    out.openai = { baseUrl, model, apiKeyEnv: env };
    const extra = Object.keys(p).filter((k) => !['baseUrl', 'apiKey', 'models'].includes(k));
    const notes = extra.length ? [`not carried: ${extra.join(', ')}`] : [];
    if (dotEnv[env]) notes.push(`the key's value is in the install's .env: give this gateway ${env} in its environment`);
    items.push({ kind: 'provider', source, target: 'providers.openai', outcome: 'imported', reason: `${baseUrl}, key from $${env}, default model ${model}`, ...(notes.length ? { notes } : {}) });
  }

  // Agents whose model is an OpenAI one.
  const list = Array.isArray(agentsCfg.list) ? agentsCfg.list : [];
  for (const a of list) {
    if (!isObject(a) || typeof a.id !== 'string') {
      items.push({ kind: 'agent', source: 'agents.list[?]', outcome: 'skipped', reason: 'an entry without an id' });
      continue;
    }
    const source = `agents.list ${a.id}`;
    if (!AGENT_ID.test(a.id)) {
      items.push({ kind: 'agent', source, outcome: 'skipped', reason: 'its id is not a valid agent id here' });
      continue;
    }
    const ref = modelRef(a.model) ?? defaultModel;
    const m = split(ref);
    if (!m || m.provider !== 'openai' || !out.openai) {
      items.push({ kind: 'agent', source, outcome: 'skipped', reason: ref ? `its model ${ref} has no provider here (openai only${out.openai ? '' : ', and none was imported'})` : 'it names no model' });
      continue;
    }
    const name = typeof a.name === 'string' && a.name.trim() ? a.name.trim().slice(0, 200) : a.id;
    out.agents.push({ id: a.id, name, provider: 'openai', model: m.model });
    const extra = Object.keys(a).filter((k) => !['id', 'name', 'model', 'default'].includes(k));
    items.push({ kind: 'agent', source, target: `agents.list ${a.id}`, outcome: 'imported', reason: `openai ${m.model}`, ...(extra.length ? { notes: [`not carried: ${extra.join(', ')}`] } : {}) });
    if (a.default === true) out.defaultAgent = a.id;
  }
  if (!out.defaultAgent && out.agents.some((a) => a.id === 'main')) out.defaultAgent = 'main';
  for (const k of Object.keys(agentsCfg)) {
    if (k !== 'list' && k !== 'defaults') items.push({ kind: 'setting', source: `agents.${k}`, outcome: 'skipped', reason: 'no equivalent setting here' });
  }
  for (const k of Object.keys(defaults)) {
    if (k !== 'model') items.push({ kind: 'setting', source: `agents.defaults.${k}`, outcome: 'skipped', reason: 'no equivalent setting here' });
  }
  for (const k of Object.keys(config)) {
    if (!HANDLED.has(k)) items.push({ kind: 'setting', source: k, outcome: 'skipped', reason: 'no equivalent here' });
  }
  return out;
}
