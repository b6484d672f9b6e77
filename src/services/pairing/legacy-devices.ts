import { createHash } from 'node:crypto';
import type { Clock } from '../../clock';
import { errors } from '../../errors';
import { audit, type Logger } from '../../logging';
import { intersectScopes, parseScopes, scopeSatisfied, type DeviceRegistry } from '../../identity';
import type { DeviceRecord, LegacyTokenRecord } from '../../store/device-store';
import { issuedAt, matchesHash, roleUsable, type LegacyDeviceTokens } from './legacy-device-tokens';
import type { LegacyClientInfo } from './pairing-requests';
import type { PairingService } from './pairing-service';

/** Why a connect's credential was refused (no pairing request is made for these). */
export type LegacyAuthFailure = 'credential-missing' | 'device-token-mismatch' | 'scope-mismatch';

/** A legacy connect whose device signature the bridge verified. */
export interface LegacyConnect {
  deviceId: string;
  publicKey: string;
  role: string;
  scopes: readonly string[];
  displayName: string;
  clientInfo: string;
  client: LegacyClientInfo;
  /** The client also presented the shared legacy token (checked by the bridge). */
  sharedSecretOk: boolean;
  /** Otherwise: the device token it presented. */
  deviceToken?: string;
}

/** The answer to a legacy connect. */
export interface LegacyAuthorization {
  approved: boolean;
  requestId?: string;
  reason?: 'not-paired' | 'scope-upgrade' | 'role-upgrade';
  role: string;
  scopes: string[];
  /** The device's token (the same on every connect until rotated or revoked). */
  deviceToken?: string;
  issuedAt?: number;
  method?: 'token' | 'device-token';
  authFailure?: LegacyAuthFailure;
  /** Upgrades of a paired device: what it is approved for now. */
  approvedRoles?: string[];
  approvedScopes?: string[];
}

/** Who asks to rotate or revoke a device token. */
export interface TokenManager {
  /** The caller's device (the legacy principal when the bridge acts for one). */
  deviceId: string;
  scopes: readonly string[];
  /** The caller is a legacy device that connected with its own device token (the bridge says so). */
  viaOwnDeviceToken: boolean;
  actor: string;
}

/** Why a rotation or revocation is refused (the legacy gateway's reasons). */
type ManageDenial = 'device-ownership-mismatch' | 'role-management-requires-admin' | 'unknown-device-or-role' | 'scope-outside-approved-baseline' | 'caller-missing-scope';

type Decision =
  | { kind: 'refused'; failure: LegacyAuthFailure }
  | { kind: 'pairing'; reason: 'not-paired' | 'scope-upgrade' | 'role-upgrade'; known?: DeviceRecord }
  | { kind: 'ok'; method: 'token' | 'device-token'; device: DeviceRecord; token: string; issuedAt: number; minted: boolean; rotated: boolean };

const ADMIN = 'operator.admin';

function sameScopes(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s) => b.includes(s));
}

/**
 * Legacy (OpenClaw v4) devices: Ed25519 keys instead of certificates. They share the
 * approval queue with CSRs. Every connect needs a credential next to the signature:
 * the shared token, or the device's own token. Once approved, a device has one token
 * per approved role, the same on every connect until it is rotated or revoked, stored
 * as a hash in the device record (so every replica knows it, and it dies with the
 * device), and never carrying more than the device's approved scopes.
 */
export class LegacyDevices {
  constructor(private readonly deps: { registry: DeviceRegistry; pairing: PairingService; tokens: LegacyDeviceTokens; clock: Clock; log: Logger }) {}

