import { ErrorCode, GatewayError } from '../../errors';
import { CLOSE } from './close-codes';
import { ALLOWED_ORIGINS_KEY } from './origin-policy';

/** The closed set of legacy error codes clients branch on. */
export const LEGACY_CODES = ['NOT_PAIRED', 'INVALID_REQUEST', 'FORBIDDEN', 'UNAVAILABLE'] as const;
/** One of LEGACY_CODES. */
export type LegacyCode = (typeof LEGACY_CODES)[number];

/** The `error` object of a legacy response frame. */
export interface LegacyErrorShape {
  code: LegacyCode;
  message: string;
  details?: Record<string, unknown>;
  retryable?: boolean;
  retryAfterMs?: number;
}

/**
 * An error as a legacy client sees it, plus (for handshake failures) how the socket
 * is closed afterwards. Messages are interface: legacy clients match on them.
 */
export class LegacyError extends Error {
  readonly code: LegacyCode;
  readonly details?: Record<string, unknown>;
  readonly retryable?: boolean;
  readonly retryAfterMs?: number;
  /** Close the socket after answering (handshake errors). */
  readonly close?: { code: number; reason: string };

  constructor(code: LegacyCode, message: string, opts: { details?: Record<string, unknown>; retryable?: boolean; retryAfterMs?: number; close?: { code: number; reason?: string } } = {}) {
    super(message);
    this.name = 'LegacyError';
    this.code = code;
    this.details = opts.details;
    this.retryable = opts.retryable;
    this.retryAfterMs = opts.retryAfterMs;
    this.close = opts.close ? { code: opts.close.code, reason: opts.close.reason ?? message } : undefined;
  }

  /** The wire shape of the error. */
  toShape(): LegacyErrorShape {
    const shape: LegacyErrorShape = { code: this.code, message: this.message };
    if (this.details) shape.details = this.details;
    if (this.retryable !== undefined) shape.retryable = this.retryable;
    if (this.retryAfterMs !== undefined) shape.retryAfterMs = this.retryAfterMs;
    return shape;
  }
}

/** Why a device proof failed: the legacy gateway's `details.reason` values. */
export type DeviceProofFailure = 'device-id-mismatch' | 'device-signature-stale' | 'device-nonce-mismatch' | 'device-signature' | 'device-public-key';

const DEVICE_PROOF: Record<DeviceProofFailure, { message: string; code: string }> = {
  'device-id-mismatch': { message: 'device identity mismatch', code: 'DEVICE_AUTH_DEVICE_ID_MISMATCH' },
  'device-signature-stale': { message: 'device signature expired', code: 'DEVICE_AUTH_SIGNATURE_EXPIRED' },
  'device-nonce-mismatch': { message: 'device nonce mismatch', code: 'DEVICE_AUTH_NONCE_MISMATCH' },
  'device-signature': { message: 'device signature invalid', code: 'DEVICE_AUTH_SIGNATURE_INVALID' },
  'device-public-key': { message: 'device public key invalid', code: 'DEVICE_AUTH_PUBLIC_KEY_INVALID' },
};

const policyClose = { code: CLOSE.policyViolation };

/**
 * Where the shared token comes from, in token errors. The legacy gateway names its own
 * config keys here (`gateway.auth.token`); clients match only the text before the
 * parenthesis. Short enough that the whole mismatch message fits a close reason.
 */
const TOKEN_HINT = "use this bridge's shared token: OPENCLAW_GATEWAY_TOKEN or its legacy-token file";

/** The legacy gateway's `authReason` values for refused credentials. */
export type AuthFailureReason = 'token_missing' | 'token_mismatch' | 'device_token_mismatch' | 'scope_mismatch' | 'rate_limited';

const AUTH_FAILURES: Record<AuthFailureReason, { message: string; code: string; next: string }> = {
  token_missing: { message: `unauthorized: gateway token missing (${TOKEN_HINT})`, code: 'AUTH_TOKEN_MISSING', next: 'update_auth_configuration' },
  token_mismatch: { message: `unauthorized: gateway token mismatch (${TOKEN_HINT})`, code: 'AUTH_TOKEN_MISMATCH', next: 'update_auth_credentials' },
  device_token_mismatch: { message: 'unauthorized: device token mismatch (rotate/reissue device token)', code: 'AUTH_DEVICE_TOKEN_MISMATCH', next: 'update_auth_credentials' },
  scope_mismatch: { message: 'unauthorized: device token scope mismatch (re-pair or approve scope upgrade)', code: 'AUTH_SCOPE_MISMATCH', next: 'review_auth_configuration' },
  rate_limited: { message: 'unauthorized: too many failed authentication attempts (retry later)', code: 'AUTH_RATE_LIMITED', next: 'wait_then_retry' },
};

