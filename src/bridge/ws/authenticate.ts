import { LegacyAuthService } from '../../gen/openclaw/devices/v1/devices_pb';
import { unaryCall, type GatewayConnection } from '../../transport/grpc/client/gateway-connection';
import { TOKEN_PRINCIPAL } from '../../transport/grpc/metadata-keys';
import { requestedRole, verifyDeviceProof } from './device-proof';
import type { ConnectParams, DeviceBlock } from './frames';
import { legacyErrors } from './legacy-errors';
import { askedScopes, effectiveScopes, type Principal } from './principal';
import { sharedSecretMatches } from './shared-secret';

/** What deciding a connect needs. */
export interface AuthenticateDeps {
  gateway: GatewayConnection;
  /** The shared legacy token (also accepted as the legacy password). */
  legacyToken: string;
  /** Scopes the gateway grants token-only clients (see BridgeOptions.tokenOnlyScopes). */
  tokenOnlyScopes: readonly string[];
  /** The nonce of this connection's challenge. */
  nonce: string;
  now: number;
  signatureSkewMs: number;
  callTimeoutMs: number;
}

/** A decided connect: who the connection acts for, and the device token to hand back. */
export interface Authenticated {
  principal: Principal;
  deviceToken?: string;
  proof?: 'v3' | 'v2';
}

async function verifyToken(deps: AuthenticateDeps, token: string, deviceId: string) {
  const c = deps.gateway.client(LegacyAuthService);
  return unaryCall(c, c.verifyDeviceToken, { deviceToken: token, deviceId }, { timeoutMs: deps.callTimeoutMs });
}

/**
 * Decides a legacy connect. Throws a LegacyError of the legacy error table.
 *
 * - With a device block: the Ed25519 proof must verify; a shared token or password
 *   sent along must be right (or, for `auth.token`, be this device's own token);
 *   then the gateway decides on the device in the same approval queue as CSRs
 *   (LegacyAuthService.AuthorizeLegacyDevice). A stale `auth.deviceToken` next to a
 *   valid proof is not an error: the proof is stronger, and the gateway rotates the
 *   token on every signed connect, so concurrent connections make it stale routinely.
 * - Without one: the shared token/password gives the `token` principal; a device
 *   token (as `auth.deviceToken`, or as `auth.token`) the device it was issued to.
 * - Nothing: `device identity required`.
 */
export async function authenticate(params: ConnectParams, deps: AuthenticateDeps): Promise<Authenticated> {
  const auth = params.auth ?? {};
  const asked = askedScopes(params.scopes);
  if (params.device) return authenticateDevice(params, params.device, asked, deps);

  if (auth.token !== undefined && auth.token !== '') {
    if (sharedSecretMatches(auth.token, deps.legacyToken)) return { principal: tokenPrincipal('token', asked, deps) };
    const v = await verifyToken(deps, auth.token, '');
    if (v.valid) return { principal: { id: v.deviceId, role: v.role, scopes: effectiveScopes(asked, v.scopes), method: 'device-token', deviceId: v.deviceId } };
    throw legacyErrors.tokenMismatch();
  }
  if (auth.password !== undefined && auth.password !== '') {
    if (sharedSecretMatches(auth.password, deps.legacyToken)) return { principal: tokenPrincipal('password', asked, deps) };
    throw legacyErrors.passwordMismatch();
  }
  if (auth.deviceToken !== undefined && auth.deviceToken !== '') {
    const v = await verifyToken(deps, auth.deviceToken, '');
    if (v.valid) return { principal: { id: v.deviceId, role: v.role, scopes: effectiveScopes(asked, v.scopes), method: 'device-token', deviceId: v.deviceId } };
    throw legacyErrors.deviceTokenMismatch();
  }
  throw legacyErrors.deviceIdentityRequired();
}

function tokenPrincipal(method: 'token' | 'password', asked: string[] | undefined, deps: AuthenticateDeps): Principal {
  return { id: TOKEN_PRINCIPAL, role: 'operator', scopes: effectiveScopes(asked, deps.tokenOnlyScopes), method };
}

async function authenticateDevice(params: ConnectParams, device: DeviceBlock, asked: string[] | undefined, deps: AuthenticateDeps): Promise<Authenticated> {
  const proof = verifyDeviceProof(params, device, { nonce: deps.nonce, now: deps.now, skewMs: deps.signatureSkewMs });
  if (!proof.ok) throw legacyErrors.deviceProof(proof.failure);
  const auth = params.auth ?? {};
  if (auth.token && !sharedSecretMatches(auth.token, deps.legacyToken)) {
    const v = await verifyToken(deps, auth.token, device.id);
    if (!v.valid) throw legacyErrors.tokenMismatch();
  }
  if (auth.password && !sharedSecretMatches(auth.password, deps.legacyToken)) throw legacyErrors.passwordMismatch();

  const c = deps.gateway.client(LegacyAuthService);
  const res = await unaryCall(
    c,
    c.authorizeLegacyDevice,
    {
      deviceId: device.id,
      publicKey: device.publicKey,
      role: requestedRole(params),
      scopes: asked ?? [],
      displayName: params.client.displayName ?? '',
      platform: params.client.platform,
      clientId: params.client.id,
      clientMode: params.client.mode,
    },
    { timeoutMs: deps.callTimeoutMs },
  );
  if (!res.approved) {
    throw legacyErrors.pairingRequired({ requestId: res.requestId, deviceId: device.id, reason: res.reason || 'not-paired', requestedRole: res.role, requestedScopes: res.scopes });
  }
  return {
    principal: { id: device.id, role: res.role, scopes: effectiveScopes(asked, res.scopes), method: 'device', deviceId: device.id, publicKey: device.publicKey },
    deviceToken: res.deviceToken || undefined,
    proof: proof.version,
  };
}
