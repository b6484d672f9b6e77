import { ErrorCode, GatewayError } from '../../errors';
import { CLOSE } from './close-codes';

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

/** Why a device proof failed, as the legacy error table names it. */
export type DeviceProofFailure = 'nonce-mismatch' | 'signature-invalid' | 'signature-expired' | 'identity-mismatch';

const DEVICE_PROOF: Record<DeviceProofFailure, { message: string; code: string }> = {
  'nonce-mismatch': { message: 'device nonce mismatch', code: 'DEVICE_AUTH_NONCE_MISMATCH' },
  'signature-invalid': { message: 'device signature invalid', code: 'DEVICE_AUTH_SIGNATURE_INVALID' },
  'signature-expired': { message: 'device signature expired', code: 'DEVICE_AUTH_SIGNATURE_EXPIRED' },
  'identity-mismatch': { message: 'device identity mismatch', code: 'DEVICE_AUTH_IDENTITY_MISMATCH' },
};

const policyClose = { code: CLOSE.policyViolation };

/** Pairing-required message; clients match this text and the close reason's format. */
export const PAIRING_REQUIRED_MESSAGE = 'pairing required: device is not approved yet';

/** The legacy error table (legacy-protocol.md, "Errors and closes"), one constructor per row. */
export const legacyErrors = {
  firstRequestNotConnect: () => new LegacyError('INVALID_REQUEST', 'invalid handshake: first request must be connect', { close: policyClose }),
  invalidConnectParams: (problem: string) => new LegacyError('INVALID_REQUEST', `invalid connect params: ${problem}`, { close: policyClose }),
  protocolMismatch: (min: number, max: number, expected: number) =>
    new LegacyError('INVALID_REQUEST', 'protocol mismatch', { details: { code: 'PROTOCOL_MISMATCH', minProtocol: min, maxProtocol: max, expectedProtocol: expected }, close: { code: CLOSE.protocolError } }),
  tokenMismatch: () =>
    new LegacyError('INVALID_REQUEST', 'unauthorized: gateway token mismatch (use the token from the gateway state directory file legacy-token, or OPENCLAW_GATEWAY_TOKEN)', {
      details: { code: 'AUTH_TOKEN_MISMATCH' },
      close: policyClose,
    }),
  passwordMismatch: () =>
    new LegacyError('INVALID_REQUEST', 'unauthorized: gateway password mismatch (use the gateway legacy token as the password)', { details: { code: 'AUTH_PASSWORD_MISMATCH' }, close: policyClose }),
  deviceTokenMismatch: () =>
    new LegacyError('INVALID_REQUEST', 'unauthorized: device token mismatch (reconnect with the device identity to get a new one)', { details: { code: 'AUTH_DEVICE_TOKEN_MISMATCH' }, close: policyClose }),
  deviceIdentityRequired: () => new LegacyError('NOT_PAIRED', 'device identity required', { details: { code: 'DEVICE_IDENTITY_REQUIRED' }, close: policyClose }),
  deviceProof: (failure: DeviceProofFailure) => new LegacyError('INVALID_REQUEST', DEVICE_PROOF[failure].message, { details: { code: DEVICE_PROOF[failure].code }, close: policyClose }),
  pairingRequired: (p: { requestId: string; deviceId: string; reason: string; requestedRole: string; requestedScopes: readonly string[] }) =>
    new LegacyError('NOT_PAIRED', PAIRING_REQUIRED_MESSAGE, {
      details: { code: 'PAIRING_REQUIRED', reason: p.reason, requestId: p.requestId, deviceId: p.deviceId, requestedRole: p.requestedRole, requestedScopes: [...p.requestedScopes] },
      close: { code: CLOSE.policyViolation, reason: `${PAIRING_REQUIRED_MESSAGE} (requestId: ${p.requestId})` },
    }),
  gatewayStarting: () => new LegacyError('UNAVAILABLE', 'gateway starting; retry shortly', { retryable: true, retryAfterMs: 1000, close: { code: CLOSE.tryAgainLater } }),
  missingScope: (scope: string) => new LegacyError('FORBIDDEN', `missing scope: ${scope}`, { details: { code: 'MISSING_SCOPE', missingScope: scope } }),
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
