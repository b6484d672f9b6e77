import type { Scope } from '../../../identity';
import { LegacyError } from '../legacy-errors';
import { Params } from './params';
import type { LegacyMethod, MethodContext } from './types';

/**
 * A method for a feature this gateway does not have, answered with the legacy
 * gateway's shape of "nothing there" (an empty list, a null card). Its params must
 * still be an object (else INVALID_REQUEST, as for every method).
 */
export function emptyAnswer(method: string, scope: Scope, answer: (p: Params, ctx: MethodContext) => unknown): LegacyMethod {
  return {
    method,
    scope,
    handler: async (ctx) => answer(Params.of(ctx.method, ctx.params), ctx),
  };
}

/**
 * A method that would change a feature this gateway does not have (install a skill,
 * run an update...): refused with `UNAVAILABLE "<feature> is not available on this
 * gateway."`, the legacy envelope of a feature that cannot serve the call. It changes
 * nothing and never pretends to succeed. Scope and params are checked first, as for
 * every method. Not listed in hello-ok, so the UI leaves its control off.
 */
export function unavailable(method: string, scope: Scope, feature: string): LegacyMethod {
  return {
    method,
    scope,
    advertise: false,
    handler: async (ctx) => {
      Params.of(ctx.method, ctx.params);
      throw new LegacyError('UNAVAILABLE', `${feature} is not available on this gateway.`, { details: { code: 'FEATURE_UNAVAILABLE', method } });
    },
  };
}
