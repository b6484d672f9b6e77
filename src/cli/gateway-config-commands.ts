/**
 * gateway-config get|patch: the gateway's runtime configuration (ConfigService), not to
 * be confused with `openclaw-cli config`, which shows the CLI's connection settings.
 *
 * --json shape (both): { config: <the configuration object>, hash }
 */
import { ConfigService } from '../gen/openclaw/config/v1/config_pb';
import { errors } from '../errors';
import type { CliContext } from './cli-context';

function parseObject(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw errors.invalid('BAD_JSON', `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Picks a dotted path ("agents.default.model") out of the config. */
function pick(config: unknown, path: string): unknown {
  let cur: unknown = config;
  for (const key of path.split('.').filter(Boolean)) {
    if (!cur || typeof cur !== 'object' || !(key in (cur as Record<string, unknown>))) throw errors.notFound('CONFIG_KEY_NOT_FOUND', `the gateway config has no "${path}"`);
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** `gateway-config get [path]` */
export async function gatewayConfigGet(ctx: CliContext, path?: string): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(ConfigService.method.getConfig, {});
  const config = parseObject(res.configJson, 'the gateway config');
  const value = path ? pick(config, path) : config;
  ctx.out.result(
    () => (path ? { path, value, hash: res.hash } : { config, hash: res.hash }),
    () => (typeof value === 'string' ? value : JSON.stringify(value, null, 2)),
  );
}

/** `gateway-config patch <json>`: a JSON merge patch (RFC 7396); null deletes a key. */
export async function gatewayConfigPatch(ctx: CliContext, patchJson: string, o: { baseHash?: string }): Promise<void> {
  const patch = parseObject(patchJson, 'the patch');
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw errors.invalid('BAD_PATCH', 'the patch must be a JSON object, e.g. \'{"logging":{"level":"debug"}}\'');
  const conn = await ctx.connect();
  const res = await conn.unary(ConfigService.method.patchConfig, { patchJson: JSON.stringify(patch), baseHash: o.baseHash ?? '' });
  const config = parseObject(res.configJson, 'the gateway config');
  ctx.out.result(
    () => ({ config, hash: res.hash }),
    // Every key applies without a restart (the README's settings table says when).
    () => `Updated the gateway config (hash ${res.hash}); it applies without a restart`,
  );
}