/** Why a device must be (re)approved, with the legacy gateway's wording. */
export type PairingReason = 'not-paired' | 'scope-upgrade' | 'role-upgrade';

const PAIRING: Record<PairingReason, { requirement: string; hint: string }> = {
  'not-paired': { requirement: 'device is not approved yet', hint: 'Approve this device from the pending pairing requests.' },
  'role-upgrade': { requirement: 'device is asking for a higher role than currently approved', hint: 'Review the requested role upgrade, then approve the pending request.' },
  'scope-upgrade': { requirement: 'device is asking for more scopes than currently approved', hint: 'Review the requested scopes, then approve the pending upgrade.' },
};

/** Pairing-required message of a device that was never approved; clients match this text and the close reason's format. */
export const PAIRING_REQUIRED_MESSAGE = `pairing required: ${PAIRING['not-paired'].requirement}`;

/** The legacy error table (legacy-protocol.md, "Errors and closes"), one constructor per row. */
export const legacyErrors = {
  firstRequestNotConnect: () => new LegacyError('INVALID_REQUEST', 'invalid handshake: first request must be connect', { close: policyClose }),
  invalidConnectParams: (problem: string) => new LegacyError('INVALID_REQUEST', `invalid connect params: ${problem}`, { close: policyClose }),
  protocolMismatch: (min: number, max: number, expected: number, minimumProbe: number) =>
    new LegacyError('INVALID_REQUEST', 'protocol mismatch', {
      details: { code: 'PROTOCOL_MISMATCH', clientMinProtocol: min, clientMaxProtocol: max, expectedProtocol: expected, minimumProbeProtocol: minimumProbe },
      close: { code: CLOSE.protocolError },
    }),
  /**
   * A refused credential: shared token missing or wrong, device token wrong or asking
   * for more than it carries. `canRetryWithDeviceToken` is set when a device sent a
   * wrong shared token and no device token (it may hold one and should retry with it).
   */
  unauthorized: (reason: AuthFailureReason, canRetryWithDeviceToken = false) => {
    const f = AUTH_FAILURES[reason];
    return new LegacyError('INVALID_REQUEST', f.message, {
      details: { code: f.code, authReason: reason, canRetryWithDeviceToken, recommendedNextStep: canRetryWithDeviceToken ? 'retry_with_device_token' : f.next },
      close: policyClose,
    });
  },
  /** Too many wrong credentials from this address: locked out for a while (the real answer: retryable, with retryAfterMs). */
  rateLimited: (retryAfterMs: number) => {
    const f = AUTH_FAILURES.rate_limited;
    return new LegacyError('INVALID_REQUEST', f.message, {
      retryable: true,
      retryAfterMs,
      details: { code: f.code, authReason: 'rate_limited', canRetryWithDeviceToken: false, recommendedNextStep: f.next },
      close: policyClose,
    });
  },
  /** A browser page of an origin the bridge does not trust (the real wording; it names its own setting, this one ours). */
  originNotAllowed: (reason: string) =>
    new LegacyError('INVALID_REQUEST', `origin not allowed (open the Control UI from the gateway host or allow it in ${ALLOWED_ORIGINS_KEY})`, {
      details: { code: 'CONTROL_UI_ORIGIN_NOT_ALLOWED', reason },
      close: policyClose,
    }),
  deviceIdentityRequired: () => new LegacyError('NOT_PAIRED', 'device identity required', { details: { code: 'DEVICE_IDENTITY_REQUIRED' }, close: policyClose }),
  deviceProof: (failure: DeviceProofFailure) => new LegacyError('INVALID_REQUEST', DEVICE_PROOF[failure].message, { details: { code: DEVICE_PROOF[failure].code, reason: failure }, close: policyClose }),
  pairingRequired: (p: {
    requestId: string;
    deviceId: string;
    reason: PairingReason;
    requestedRole: string;
    requestedScopes: readonly string[];
    approvedRoles?: readonly string[];
    approvedScopes?: readonly string[];
  }) => {
    const message = `pairing required: ${PAIRING[p.reason].requirement}`;
    return new LegacyError('NOT_PAIRED', message, {
      details: {
        code: 'PAIRING_REQUIRED',
        reason: p.reason,
        requestId: p.requestId,
        remediationHint: PAIRING[p.reason].hint,
        deviceId: p.deviceId,
        requestedRole: p.requestedRole,
        requestedScopes: [...p.requestedScopes],
        ...(p.approvedRoles && p.approvedRoles.length > 0 ? { approvedRoles: [...p.approvedRoles] } : {}),
        ...(p.approvedScopes && p.approvedScopes.length > 0 ? { approvedScopes: [...p.approvedScopes] } : {}),
      },
      close: { code: CLOSE.policyViolation, reason: `${message} (requestId: ${p.requestId})` },
    });
  },
  gatewayStarting: () => new LegacyError('UNAVAILABLE', 'gateway starting; retry shortly', { retryable: true, retryAfterMs: 1000, close: { code: CLOSE.tryAgainLater } }),
  /** `hint` (how to get the scope) is appended in parentheses; clients match the text before it. */
  missingScope: (scope: string, hint?: string) =>
    new LegacyError('FORBIDDEN', `missing scope: ${scope}${hint ? ` (${hint})` : ''}`, { details: { code: 'MISSING_SCOPE', missingScope: scope, requiredScopes: [scope] } }),
  unknownMethod: (method: string) => new LegacyError('INVALID_REQUEST', `unknown method: ${method}`),
  invalidRequest: (message: string, details?: Record<string, unknown>) => new LegacyError('INVALID_REQUEST', message, { details }),
  invalidParams: (method: string, problem: string) => new LegacyError('INVALID_REQUEST', `invalid ${method} params: ${problem}`),
  busy: () => new LegacyError('UNAVAILABLE', 'too many requests in flight on this connection', { retryable: true, retryAfterMs: 500, details: { code: 'TOO_MANY_REQUESTS' } }),
};

