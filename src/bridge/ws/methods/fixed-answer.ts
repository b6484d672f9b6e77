import type { Scope } from '../../../identity';
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
