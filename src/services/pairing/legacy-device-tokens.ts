import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DeviceRecord, LegacyTokenRecord } from '../../store/device-store';

/** What the key of legacy device tokens is derived for (CertificateAuthority.deriveSecret). */
export const LEGACY_TOKEN_KEY_PURPOSE = 'openclaw legacy device tokens v1';

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Device tokens of legacy devices. A token is HMAC-SHA256(key, device | role | id): the
 * record keeps the random id and the token's SHA-256, never the token. So the gateway
 * (which holds the key, derived from the CA key on every replica) hands the same token
 * back on every connect until it is rotated or revoked, while someone who reads the store
 * learns nothing usable. Tokens are 32 bytes, base64url (43 characters), like the legacy
 * gateway's.
 */
export class LegacyDeviceTokens {
  constructor(private readonly key: Buffer) {
    if (key.length < 32) throw new Error('the legacy device token key must have at least 32 bytes');
  }

  /** The token a record stands for. */
  tokenOf(deviceId: string, role: string, record: Pick<LegacyTokenRecord, 'id'>): string {
    return createHmac('sha256', this.key).update(`${deviceId}|${role}|${record.id}`, 'utf8').digest('base64url');
  }

  /** A new token record (replacing `previous`, when there was one: then it counts as a rotation). */
  mint(deviceId: string, role: string, scopes: readonly string[], now: number, previous?: LegacyTokenRecord): { record: LegacyTokenRecord; token: string } {
    const id = randomBytes(18).toString('base64url');
    const token = this.tokenOf(deviceId, role, { id });
    const record: LegacyTokenRecord = { id, hash: sha256Hex(token), scopes: [...scopes], createdAt: previous?.createdAt ?? now };
    if (previous) record.rotatedAt = now;
    return { record, token };
  }

  /** The token of a stored record, when this gateway's key still produces it (else undefined: mint a new one). */
  reissue(deviceId: string, role: string, record: LegacyTokenRecord): string | undefined {
    const token = this.tokenOf(deviceId, role, record);
    return matchesHash(record.hash, token) ? token : undefined;
  }
}

/** Constant-time check of a presented token against a stored SHA-256 (hex). */
export function matchesHash(storedHex: string | undefined, presented: string): boolean {
  if (!storedHex || !/^[0-9a-f]{64}$/.test(storedHex) || !presented) return false;
  return timingSafeEqual(Buffer.from(storedHex, 'hex'), Buffer.from(sha256Hex(presented), 'hex'));
}

/** When a token record was issued, as legacy clients are told (`issuedAtMs`). */
export function issuedAt(record: LegacyTokenRecord): number {
  return record.rotatedAt ?? record.createdAt;
}

/** Whether a legacy device may connect in `role`: it is approved for it and that role's token was not revoked. */
export function roleUsable(device: DeviceRecord, role: string): boolean {
  return device.role === role && device.legacy?.tokens?.[role]?.revokedAt === undefined;
}

/** When the device's tokens last changed in a way that ends its open connections (rotation, revocation). */
export function tokensChangedAt(device: DeviceRecord): number | undefined {
  let at: number | undefined;
  for (const t of Object.values(device.legacy?.tokens ?? {})) {
    for (const v of [t.rotatedAt, t.revokedAt]) if (v !== undefined && (at === undefined || v > at)) at = v;
  }
  return at;
}