/** Denials that are about the bridge's own certificate or delegation, not about the client. */
const BRIDGE_DENIALS = new Set(['PRINCIPAL_REQUIRED', 'DELEGATION_NOT_ALLOWED']);

/**
 * The one place where errors from the gRPC API (GatewayError) become legacy errors.
 * `principal` tells a revoked legacy device apart from a revoked bridge; `scope` is
 * the scope the legacy method needs, used when the gateway's denial does not name one.
 */
export function toLegacyError(err: unknown, ctx: { principal?: string; scope?: string | null } = {}): LegacyError {
  if (err instanceof LegacyError) return err;
  if (!(err instanceof GatewayError)) return new LegacyError('UNAVAILABLE', 'internal error', { details: { code: 'INTERNAL' } });
  const details = { code: err.reason };
  switch (err.code) {
    case ErrorCode.PermissionDenied: {
      if (err.reason === 'MISSING_SCOPE') {
        const scope = typeof err.details.missingScope === 'string' ? err.details.missingScope : ctx.scope;
        if (scope) return legacyErrors.missingScope(scope);
      }
      if (BRIDGE_DENIALS.has(err.reason)) return new LegacyError('UNAVAILABLE', 'the bridge is not authorized by the gateway; check its certificate', { details, retryable: false });
      return new LegacyError('FORBIDDEN', err.message, { details });
    }
    case ErrorCode.Unauthenticated:
      if (ctx.principal && err.details.deviceId === ctx.principal) return new LegacyError('NOT_PAIRED', err.message, { details });
      return new LegacyError('UNAVAILABLE', 'the bridge is not authorized by the gateway; check its certificate', { details, retryable: false });
    case ErrorCode.InvalidArgument:
    case ErrorCode.NotFound:
    case ErrorCode.AlreadyExists:
    case ErrorCode.FailedPrecondition:
      return new LegacyError('INVALID_REQUEST', err.message, { details });
    case ErrorCode.ResourceExhausted:
      return new LegacyError('UNAVAILABLE', err.message, { details, retryable: true, retryAfterMs: 1000 });
    case ErrorCode.Unavailable:
    case ErrorCode.DeadlineExceeded:
    case ErrorCode.Cancelled:
      return new LegacyError('UNAVAILABLE', 'gateway unavailable; retry shortly', { details, retryable: true, retryAfterMs: 1000 });
    case ErrorCode.Internal:
      return new LegacyError('UNAVAILABLE', 'internal error', { details: { code: 'INTERNAL' } });
  }
}

/** Whether an error means the gateway could not be reached (as opposed to a refusal). */
export function isGatewayUnreachable(err: unknown): boolean {
  return err instanceof GatewayError && (err.code === ErrorCode.Unavailable || err.code === ErrorCode.DeadlineExceeded);
}
