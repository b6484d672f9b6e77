import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { ConnectParams, DeviceBlock } from './frames';
import type { DeviceProofFailure } from './legacy-errors';

/** How far `device.signedAt` may be from the bridge's clock (legacy: +-120 s). */
export const DEFAULT_SIGNATURE_SKEW_MS = 120_000;

/** The outcome of checking a legacy device proof. */
export type DeviceProofResult = { ok: true; version: 'v3' | 'v2' } | { ok: false; failure: DeviceProofFailure };

/**
 * The token field of the signed payload: auth.token, else auth.deviceToken, else
 * auth.bootstrapToken, else empty (legacy-protocol.md, "Device identity").
 */
export function signedToken(auth: ConnectParams['auth']): string {
  return auth?.token || auth?.deviceToken || auth?.bootstrapToken || '';
}

/** The role as it is signed: what the client sent, `operator` when it sent none. */
export function requestedRole(params: ConnectParams): string {
  return params.role ?? 'operator';
}

/** The v3 and v2 payloads the client may have signed, in the order the bridge tries them. */
export function signedPayloads(params: ConnectParams, device: DeviceBlock): { version: 'v3' | 'v2'; text: string }[] {
  const common = [device.id, params.client.id, params.client.mode, requestedRole(params), (params.scopes ?? []).join(','), String(device.signedAt), signedToken(params.auth), device.nonce];
  return [
    { version: 'v3', text: ['v3', ...common, params.client.platform.toLowerCase(), (params.client.deviceFamily ?? '').toLowerCase()].join('|') },
    { version: 'v2', text: ['v2', ...common].join('|') },
  ];
}

function ed25519Key(publicKey: string): KeyObject | undefined {
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

/**
 * Checks the Ed25519 device proof exactly as legacy clients produce it, in the legacy
 * gateway's order (its failure reasons): the id is the hex SHA-256 of the raw public key
 * (`device-id-mismatch`, also for a key that is not 32 bytes), `signedAt` is within the
 * skew (`device-signature-stale`), the nonce is the one this connection's challenge
 * carried (`device-nonce-mismatch`), and the signature verifies over the v3 payload or,
 * failing that, the v2 payload (`device-signature`).
 */
export function verifyDeviceProof(params: ConnectParams, device: DeviceBlock, expect: { nonce: string; now: number; skewMs?: number }): DeviceProofResult {
  const raw = Buffer.from(device.publicKey, 'base64url');
  if (raw.length !== 32 || createHash('sha256').update(raw).digest('hex') !== device.id) return { ok: false, failure: 'device-id-mismatch' };
  if (Math.abs(expect.now - device.signedAt) > (expect.skewMs ?? DEFAULT_SIGNATURE_SKEW_MS)) return { ok: false, failure: 'device-signature-stale' };
  if (device.nonce !== expect.nonce) return { ok: false, failure: 'device-nonce-mismatch' };
  const key = ed25519Key(raw.toString('base64url'));
  const signature = Buffer.from(device.signature, 'base64url');
  // A key that cannot verify anything fails as a bad signature, as on the legacy gateway.
  if (!key || signature.length !== 64) return { ok: false, failure: 'device-signature' };
  for (const p of signedPayloads(params, device)) {
    if (verify(null, Buffer.from(p.text, 'utf8'), key, signature)) return { ok: true, version: p.version };
  }
  return { ok: false, failure: 'device-signature' };
}
