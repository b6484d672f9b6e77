import { LegacyAuthService } from '../../gen/openclaw/devices/v1/devices_pb';
import { unaryCall, type GatewayConnection } from '../../transport/grpc/client/gateway-connection';
import { TOKEN_PRINCIPAL } from '../../transport/grpc/metadata-keys';
import { requestedRole, verifyDeviceProof } from './device-proof';
import type { ConnectParams, DeviceBlock } from './frames';
import { legacyErrors, type AuthFailureReason, type PairingReason } from './legacy-errors';
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
  /** The client's address as the bridge sees it (shown to operators with pairing requests). */
  remoteIp?: string;
}

/** A decided connect: who the connection acts for, and the device token to hand back. */
export interface Authenticated {
  principal: Principal;
  deviceToken?: string;
  issuedAtMs?: number;
  proof?: 'v3' | 'v2';
}

/** A credential as the legacy gateway reads it: trimmed, empty means absent. */
function given(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

/**
 * Decides a legacy connect as the legacy gateway does (in token mode). Throws a
 * LegacyError of the legacy error table.
 *
 * - The shared secret is `auth.token`, else `auth.password` (the gateway is in token
 *   mode: a password is compared with the token).
 * - Without a device block: the shared token gives the `token` principal (operators
 *   only); a wrong one is `token_mismatch`; anything else (a device token alone
 *   included: never a bearer credential without the device's signature) is
 *   `device identity required`.
 * - With a device block: the Ed25519 proof must verify, and it never suffices alone:
 *   the shared token, else the device's own token (`auth.deviceToken`, else what was
 *   sent as `auth.token`) must come with it. The gateway then decides on the device
 *   (LegacyAuthService.AuthorizeLegacyDevice): it checks the device token, puts an
 *   unapproved device (or one asking for more) in the approval queue shared with
 *   CSRs, and hands back the device's token, the same one until rotated or revoked.
 */
export async function authenticate(params: ConnectParams, deps: AuthenticateDeps): Promise<Authenticated> {
  const auth = params.auth ?? {};
  const token = given(auth.token);
  const secret = token ?? given(auth.password);
  const sharedOk = secret !== undefined && sharedSecretMatches(secret, deps.legacyToken);
  const asked = askedScopes(params.scopes);
  if (!params.device) {
    if (sharedOk && requestedRole(params) === 'operator') return { principal: tokenPrincipal(params, asked, deps) };
    if (secret !== undefined && !sharedOk) throw legacyErrors.unauthorized('token_mismatch');
    throw legacyErrors.deviceIdentityRequired();
  }
  return authenticateDevice(params, params.device, asked, { sharedOk, secret, token }, deps);
}

function tokenPrincipal(params: ConnectParams, asked: string[] | undefined, deps: AuthenticateDeps): Principal {
  // Probes only check that the gateway answers: no scopes, as on the legacy gateway.
  const scopes = params.client.mode === 'probe' ? [] : effectiveScopes(asked, deps.tokenOnlyScopes);
  return { id: TOKEN_PRINCIPAL, role: 'operator', scopes, method: 'token' };
}

async function authenticateDevice(
  params: ConnectParams,
  device: DeviceBlock,
  asked: string[] | undefined,
  cred: { sharedOk: boolean; secret?: string; token?: string },
  deps: AuthenticateDeps,
): Promise<Authenticated> {
  const proof = verifyDeviceProof(params, device, { nonce: deps.nonce, now: deps.now, skewMs: deps.signatureSkewMs });
  if (!proof.ok) throw legacyErrors.deviceProof(proof.failure);
  const auth = params.auth ?? {};
  const explicit = given(auth.deviceToken);
  // Without the shared token: the device token, sent as auth.deviceToken or in auth.token.
  const candidate = cred.sharedOk ? undefined : (explicit ?? cred.token);
  const sharedFailure: AuthFailureReason = cred.secret === undefined ? 'token_missing' : 'token_mismatch';
  // A device that sent a wrong shared token (not a password) and no device token may hold one: say so.
  const canRetry = sharedFailure === 'token_mismatch' && given(auth.password) === undefined && cred.token !== undefined && explicit === undefined;
  if (!cred.sharedOk && candidate === undefined) throw legacyErrors.unauthorized(sharedFailure, canRetry);

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
      deviceFamily: params.client.deviceFamily ?? '',
      clientId: params.client.id,
      clientMode: params.client.mode,
      remoteIp: deps.remoteIp ?? '',
      sharedSecretOk: cred.sharedOk,
      deviceToken: candidate ?? '',
    },
    { timeoutMs: deps.callTimeoutMs },
  );
  switch (res.authFailure) {
    case '':
      break;
    case 'scope-mismatch':
      throw legacyErrors.unauthorized('scope_mismatch');
    case 'device-token-mismatch':
      // As the legacy gateway: an explicit device token is a device token mismatch; one
      // sent in auth.token was first a (wrong) shared token, and is reported as that.
      throw explicit !== undefined ? legacyErrors.unauthorized('device_token_mismatch') : legacyErrors.unauthorized(sharedFailure, canRetry);
    default:
      throw legacyErrors.unauthorized(sharedFailure, canRetry);
  }
  if (!res.approved) {
    throw legacyErrors.pairingRequired({
      requestId: res.requestId,
      deviceId: device.id,
      reason: (res.reason || 'not-paired') as PairingReason,
      requestedRole: res.role,
      requestedScopes: res.scopes,
      approvedRoles: res.approvedRoles,
      approvedScopes: res.approvedScopes,
    });
  }
  return {
    principal: { id: device.id, role: res.role, scopes: [...res.scopes], method: res.authMethod === 'device-token' ? 'device-token' : 'token', deviceId: device.id, publicKey: device.publicKey },
    deviceToken: res.deviceToken || undefined,
    issuedAtMs: res.deviceToken ? Number(res.deviceTokenIssuedAtMs) : undefined,
    proof: proof.version,
  };
}