  /** Decides on a legacy device whose signature the bridge verified. */
  async authorize(input: LegacyConnect): Promise<LegacyAuthorization> {
    const raw = Buffer.from(input.publicKey, 'base64url');
    if (raw.length !== 32) throw errors.invalid('DEVICE_KEY_INVALID', 'device public key must be a raw 32-byte Ed25519 key (base64url)');
    if (createHash('sha256').update(raw).digest('hex') !== input.deviceId) {
      throw errors.invalid('DEVICE_ID_MISMATCH', 'device identity mismatch: id is not the SHA-256 of the public key');
    }
    const role = input.role === 'node' ? 'node' : 'operator';
    const asked = parseScopes(input.scopes);
    if (!input.sharedSecretOk && !input.deviceToken) {
      audit(this.deps.log, 'legacy.connect', { deviceId: input.deviceId, role, reason: 'credential-missing', allowed: false });
      return { approved: false, role, scopes: asked, authFailure: 'credential-missing' };
    }
    // Decided in one transaction on the committed record: a token minted or revoked
    // through another replica a moment ago counts, and two connects at once share a token.
    const decision = await this.deps.registry.updateLegacy<Decision>(input.deviceId, (d) => this.decide(input, role, asked, d));

    if (decision.kind === 'refused') {
      audit(this.deps.log, 'legacy.device-token', { deviceId: input.deviceId, role, reason: decision.failure, allowed: false });
      return { approved: false, role, scopes: asked, authFailure: decision.failure };
    }
    if (decision.kind === 'pairing') return this.requirePairing(input, role, asked, decision.reason, decision.known);

    const d = decision.device;
    if (decision.method === 'device-token') audit(this.deps.log, 'legacy.device-token', { deviceId: d.id, role, allowed: true });
    if (decision.minted) audit(this.deps.log, 'legacy.token.issue', { deviceId: d.id, role, scopes: d.scopes, rotated: decision.rotated, allowed: true });
    const scopes = asked.length > 0 ? intersectScopes(asked, d.scopes) : [...d.scopes];
    return { approved: true, role, scopes, deviceToken: decision.token, issuedAt: decision.issuedAt, method: decision.method };
  }

  private decide(input: LegacyConnect, role: string, asked: string[], d: DeviceRecord | undefined): { result: Decision; record?: DeviceRecord } {
    const known = d !== undefined && d.status === 'active' && d.source === 'legacy' && d.legacy?.publicKey === input.publicKey ? d : undefined;
    let method: 'token' | 'device-token' = 'token';
    if (!input.sharedSecretOk) {
      const failure = this.tokenFailure(known, role, input.deviceToken ?? '', asked);
      if (failure) return { result: { kind: 'refused', failure } };
      method = 'device-token';
    }
    if (!known) return { result: { kind: 'pairing', reason: 'not-paired' } };
    if (!roleUsable(known, role)) return { result: { kind: 'pairing', reason: 'role-upgrade', known } };
    if (!asked.every((s) => scopeSatisfied(known.scopes, s))) return { result: { kind: 'pairing', reason: 'scope-upgrade', known } };

    const now = this.deps.clock.now();
    const legacy = { ...known.legacy! };
    const tokens = { ...(legacy.tokens ?? {}) };
    const current = tokens[role];
    let token = current && sameScopes(current.scopes, known.scopes) ? this.deps.tokens.reissue(known.id, role, current) : undefined;
    // A token this gateway's key does not derive (one imported from an OpenClaw install)
    // stays the device's token while it is presented and verifies, as the legacy gateway keeps it.
    if (token === undefined && method === 'device-token' && current && sameScopes(current.scopes, known.scopes) && matchesHash(current.hash, input.deviceToken ?? '')) token = input.deviceToken;
    let entry: LegacyTokenRecord;
    const minted = token === undefined;
    if (token === undefined || !current) {
      const fresh = this.deps.tokens.mint(known.id, role, known.scopes, now, current);
      entry = fresh.record;
      token = fresh.token;
    } else entry = { ...current };
    if (method === 'device-token') entry.lastUsedAt = now;
    tokens[role] = entry;
    legacy.tokens = tokens;
    delete legacy.deviceTokenHash;
    delete legacy.tokenIssuedAt;
    const c = input.client;
    Object.assign(legacy, {
      ...(c.platform ? { platform: c.platform } : {}),
      ...(c.deviceFamily ? { deviceFamily: c.deviceFamily } : {}),
      ...(c.clientId ? { clientId: c.clientId } : {}),
      ...(c.clientMode ? { clientMode: c.clientMode } : {}),
      ...(c.remoteIp ? { remoteIp: c.remoteIp } : {}),
      lastSeenAt: now,
      lastSeenReason: method === 'device-token' ? 'device-token-auth' : 'connect',
    });
    const record: DeviceRecord = { ...known, legacy };
    return { result: { kind: 'ok', method, device: record, token, issuedAt: issuedAt(entry), minted, rotated: minted && current !== undefined }, record };
  }

