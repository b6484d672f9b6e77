import { scopeSatisfied } from '../../identity';
import { legacyErrors, type LegacyError } from './legacy-errors';

/**
 * A token-only client (the shared token, no device) refused for a missing scope learns
 * the two ways to get it: pair a device, or have an operator widen
 * `bridge.tokenOnlyScopes` (the exact command, with the scope added to what is granted
 * now). The message still starts with `missing scope: <scope>` and the details are the
 * legacy gateway's, so clients that match on them are not affected.
 */
export function withTokenOnlyHint(le: LegacyError, tokenOnlyScopes: readonly string[]): LegacyError {
  const scope = le.details?.missingScope;
  if (le.code !== 'FORBIDDEN' || le.details?.code !== 'MISSING_SCOPE' || typeof scope !== 'string' || le.message !== `missing scope: ${scope}`) return le;
  // Granted already (the client did not ask for it, or the gateway's policy is narrower than the bridge was told): nothing to widen.
  if (scopeSatisfied(tokenOnlyScopes, scope)) return le;
  const widened = [...new Set([...tokenOnlyScopes, scope])];
  const patch = JSON.stringify({ bridge: { tokenOnlyScopes: widened } });
  return legacyErrors.missingScope(
    scope,
    `this connection uses the shared token, which gets only bridge.tokenOnlyScopes: ${tokenOnlyScopes.join(',') || '(none)'}. ` +
      `To get ${scope}, connect with a device identity and approve it (openclaw-cli devices approve <requestId>), ` +
      `or widen the policy: openclaw-cli gateway-config patch '${patch}'`,
  );
}
