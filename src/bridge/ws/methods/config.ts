import { ConfigService, type GetConfigResponse } from '../../../gen/openclaw/config/v1/config_pb';
import { defaultConfig } from '../../../services/config/config-schema';
import { canonicalJson } from '../../../services/config/json-merge-patch';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { LegacyError, legacyErrors } from '../legacy-errors';
import { Params } from './params';
import type { LegacyMethod, MethodContext } from './types';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The JSON merge patch (RFC 7396) that turns `before` into `after`: how a whole-config
 * replacement (`config.set`) is expressed with the gateway's PatchConfig.
 */
export function mergePatchBetween(before: unknown, after: unknown): unknown {
  if (!isObject(before) || !isObject(after)) return after;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    if (value === undefined) continue;
    if (!(key in before)) patch[key] = value;
    else if (canonicalJson(before[key]) !== canonicalJson(value)) patch[key] = isObject(before[key]) && isObject(value) ? mergePatchBetween(before[key], value) : value;
  }
  return patch;
}

/**
 * The legacy config snapshot shape (`config.get`). Real gateway 2026.9.6: {path, includedPaths, includeProvenance,
 * agentRosterIncludeOwned, bindingsIncludeOwned, exists, raw, parsed, sourceConfig, resolved, valid, runtimeConfig,
 * config, hash, issues, warnings, legacyIssues, configRevisionHash, appliedConfigHash}. This gateway's config is one
 * JSON document with no includes or defaults layered on it, so `parsed`, `sourceConfig`, `resolved` and
 * `runtimeConfig` are that document; it is not a file a client could open (`path` is empty).
 */
function snapshot(res: { configJson: string; hash: string }): Record<string, unknown> {
  const parse = () => JSON.parse(res.configJson) as unknown;
  return {
    exists: true,
    valid: true,
    path: '',
    includedPaths: [],
    raw: res.configJson,
    parsed: parse(),
    sourceConfig: parse(),
    resolved: parse(),
    runtimeConfig: parse(),
    config: parse(),
    hash: res.hash,
    issues: [],
    warnings: [],
    legacyIssues: [],
  };
}

function parseJsonObject(p: Params, field: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw legacyErrors.invalidParams(p.method, `${field} must be JSON (JSON5 is not supported)`);
  }
  if (!isObject(value)) throw legacyErrors.invalidParams(p.method, `${field} must be a JSON object`);
  return value;
}

async function getConfig(ctx: MethodContext): Promise<GetConfigResponse> {
  const c = ctx.gateway.client(ConfigService);
  return unaryCall(c, c.getConfig, {}, ctx.call);
}

async function patchConfig(ctx: MethodContext, patch: unknown, baseHash: string): Promise<unknown> {
  const c = ctx.gateway.client(ConfigService);
  const res = await unaryCall(c, c.patchConfig, { patchJson: JSON.stringify(patch), baseHash }, ctx.call);
  return { ok: true, ...snapshot(res) };
}

/** `config.set` and `config.apply`: replace the whole config (the gateway applies it live). */
async function replaceConfig(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const next = p.has('config') ? p.obj('config')! : parseJsonObject(p, 'raw', p.need('raw'));
  const current = await getConfig(ctx);
  const baseHash = p.str('baseHash') ?? current.hash;
  if (baseHash !== current.hash) throw legacyErrors.invalidRequest('config changed since it was read; reload it and try again', { code: 'CONFIG_CHANGED' });
  return patchConfig(ctx, mergePatchBetween(JSON.parse(current.configJson), next), baseHash);
}

/** The characters of a config path (`plugins.entries.memory-core.config`, `agents.list[0]`, `*` wildcards). */
const CONFIG_PATH = /^[A-Za-z0-9_./[\]*-]+$/;

/** The sections of this gateway's config (`agents`, `bridge`, ...). */
const CONFIG_SECTIONS: ReadonlySet<string> = new Set(Object.keys(defaultConfig()));

/**
 * `config.schema.lookup {path}`: the real gateway answers the JSON schema of a config path (the Memory page
 * asks for `plugins.entries.memory-core.config`). This gateway's config has no JSON schema to look into: a path
 * outside its sections gets the real answer for a path that does not exist (INVALID_REQUEST "config schema path
 * not found"; there are no plugins here), a path inside them UNAVAILABLE.
 */
async function schemaLookup(ctx: MethodContext): Promise<never> {
  const p = Params.of(ctx.method, ctx.params);
  const path = p.need('path');
  // As the real gateway's schema: 1 to 1,024 characters of a config path.
  if (path.length > 1024 || !CONFIG_PATH.test(path)) p.fail('path must be a config path: 1 to 1024 letters, digits and _ . / [ ] - *');
  if (!CONFIG_SECTIONS.has(path.split(/[.[]/, 1)[0])) throw legacyErrors.invalidRequest('config schema path not found');
  throw new LegacyError('UNAVAILABLE', 'Config schema lookup is not available on this gateway.', { details: { code: 'FEATURE_UNAVAILABLE', method: ctx.method } });
}

/** config.get, config.patch, config.set, config.apply, config.schema.lookup. */
export const CONFIG_METHODS: readonly LegacyMethod[] = [
  { method: 'config.get', scope: 'operator.read', handler: async (ctx) => snapshot(await getConfig(ctx)) },
  {
    method: 'config.patch',
    scope: 'operator.admin',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const patch = p.has('patch') ? p.obj('patch')! : parseJsonObject(p, 'raw', p.need('raw'));
      return patchConfig(ctx, patch, p.str('baseHash') ?? '');
    },
  },
  { method: 'config.set', scope: 'operator.admin', handler: replaceConfig },
  { method: 'config.apply', scope: 'operator.admin', handler: replaceConfig },
  { method: 'config.schema.lookup', scope: 'operator.read', handler: schemaLookup },
];