  /** Why a device token does not authenticate this device for `role` and the asked scopes (undefined: it does). */
  private tokenFailure(d: DeviceRecord | undefined, role: string, presented: string, asked: readonly string[]): LegacyAuthFailure | undefined {
    if (!d || d.role !== role) return 'device-token-mismatch';
    const entry = d.legacy?.tokens?.[role];
    if (entry) {
      if (entry.revokedAt !== undefined || !matchesHash(entry.hash, presented)) return 'device-token-mismatch';
      const usable = intersectScopes(entry.scopes, d.scopes);
      return asked.every((s) => scopeSatisfied(usable, s)) ? undefined : 'scope-mismatch';
    }
    // A token of an earlier release (replaced by a stable one on this connect).
    if (!matchesHash(d.legacy?.deviceTokenHash, presented)) return 'device-token-mismatch';
    return asked.every((s) => scopeSatisfied(d.scopes, s)) ? undefined : 'scope-mismatch';
  }

  private async requirePairing(input: LegacyConnect, role: string, asked: string[], reason: 'not-paired' | 'scope-upgrade' | 'role-upgrade', known: DeviceRecord | undefined): Promise<LegacyAuthorization> {
    const scopes = known && reason === 'scope-upgrade' ? [...new Set([...known.scopes, ...asked])] : asked;
    const req = await this.deps.pairing.submitLegacy({
      deviceId: input.deviceId,
      publicKey: input.publicKey,
      label: input.displayName || `legacy ${input.deviceId.slice(0, 8)}`,
      role,
      scopes,
      clientInfo: input.clientInfo,
      reason,
      client: input.client,
    });
    audit(this.deps.log, 'legacy.pairing-required', { deviceId: input.deviceId, requestId: req.requestId, reason, allowed: false });
    return {
      approved: false,
      requestId: req.requestId,
      reason,
      role,
      scopes: asked,
      ...(known ? { approvedRoles: [known.role], approvedScopes: [...known.scopes] } : {}),
    };
  }

  /**
   * Replaces a device's token for a role (legacy `device.token.rotate`). The new token
   * is returned only to the device itself on a connection made with its device token.
   * Refused (FAILED_PRECONDITION `DEVICE_TOKEN_ROTATION_DENIED`, as the legacy gateway's
   * "device token rotation denied") for another device's token when the caller is a
   * device without operator.admin, a non-operator role without admin, an unknown device
   * or role, scopes beyond the device's approval, or scopes the caller does not hold.
   */
  async rotateToken(input: { deviceId: string; role: string; scopes: readonly string[]; deliver: boolean; caller: TokenManager }): Promise<{ deviceId: string; role: string; scopes: string[]; rotatedAt: number; token?: string }> {
    const role = input.role.trim() || 'operator';
    const denied = this.manageDenial(input.deviceId, role, input.caller);
    if (denied) throw this.refuseManage('rotate', input.deviceId, role, denied, input.caller);
    const wanted = input.scopes.length > 0 ? parseScopes(input.scopes) : undefined;
    const out = await this.deps.registry.updateLegacy<{ denied: ManageDenial } | { entry: LegacyTokenRecord; token: string }>(input.deviceId, (d) => {
      if (!d || d.status !== 'active' || d.source !== 'legacy' || d.role !== role) return { result: { denied: 'unknown-device-or-role' } };
      const current = d.legacy?.tokens?.[role];
      const scopes = wanted ?? (current && current.revokedAt === undefined ? intersectScopes(current.scopes, d.scopes) : d.scopes);
      if (!scopes.every((s) => scopeSatisfied(d.scopes, s))) return { result: { denied: 'scope-outside-approved-baseline' } };
      if (role === 'operator' && !scopes.every((s) => scopeSatisfied(input.caller.scopes, s))) return { result: { denied: 'caller-missing-scope' } };
      const now = this.deps.clock.now();
      const fresh = this.deps.tokens.mint(d.id, role, scopes, now, current);
      // A rotation ends the device's open connections, also when it had no token yet.
      fresh.record.rotatedAt = now;
      const legacy = { ...d.legacy!, tokens: { ...(d.legacy?.tokens ?? {}), [role]: fresh.record } };
      delete legacy.deviceTokenHash;
      return { result: { entry: fresh.record, token: fresh.token }, record: { ...d, legacy } };
    });
    if ('denied' in out) throw this.refuseManage('rotate', input.deviceId, role, out.denied, input.caller);
    const delivered = input.deliver && input.caller.viaOwnDeviceToken && input.caller.deviceId === input.deviceId;
    audit(this.deps.log, 'legacy.token.rotate', { deviceId: input.deviceId, role, scopes: out.entry.scopes, actor: input.caller.actor, delivered, allowed: true });
    return { deviceId: input.deviceId, role, scopes: out.entry.scopes, rotatedAt: out.entry.rotatedAt!, ...(delivered ? { token: out.token } : {}) };
  }

