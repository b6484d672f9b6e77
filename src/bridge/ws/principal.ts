import { intersectScopes, scopeSatisfied, SCOPES } from '../../identity';
import type { CallOpts } from '../../transport/grpc/client/gateway-connection';

/**
 * How a legacy client authenticated (hello-ok `auth.method`, the legacy gateway's
 * values): `token` = the shared token (or password), with or without a device
 * signature; `device-token` = a device's signature with that device's own token.
 */
export type AuthMethod = 'token' | 'device-token';

/**
 * The legacy principal a connection acts for. Every gRPC call the bridge makes for
 * the connection names it (delegation metadata); the gateway applies the principal's
 * approved scopes, never more, whatever the bridge says.
 */
export interface Principal {
  /** Delegation principal: the legacy device id, or `token` for shared-token clients. */
  id: string;
  role: string;
  /** Scopes in effect for this connection (what was asked, within what was approved). */
  scopes: string[];
  method: AuthMethod;
  /** Set for device connections (signed with the device key). */
  deviceId?: string;
  /** Raw Ed25519 key (base64url) when the device proved possession on this connection. */
  publicKey?: string;
}

/** Delegation call options for a principal (deadline only for unary calls). */
export function callOptsFor(p: Principal, timeoutMs?: number): CallOpts {
  return { principal: p.id, scopes: p.scopes, timeoutMs };
}

/** Whether the principal's scopes satisfy `scope` (same implication rules as the gateway). */
export function principalHas(p: Principal, scope: string): boolean {
  return scopeSatisfied(p.scopes, scope);
}

/**
 * The scopes a client asked for that this gateway knows (unknown names are dropped:
 * newer clients ask for scopes that do not exist here and can never be granted).
 * `undefined` when the client asked for none, which means "whatever is approved".
 */
export function askedScopes(sent: readonly string[] | undefined): string[] | undefined {
  if (!sent || sent.length === 0) return undefined;
  return [...new Set(sent.filter((s) => (SCOPES as readonly string[]).includes(s)))];
}

/** Effective scopes: the asked ones the grant covers, or the whole grant when none were asked. */
export function effectiveScopes(asked: string[] | undefined, granted: readonly string[]): string[] {
  return asked === undefined ? [...granted] : intersectScopes(asked, granted);
}
