import type { ConfigService as ConfigDesc } from '../../../../gen/openclaw/config/v1/config_pb';
import { errors } from '../../../../errors';
import type { ConfigService } from '../../../../services/config/config-service';
import type { ServiceImpl } from '../../service-definition';
import { unary, type HandlerContext } from '../handler-kit';

/** ConfigService: the runtime config as JSON, patched with JSON merge patch. */
export function configHandlers(ctx: HandlerContext, config: ConfigService): ServiceImpl<typeof ConfigDesc> {
  return {
    getConfig: unary(ctx, () => {
      const s = config.get();
      return { configJson: JSON.stringify(s.config), hash: s.hash };
    }),
    patchConfig: unary(ctx, async (req) => {
      let patch: unknown;
      try {
        patch = JSON.parse(req.patchJson);
      } catch {
        throw errors.invalid('INVALID_JSON', 'patch_json is not valid JSON');
      }
      const s = await config.patch(patch, req.baseHash || undefined);
      return { configJson: JSON.stringify(s.config), hash: s.hash };
    }),
  };
}