  /**
   * Revokes a device's token for a role (legacy `device.token.revoke`). The device stays
   * paired, but cannot connect in that role until an operator approves it again (its
   * next connect asks: `role-upgrade`). Refused like `rotateToken` ("device token
   * revocation denied").
   */
  async revokeToken(input: { deviceId: string; role: string; caller: TokenManager }): Promise<{ deviceId: string; role: string; revokedAt: number }> {
    const role = input.role.trim() || 'operator';
    const denied = this.manageDenial(input.deviceId, role, input.caller);
    if (denied) throw this.refuseManage('revoke', input.deviceId, role, denied, input.caller);
    const out = await this.deps.registry.updateLegacy<{ denied: ManageDenial } | { revokedAt: number }>(input.deviceId, (d) => {
      if (!d || d.status !== 'active' || d.source !== 'legacy' || d.role !== role) return { result: { denied: 'unknown-device-or-role' } };
      const now = this.deps.clock.now();
      const current = d.legacy?.tokens?.[role];
      const scopes = current ? current.scopes : d.scopes;
      if (role === 'operator' && !scopes.every((s) => scopeSatisfied(input.caller.scopes, s))) return { result: { denied: 'caller-missing-scope' } };
      // Without a token yet (approved, never connected), the role is marked revoked all the same.
      const entry: LegacyTokenRecord = current ? { ...current, revokedAt: now } : { id: '', hash: '', scopes: [...scopes], createdAt: now, revokedAt: now };
      const legacy = { ...d.legacy!, tokens: { ...(d.legacy?.tokens ?? {}), [role]: entry } };
      delete legacy.deviceTokenHash;
      return { result: { revokedAt: now }, record: { ...d, legacy } };
    });
    if ('denied' in out) throw this.refuseManage('revoke', input.deviceId, role, out.denied, input.caller);
    audit(this.deps.log, 'legacy.token.revoke', { deviceId: input.deviceId, role, actor: input.caller.actor, allowed: true });
    return { deviceId: input.deviceId, role, revokedAt: out.revokedAt };
  }

  /** The legacy gateway's checks on who manages whose token, before looking at the device. */
  private manageDenial(deviceId: string, role: string, caller: TokenManager): ManageDenial | undefined {
    const admin = scopeSatisfied(caller.scopes, ADMIN);
    if (caller.viaOwnDeviceToken && caller.deviceId !== deviceId && !admin) return 'device-ownership-mismatch';
    if (role !== 'operator' && !admin) return 'role-management-requires-admin';
    return undefined;
  }

  private refuseManage(action: 'rotate' | 'revoke', deviceId: string, role: string, reason: ManageDenial, caller: TokenManager) {
    audit(this.deps.log, `legacy.token.${action}`, { deviceId, role, actor: caller.actor, reason, allowed: false });
    const message = action === 'rotate' ? 'device token rotation denied' : 'device token revocation denied';
    return errors.precondition(action === 'rotate' ? 'DEVICE_TOKEN_ROTATION_DENIED' : 'DEVICE_TOKEN_REVOCATION_DENIED', `${message} (${reason})`, { deviceId, role, denial: reason });
  }

  /**
   * Checks a device token for one device (deprecated VerifyDeviceToken): never without
   * the device id, and never a token of a revoked device or role.
   */
  verifyToken(deviceToken: string, deviceId: string): { valid: boolean; deviceId?: string; role?: string; scopes?: string[] } {
    if (!deviceToken || !deviceId) return { valid: false };
    const d = this.deps.registry.get(deviceId);
    if (!d || d.status !== 'active' || d.source !== 'legacy' || this.tokenFailure(d, d.role, deviceToken, []) !== undefined) return { valid: false };
    return { valid: true, deviceId: d.id, role: d.role, scopes: [...d.scopes] };
  }
}
