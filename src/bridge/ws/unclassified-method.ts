import { LegacyError, legacyErrors } from './legacy-errors';
import { principalHas, type Principal } from './principal';

/** The scope the legacy gateway requires for a method it has no scope for. */
export const UNCLASSIFIED_METHOD_SCOPE = 'operator.admin';

/**
 * The answer to a method the bridge does not serve (and to `connect` after hello).
 * The legacy gateway treats a method it cannot classify as needing `operator.admin`:
 * a caller without it is told the scope is missing (so an unknown name reveals
 * nothing to it), and only an admin learns that the method does not exist.
 */
export function unclassifiedMethod(method: string, principal: Principal): LegacyError {
  if (!principalHas(principal, UNCLASSIFIED_METHOD_SCOPE)) {
    return new LegacyError('FORBIDDEN', `missing scope: ${UNCLASSIFIED_METHOD_SCOPE}`, {
      details: { code: 'MISSING_SCOPE', missingScope: UNCLASSIFIED_METHOD_SCOPE, requiredScopes: [UNCLASSIFIED_METHOD_SCOPE] },
    });
  }
  return legacyErrors.unknownMethod(method);
}
