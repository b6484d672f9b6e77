import { toLegacyError, legacyErrors, LegacyError } from '../../src/bridge/ws/legacy-errors';
import { closeReason } from '../../src/bridge/ws/close-codes';
import { errors, GatewayError, ErrorCode } from '../../src/errors';

describe('toLegacyError: the one mapping from gateway errors to legacy errors', () => {
  const cases: [string, unknown, { principal?: string; scope?: string }, Record<string, unknown>][] = [
    ['missing scope named by the gateway', errors.denied('MISSING_SCOPE', 'missing scope: operator.admin', { missingScope: 'operator.admin' }), {}, { code: 'FORBIDDEN', message: 'missing scope: operator.admin', details: { code: 'MISSING_SCOPE', missingScope: 'operator.admin' } }],
    ['missing scope, taken from the method', errors.denied('MISSING_SCOPE', 'missing scope'), { scope: 'operator.read' }, { code: 'FORBIDDEN', message: 'missing scope: operator.read', details: { missingScope: 'operator.read' } }],
    ['other denial', errors.denied('ROLE_NOT_ALLOWED', 'role node may not call X'), {}, { code: 'FORBIDDEN', message: 'role node may not call X', details: { code: 'ROLE_NOT_ALLOWED' } }],
    ['bridge misconfigured', errors.denied('PRINCIPAL_REQUIRED', 'the bridge must name the legacy principal'), {}, { code: 'UNAVAILABLE', details: { code: 'PRINCIPAL_REQUIRED' } }],
    ['revoked principal', errors.unauthenticated('DEVICE_REVOKED', 'device d1 was revoked', { deviceId: 'd1' }), { principal: 'd1' }, { code: 'NOT_PAIRED', details: { code: 'DEVICE_REVOKED' } }],
    ['revoked bridge', errors.unauthenticated('DEVICE_REVOKED', 'device b was revoked', { deviceId: 'b' }), { principal: 'd1' }, { code: 'UNAVAILABLE' }],
    ['not found', errors.notFound('JOB_NOT_FOUND', 'job j not found'), {}, { code: 'INVALID_REQUEST', message: 'job j not found', details: { code: 'JOB_NOT_FOUND' } }],
    ['precondition', errors.precondition('SESSION_BUSY', 'busy'), {}, { code: 'INVALID_REQUEST', details: { code: 'SESSION_BUSY' } }],
    ['exhausted', errors.exhausted('PAIRING_QUEUE_FULL', 'full'), {}, { code: 'UNAVAILABLE', retryable: true, retryAfterMs: 1000 }],
    ['unreachable', errors.unavailable('GATEWAY_UNREACHABLE', 'down'), {}, { code: 'UNAVAILABLE', retryable: true }],
    ['deadline', new GatewayError(ErrorCode.DeadlineExceeded, 'DEADLINE_EXCEEDED', 'slow'), {}, { code: 'UNAVAILABLE', retryable: true }],
    ['internal: no cause leaks', errors.internal('BOOM', 'disk exploded at /var/secret', new Error('secret')), {}, { code: 'UNAVAILABLE', message: 'internal error' }],
    ['not a gateway error', new TypeError('x is undefined'), {}, { code: 'UNAVAILABLE', message: 'internal error', details: { code: 'INTERNAL' } }],
  ];
  test.each(cases)('%s', (_n, err, ctx, expected) => {
    expect(toLegacyError(err, ctx).toShape()).toMatchObject(expected);
  });

  test('legacy errors pass through unchanged', () => {
    const e = legacyErrors.unknownMethod('x');
    expect(toLegacyError(e)).toBe(e);
    expect(e).toBeInstanceOf(LegacyError);
  });

  test('the pairing close reason keeps the format clients parse', () => {
    const e = legacyErrors.pairingRequired({ requestId: 'Abc_-123', deviceId: 'd', reason: 'not-paired', requestedRole: 'operator', requestedScopes: [] });
    expect(e.close).toEqual({ code: 1008, reason: 'pairing required: device is not approved yet (requestId: Abc_-123)' });
  });
});

test('close reasons are cut to 120 bytes without splitting a character', () => {
  expect(closeReason('short')).toBe('short');
  const cut = closeReason('é'.repeat(100));
  expect(Buffer.byteLength(cut)).toBe(120);
  expect(cut).toBe('é'.repeat(60));
  expect(Buffer.byteLength(closeReason('x'.repeat(119) + '😀'))).toBe(119);
});

test('every refused-credentials message fits a close reason whole (the hint on where the token is included)', () => {
  for (const reason of ['token_missing', 'token_mismatch', 'device_token_mismatch', 'scope_mismatch', 'rate_limited'] as const) {
    const message = legacyErrors.unauthorized(reason).toShape().message as string;
    expect(closeReason(message)).toBe(message);
  }
  expect(legacyErrors.unauthorized('token_mismatch').toShape().message).toBe("unauthorized: gateway token mismatch (use this bridge's shared token: OPENCLAW_GATEWAY_TOKEN or its legacy-token file)");
});
