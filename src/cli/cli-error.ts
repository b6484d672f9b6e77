/**
 * The CLI's one place that turns an error into the single stderr line and the exit
 * code. Branches on GatewayError codes and reasons only; adds what the user needs to
 * act (which certificate folder, which device, which scope).
 */
import { ErrorCode, GatewayError } from '../errors';
import type { CertsDir } from '../identity/certs-dir';

/** Exit codes (documented in --help). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  unreachable: 3,
  unauthenticated: 4,
  denied: 5,
  notFound: 6,
  interrupted: 130,
} as const;

const EXIT_BY_CODE: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.InvalidArgument]: EXIT.usage,
  [ErrorCode.Unavailable]: EXIT.unreachable,
  [ErrorCode.DeadlineExceeded]: EXIT.unreachable,
  [ErrorCode.Unauthenticated]: EXIT.unauthenticated,
  [ErrorCode.PermissionDenied]: EXIT.denied,
  [ErrorCode.NotFound]: EXIT.notFound,
  [ErrorCode.Cancelled]: EXIT.interrupted,
};

/** Reasons with which the gateway refuses a client certificate. */
const CERT_REFUSALS = new Set([
  'NO_CLIENT_CERT',
  'CERT_UNTRUSTED',
  'CERT_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEVICE_REVOKED',
  'DEVICE_UNKNOWN',
  'CERT_SUPERSEDED',
  'CERT_WRONG_TRUST_DOMAIN',
  'CERT_ROLE_MISMATCH',
  'CERT_NO_IDENTITY',
  'CERT_IDENTITY_MISMATCH',
  'CERT_MALFORMED',
]);

/** What to do, per refusal reason, when the server's message does not already say it. */
const CERT_HINTS: Record<string, string> = {
  CERT_UNTRUSTED: 'the certificate was issued by another CA; provision it from this gateway ("certs-tools issue") or pair again ("openclaw-cli pair")',
  CERT_EXPIRED: 'run "openclaw-cli renew" (works up to 7 days after expiry) or pair again',
  CERT_NOT_YET_VALID: "check this machine's clock",
  DEVICE_REVOKED: 'pair again or issue a new certificate',
  DEVICE_UNKNOWN: 'the gateway does not know this device (was its state reset?); pair again or issue a new certificate',
  CERT_SUPERSEDED: 'a newer certificate exists for this device; copy the newest folder or renew from the folder that holds it',
};

/** What the error line may mention about the identity in use. */
export interface ErrorContext {
  certs?: CertsDir;
  deviceId?: string;
}

/** The one stderr line (without the "openclaw-cli: error: " prefix) and the exit code. */
export function explainError(err: unknown, ctx: ErrorContext = {}): { message: string; exitCode: number } {
  if (!(err instanceof GatewayError)) {
    return { message: oneLine(`unexpected failure: ${(err as Error)?.message ?? String(err)}`), exitCode: EXIT.failure };
  }
  const exitCode = EXIT_BY_CODE[err.code] ?? EXIT.failure;
  const deviceId = (typeof err.details.deviceId === 'string' ? err.details.deviceId : undefined) ?? ctx.deviceId ?? ctx.certs?.meta?.deviceId;
  const dir = ctx.certs?.dir;

  if (CERT_REFUSALS.has(err.reason)) {
    const who = [deviceId ? `device ${deviceId}` : '', err.reason].filter(Boolean).join(', ');
    const hint = CERT_HINTS[err.reason];
    const message = `the gateway refused the client certificate${dir ? ` in ${dir}` : ''} (${who}): ${err.message}${hint && !/pair|renew|clock|newest/i.test(err.message) ? `; ${hint}` : ''}`;
    return { message: oneLine(message), exitCode };
  }
  if (err.code === ErrorCode.PermissionDenied && (err.reason === 'MISSING_SCOPE' || err.reason === 'ROLE_NOT_ALLOWED')) {
    const meta = ctx.certs?.meta;
    const has = meta ? `; the identity${dir ? ` in ${dir}` : ''} (${meta.label}, role ${meta.role}) has scopes: ${meta.scopes.join(', ') || '(none)'}` : '';
    const ask = err.reason === 'MISSING_SCOPE' ? '; use an identity with that scope or have an operator issue one' : '';
    return { message: oneLine(`not allowed: ${err.message}${has}${ask}`), exitCode };
  }
  return { message: oneLine(err.message), exitCode };
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
