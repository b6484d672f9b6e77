import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { errors } from '../../errors';
import { audit, type Logger } from '../../logging';
import { hashToken, intersectScopes, parseScopes, scopeSatisfied, type DeviceRegistry } from '../../identity';
import type { PairingService } from './pairing-service';

/** The answer to a legacy device that proved its Ed25519 key to the bridge. */
export interface LegacyAuthorization {
  approved: boolean;
  requestId?: string;
  reason?: 'not-paired' | 'scope-upgrade' | 'role-upgrade';
  role: string;
  scopes: string[];
  deviceToken?: string;
}

/**
 * Legacy (OpenClaw v4) devices: Ed25519 keys instead of certificates. They share the
 * approval queue with CSRs; once approved they get a device token, rotated on each
 * device-signed connect (only its hash is stored).
 */
export class LegacyDevices {
  constructor(private readonly deps: { registry: DeviceRegistry; pairing: PairingService; log: Logger }) {}

  /** Decides on a legacy device whose signature the bridge verified. */
  async authorize(input: { deviceId: string; publicKey: string; role: string; scopes: readonly string[]; displayName: string; clientInfo: string }): Promise<LegacyAuthorization> {
    const raw = Buffer.from(input.publicKey, 'base64url');
    if (raw.length !== 32) throw errors.invalid('DEVICE_KEY_INVALID', 'device public key must be a raw 32-byte Ed25519 key (base64url)');
    if (createHash('sha256').update(raw).digest('hex') !== input.deviceId) {
      throw errors.invalid('DEVICE_ID_MISMATCH', 'device identity mismatch: id is not the SHA-256 of the public key');
    }
    const role = input.role === 'node' ? 'node' : 'operator';
    const asked = parseScopes(input.scopes);
    const record = this.deps.registry.get(input.deviceId);
    const known = record && record.status === 'active' && record.source === 'legacy' && record.legacy?.publicKey === input.publicKey;
    if (known && record.role === role && asked.every((s) => scopeSatisfied(record.scopes, s))) {
      const token = randomBytes(32).toString('base64url');
      await this.deps.registry.setLegacyToken(record.id, token);
      const scopes = asked.length > 0 ? intersectScopes(asked, record.scopes) : record.scopes;
      return { approved: true, role: record.role, scopes, deviceToken: token };
    }
    const reason: LegacyAuthorization['reason'] = !known ? 'not-paired' : record.role !== role ? 'role-upgrade' : 'scope-upgrade';
    const scopes = known && reason === 'scope-upgrade' ? [...new Set([...record.scopes, ...asked])] : asked;
    const req = await this.deps.pairing.submitLegacy({ deviceId: input.deviceId, publicKey: input.publicKey, label: input.displayName || `legacy ${input.deviceId.slice(0, 8)}`, role, scopes, clientInfo: input.clientInfo, reason });
    audit(this.deps.log, 'legacy.pairing-required', { deviceId: input.deviceId, requestId: req.requestId, reason, allowed: false });
    return { approved: false, requestId: req.requestId, reason, role, scopes };
  }

  /** Checks a device token a legacy client sent back. */
  verifyToken(deviceToken: string, deviceId?: string): { valid: boolean; deviceId?: string; role?: string; scopes?: string[] } {
    if (!deviceToken) return { valid: false };
    const hash = Buffer.from(hashToken(deviceToken), 'hex');
    const candidates = this.deps.registry.list().filter((d) => d.source === 'legacy' && d.legacy?.deviceTokenHash && (!deviceId || d.id === deviceId));
    for (const d of candidates) {
      if (timingSafeEqual(hash, Buffer.from(d.legacy!.deviceTokenHash!, 'hex'))) return { valid: true, deviceId: d.id, role: d.role, scopes: d.scopes };
    }
    return { valid: false };
  }
}
