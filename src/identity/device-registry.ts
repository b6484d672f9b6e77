import { createHash, X509Certificate } from 'node:crypto';
import { ErrorCode, errors, GatewayError } from '../errors';
import { audit, type Logger } from '../logging';
import type { Clock } from '../clock';
import type { DeviceRecord, DeviceSource, LegacyDeviceData } from '../store/device-store';
import { mutateAll, type Collection } from '../store/collection';
import type { CertificateAuthority } from './certificate-authority';
import { DEFAULT_KEY_TYPE, generateKeyPair, keyTypeOf, type KeyPairPem, type KeyType } from './keys';
import { writeCertsDir } from './certs-dir';
import { verifyCsr } from './csr';
import { deviceIdFromPublicKeyPem, normalizeSerial } from './device-id';
import { parseSpiffeId, uriSansOf } from './spiffe';
import { DEFAULT_SCOPES, parseRole, parseScopes, type Role } from './roles';

const DAY_MS = 24 * 60 * 60 * 1000;
/** How long after a renewal the certificate it replaced may still ask for a renewal (a lost answer). */
export const RENEW_RETRY_GRACE_MS = 10 * 60_000;

/** Lifetime policy for client certificates. */
export interface CertPolicy {
  /** Lifetime of a client certificate. */
  clientLifetimeMs: number;
  /** How long after expiry a device may still renew with the same key. */
  renewAfterExpiryMs: number;
}

/** Defaults: 14-day client certs, 7 days to renew after expiry. */
export const DEFAULT_CERT_POLICY: CertPolicy = { clientLifetimeMs: 14 * DAY_MS, renewAfterExpiryMs: 7 * DAY_MS };

/** What the TLS layer tells us about a verified peer certificate. */
export interface PeerCertificate {
  /** DER of the leaf. */
  raw: Buffer;
}

/** The identity of a peer as read from its certificate (not yet checked against the registry). */
export interface CertIdentity {
  deviceId: string;
  role: Role;
  trustDomain: string;
  serial: string;
  notBefore: number;
  notAfter: number;
}

/** A new identity: private key, certificate and the device it registered. */
export interface IssuedIdentity {
  keyPem: string;
  certPem: string;
  caPem: string;
  device: DeviceRecord;
}

/** An identity issued for a CSR: the private key never left the device, so there is none here. */
export type CsrIssuedIdentity = Omit<IssuedIdentity, 'keyPem'>;

/** Reads the SPIFFE identity out of a certificate; UNAUTHENTICATED when it has none of ours. */
export function certIdentity(raw: Buffer | string): CertIdentity {
  let x: X509Certificate;
  try {
    x = new X509Certificate(raw);
  } catch {
    throw errors.unauthenticated('CERT_MALFORMED', 'client certificate could not be parsed');
  }
  const uris = uriSansOf(x.subjectAltName);
  if (uris.length !== 1) throw errors.unauthenticated('CERT_NO_IDENTITY', 'client certificate must carry exactly one spiffe:// URI SAN');
  const id = parseSpiffeId(uris[0]);
  if (!id) throw errors.unauthenticated('CERT_NO_IDENTITY', `client certificate URI SAN ${uris[0]} is not an OpenClaw device identity`);
  const spkiId = deviceIdFromPublicKeyPem(x.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  if (spkiId !== id.deviceId) throw errors.unauthenticated('CERT_IDENTITY_MISMATCH', 'client certificate device id does not match its public key');
  return {
    ...id,
    serial: normalizeSerial(x.serialNumber),
    notBefore: Date.parse(x.validFrom),
    notAfter: Date.parse(x.validTo),
  };
}

/** Role, scopes (the role's defaults when none are given) and label of a provisioning request, checked. */
function provisioningRequest(input: { role: string; label: string; scopes?: readonly string[] }): { role: Role; label: string; scopes: string[] } {
  const role = parseRole(input.role);
  const scopes = input.scopes && input.scopes.length > 0 ? parseScopes(input.scopes) : DEFAULT_SCOPES[role];
  const label = input.label.trim();
  if (!label) throw errors.invalid('LABEL_REQUIRED', 'a device name is required');
  return { role, label, scopes };
}

/**
 * The device registry: issues and registers certificates, rotates, renews and revokes
 * them, and decides whether a certificate belongs to an active device. Every decision
 * is an audit line.
 */
export class DeviceRegistry {
  private readonly revokeListeners: ((deviceId: string) => void)[] = [];

  constructor(
    /** `policy` as a function is read at each use (a runtime setting that changes without a restart). */
    private readonly deps: { store: Collection<DeviceRecord>; ca: CertificateAuthority; clock: Clock; log: Logger; policy?: CertPolicy | (() => CertPolicy) },
  ) {}

  get ca(): CertificateAuthority {
    return this.deps.ca;
  }

  /** The lifetime policy now (what the next certificate issued or renewal checked uses). */
  get policy(): CertPolicy {
    const p = this.deps.policy;
    return (typeof p === 'function' ? p() : p) ?? DEFAULT_CERT_POLICY;
  }

  /** Calls `fn` with the device id whenever a device is revoked (used to cut live streams). */
  onRevoke(fn: (deviceId: string) => void): void {
    this.revokeListeners.push(fn);
  }

  get(id: string): DeviceRecord | undefined {
    return this.deps.store.get(id);
  }

  /**
   * Brings this replica's copy of the registry up to the committed state now, for a
   * replica that learned through another collection that a device was registered
   * elsewhere a moment ago (before its own change feed said so).
   */
  async sync(): Promise<void> {
    // A read: catches the copy up without the registry's write lock.
    await this.deps.store.refresh();
  }

  list(opts: { includeRevoked?: boolean } = {}): DeviceRecord[] {
    const all = this.deps.store.list();
    return (opts.includeRevoked ? all : all.filter((d) => d.status === 'active')).sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * Creates a key pair (`keyType`, default P-256, unless `keys` are given) and a
   * certificate for a role and registers the device (`certs-tools issue`, first
   * start). Re-provisioning the same label and role rotates: the earlier device is
   * revoked with reason "rotated".
   */
  async provision(input: { role: string; label: string; scopes?: readonly string[]; lifetimeMs?: number; keys?: KeyPairPem; keyType?: KeyType }): Promise<IssuedIdentity> {
    const request = provisioningRequest(input);
    const keys = input.keys ?? generateKeyPair(input.keyType ?? DEFAULT_KEY_TYPE);
    const { certPem, device } = await this.issueAndRegister({ ...request, publicKeyPem: keys.publicKeyPem, source: 'provisioned', lifetimeMs: input.lifetimeMs, rotateSameLabel: true });
    return { keyPem: keys.privateKeyPem, certPem, caPem: this.deps.ca.certPem, device };
  }

  /**
   * Like provision, for a key that never leaves its device: signs the public key of a
   * CSR (verified with verifyCsr: proof of possession, allowed key types) and
   * registers or rotates the device exactly as provision does.
   */
  async provisionFromCsr(input: { csrPem: string; role: string; label: string; scopes?: readonly string[]; lifetimeMs?: number }): Promise<CsrIssuedIdentity> {
    const request = provisioningRequest(input);
    const csr = verifyCsr(input.csrPem);
    const { certPem, device } = await this.issueAndRegister({ ...request, publicKeyPem: csr.publicKeyPem, source: 'provisioned', lifetimeMs: input.lifetimeMs, rotateSameLabel: true });
    return { certPem, caPem: this.deps.ca.certPem, device };
  }

  /**
   * Signs an approved request's public key and registers (or re-activates) the device.
   * `beforeRegister` runs between the two (the certificate exists, no device has it yet):
   * if it throws, nothing is registered and the certificate is worth nothing.
   */
  async registerApproved(input: {
    publicKeyPem: string;
    role: string;
    label: string;
    scopes: readonly string[];
    source: DeviceSource;
    approvedBy?: string;
    beforeRegister?: (issued: { deviceId: string; serial: string; certPem: string }) => Promise<void>;
  }): Promise<{ certPem: string; device: DeviceRecord }> {
    const role = parseRole(input.role);
    const scopes = parseScopes(input.scopes);
    // A bootstrap token approves a new key only: checked again under the store's lock, so
    // two submissions of one CSR at once cannot both be approved (nor supersede each other).
    return this.issueAndRegister({ publicKeyPem: input.publicKeyPem, role, label: input.label, scopes, source: input.source, approvedBy: input.approvedBy, mustBeNew: input.source === 'bootstrap', beforeRegister: input.beforeRegister });
  }

  /**
   * Revokes a device only if its current certificate is `serial` (one issued by an
   * approval that turned out not to count); true if it did. Audited like any revocation.
   */
  async revokeIssued(deviceId: string, serial: string, reason: string, actor?: string): Promise<boolean> {
    const now = this.deps.clock.now();
    const revoked = await this.deps.store.mutate((tx) => {
      const d = tx.get(deviceId);
      if (!d || d.status !== 'active' || !d.cert || normalizeSerial(d.cert.serial) !== normalizeSerial(serial)) return false;
      d.status = 'revoked';
      d.revokedAt = now;
      d.revokeReason = reason;
      tx.put(d);
      return true;
    });
    if (revoked) {
      audit(this.deps.log, 'device.revoke', { deviceId, serial, reason, actor, allowed: true });
      this.emitRevoked(deviceId);
    }
    return revoked;
  }

  private async issueAndRegister(input: {
    publicKeyPem: string;
    role: Role;
    label: string;
    scopes: string[];
    source: DeviceSource;
    lifetimeMs?: number;
    rotateSameLabel?: boolean;
    approvedBy?: string;
    /** A renewal with a new key: this device, still active with this serial, is revoked in the same transaction. */
    replaces?: { id: string; serial?: string };
    /** Refuse (DEVICE_ALREADY_PAIRED) when the key already belongs to a device. */
    mustBeNew?: boolean;
    /** Runs once the certificate is signed, before the device is registered (see `registerApproved`). */
    beforeRegister?: (issued: { deviceId: string; serial: string; certPem: string }) => Promise<void>;
  }): Promise<{ certPem: string; device: DeviceRecord }> {
    const now = this.deps.clock.now();
    const issued = this.deps.ca.issueClient({ publicKeyPem: input.publicKeyPem, role: input.role, label: input.label, now, lifetimeMs: input.lifetimeMs ?? this.policy.clientLifetimeMs });
    await input.beforeRegister?.({ deviceId: issued.deviceId, serial: issued.serial, certPem: issued.certPem });
    const rotated: string[] = [];
    const device = await mutateAll(this.deps.store, (devices) => {
      if (input.mustBeNew && devices[issued.deviceId]) {
        throw errors.precondition('DEVICE_ALREADY_PAIRED', `this key already belongs to device ${issued.deviceId}; a paired device renews its certificate over mTLS`, { deviceId: issued.deviceId });
      }
      if (input.replaces) {
        // Checked again under the store's lock: a revocation since the caller looked wins.
        const old = devices[input.replaces.id];
        if (!old || old.status !== 'active') throw errors.unauthenticated('DEVICE_REVOKED', `device ${input.replaces.id} was revoked; pair again`, { deviceId: input.replaces.id });
        if (input.replaces.serial && old.cert && normalizeSerial(old.cert.serial) !== normalizeSerial(input.replaces.serial)) {
          throw errors.unavailable('RENEW_CONFLICT', `device ${old.id} was renewed at the same time by another request; try again`, { deviceId: old.id });
        }
        old.status = 'revoked';
        old.revokedAt = now;
        old.revokeReason = 'rekeyed';
        rotated.push(old.id);
      }
      if (input.rotateSameLabel) {
        for (const d of Object.values(devices)) {
          if (d.status === 'active' && d.label === input.label && d.role === input.role && d.id !== issued.deviceId) {
            d.status = 'revoked';
            d.revokedAt = now;
            d.revokeReason = 'rotated';
            rotated.push(d.id);
          }
        }
      }
      const prev = devices[issued.deviceId];
      const record: DeviceRecord = {
        id: issued.deviceId,
        label: input.label,
        role: input.role,
        scopes: input.scopes,
        status: 'active',
        source: input.source,
        cert: { serial: issued.serial, notBefore: issued.notBefore, notAfter: issued.notAfter, issuedAt: now },
        previousSerials: prev ? [...prev.previousSerials, ...(prev.cert ? [prev.cert.serial] : [])] : [],
        createdAt: prev?.createdAt ?? now,
        approvedAt: now,
      };
      devices[record.id] = record;
      return record;
    });
    for (const id of rotated) {
      audit(this.deps.log, 'device.revoke', { deviceId: id, reason: id === input.replaces?.id ? 'rekeyed' : 'rotated', allowed: true });
      this.emitRevoked(id);
    }
    audit(this.deps.log, 'device.issue', { deviceId: device.id, role: device.role, scopes: device.scopes, label: device.label, serial: issued.serial, source: input.source, approvedBy: input.approvedBy, notAfter: new Date(issued.notAfter).toISOString() });
    return { certPem: issued.certPem, device };
  }

  /**
   * `resolve`, but a device this replica does not know yet (registered through another
   * replica a moment ago, before the change feed brought it here) is looked up in the
   * committed state before the answer is NOT_FOUND.
   */
  private resolveCommitted(idOrLabel: string): DeviceRecord | Promise<DeviceRecord> {
    // Synchronous when the device is known here: a revocation queues its transaction at
    // once, ahead of anything started after it (e.g. a renewal racing it).
    try {
      return this.resolve(idOrLabel);
    } catch (err) {
      if (!(err instanceof GatewayError) || err.code !== ErrorCode.NotFound) throw err;
      return this.sync().then(() => this.resolve(idOrLabel));
    }
  }

  /** Finds a device by id, unique id prefix (>= 8 chars) or label; NOT_FOUND or ambiguity errors otherwise. */
  resolve(idOrLabel: string, opts: { includeRevoked?: boolean } = {}): DeviceRecord {
    const all = this.list({ includeRevoked: opts.includeRevoked ?? true });
    const exact = all.find((d) => d.id === idOrLabel);
    if (exact) return exact;
    const candidates = all.filter((d) => (idOrLabel.length >= 8 && d.id.startsWith(idOrLabel)) || d.label === idOrLabel);
    const active = candidates.filter((d) => d.status === 'active');
    const pick = active.length > 0 ? active : candidates;
    if (pick.length === 1) return pick[0];
    if (pick.length === 0) throw errors.notFound('DEVICE_NOT_FOUND', `no device with id or name "${idOrLabel}"`);
    throw errors.invalid('DEVICE_AMBIGUOUS', `"${idOrLabel}" matches ${pick.length} devices; use the device id`);
  }

  /** Revokes a device at once: its certificate is refused on the next call and its streams are cut. */
  async revoke(idOrLabel: string, reason = 'revoked by operator', actor?: string): Promise<DeviceRecord> {
    const found = this.resolveCommitted(idOrLabel);
    const target = found instanceof Promise ? await found : found;
    const now = this.deps.clock.now();
    const device = await this.updateOne(target.id, (d) => {
      if (!d) throw errors.notFound('DEVICE_NOT_FOUND', `no device ${target.id}`);
      if (d.status !== 'revoked') {
        d.status = 'revoked';
        d.revokedAt = now;
        d.revokeReason = reason;
      }
      return d;
    });
    audit(this.deps.log, 'device.revoke', { deviceId: device.id, reason, actor, allowed: true });
    this.emitRevoked(device.id);
    return device;
  }

  /** Changes a device's label. */
  async rename(idOrLabel: string, label: string, actor?: string): Promise<DeviceRecord> {
    const clean = label.trim();
    if (!clean) throw errors.invalid('LABEL_REQUIRED', 'a device name is required');
    const found = this.resolveCommitted(idOrLabel);
    const target = found instanceof Promise ? await found : found;
    const device = await this.updateOne(target.id, (d) => {
      if (!d) throw errors.notFound('DEVICE_NOT_FOUND', `no device ${target.id}`);
      d.label = clean;
      return d;
    });
    audit(this.deps.log, 'device.rename', { deviceId: device.id, label: clean, actor });
    return device;
  }

  /**
   * Decides whether a certificate identity belongs to an active device; returns the
   * record (scopes come from it) or throws UNAUTHENTICATED with a reason and a hint.
   */
  authenticate(id: CertIdentity, opts: { allowExpiredWithinRenewWindow?: boolean; forRenewal?: boolean } = {}): DeviceRecord {
    const now = this.deps.clock.now();
    if (id.trustDomain !== this.deps.ca.trustDomain) {
      throw errors.unauthenticated('CERT_WRONG_TRUST_DOMAIN', `certificate is for trust domain ${id.trustDomain}, not this gateway's; pair again`, { deviceId: id.deviceId });
    }
    const record = this.deps.store.get(id.deviceId);
    if (!record) throw errors.unauthenticated('DEVICE_UNKNOWN', `device ${id.deviceId} is not registered with this gateway; pair again`, { deviceId: id.deviceId });
    if (record.status === 'revoked') {
      throw errors.unauthenticated('DEVICE_REVOKED', `device ${id.deviceId} was revoked (${record.revokeReason ?? 'revoked'}); pair again`, { deviceId: id.deviceId });
    }
    if (!record.cert || (normalizeSerial(record.cert.serial) !== normalizeSerial(id.serial) && !(opts.forRenewal && this.justSuperseded(record, id, now)))) {
      throw errors.unauthenticated('CERT_SUPERSEDED', `certificate serial ${id.serial} of device ${id.deviceId} is no longer current (renewed or rotated); use the newest certificate`, { deviceId: id.deviceId });
    }
    if (record.role !== id.role) throw errors.unauthenticated('CERT_ROLE_MISMATCH', `certificate role ${id.role} does not match the registered role`, { deviceId: id.deviceId });
    if (id.notBefore > now) throw errors.unauthenticated('CERT_NOT_YET_VALID', `certificate of device ${id.deviceId} is not valid yet; check the clock`, { deviceId: id.deviceId });
    if (id.notAfter <= now) {
      const inWindow = opts.allowExpiredWithinRenewWindow && now <= id.notAfter + this.policy.renewAfterExpiryMs;
      if (!inWindow) throw errors.unauthenticated('CERT_EXPIRED', `certificate of device ${id.deviceId} expired at ${new Date(id.notAfter).toISOString()}; renew it or pair again`, { deviceId: id.deviceId });
    }
    return record;
  }

  /**
   * Whether `id` is the certificate a renewal replaced moments ago: its answer may have
   * been lost on the way (a timeout, a dropped connection), and refusing the retry would
   * lock the device out. Only for renewal, which proves possession of the key (mTLS or
   * a signed challenge), only the immediately previous serial, and only for a short time.
   */
  private justSuperseded(record: DeviceRecord, id: CertIdentity, now: number): boolean {
    const previous = record.previousSerials[record.previousSerials.length - 1];
    return previous !== undefined && normalizeSerial(previous) === normalizeSerial(id.serial) && record.cert !== undefined && now - record.cert.issuedAt <= RENEW_RETRY_GRACE_MS;
  }

  /**
   * Renews a device's certificate. Same key: a new certificate for the same device
   * (also shortly after expiry, within the renew window). New key: only while the
   * current certificate is valid; the device gets a new id and the old one is revoked.
   */
  async renew(current: CertIdentity, publicKeyPem: string): Promise<{ certPem: string; device: DeviceRecord }> {
    const record = this.authenticate(current, { allowExpiredWithinRenewWindow: true, forRenewal: true });
    const now = this.deps.clock.now();
    const newId = deviceIdFromPublicKeyPem(publicKeyPem);
    const role = parseRole(record.role);
    if (newId !== record.id) {
      if (current.notAfter <= now) throw errors.unauthenticated('RENEW_EXPIRED_NEW_KEY', 'an expired certificate can only be renewed with the same key; pair again to change keys', { deviceId: record.id });
      const out = await this.issueAndRegister({ publicKeyPem, role, label: record.label, scopes: record.scopes, source: record.source, replaces: { id: record.id, serial: record.cert?.serial } });
      audit(this.deps.log, 'device.renew', { deviceId: out.device.id, previousDeviceId: record.id, rekeyed: true, allowed: true });
      return out;
    }
    const issued = this.deps.ca.issueClient({ publicKeyPem, role, label: record.label, now, lifetimeMs: this.policy.clientLifetimeMs });
    const device = await this.updateOne(record.id, (d) => {
      if (!d || d.status !== 'active') throw errors.unauthenticated('DEVICE_REVOKED', `device ${record.id} was revoked; pair again`, { deviceId: record.id });
      // Another renewal of this device landed since we looked: do not stack a third certificate on it.
      if (d.cert && record.cert && normalizeSerial(d.cert.serial) !== normalizeSerial(record.cert.serial)) {
        throw errors.unavailable('RENEW_CONFLICT', `device ${record.id} was renewed at the same time by another request; try again`, { deviceId: record.id });
      }
      if (d.cert) d.previousSerials.push(d.cert.serial);
      d.cert = { serial: issued.serial, notBefore: issued.notBefore, notAfter: issued.notAfter, issuedAt: now };
      return d;
    });
    audit(this.deps.log, 'device.renew', { deviceId: device.id, serial: issued.serial, afterExpiry: current.notAfter <= now, allowed: true });
    return { certPem: issued.certPem, device };
  }

  /** Updates a device's scopes (an approved upgrade or narrowing). */
  async setScopes(deviceId: string, scopes: readonly string[], actor?: string): Promise<DeviceRecord> {
    const clean = parseScopes(scopes);
    const device = await this.updateOne(deviceId, (d) => {
      if (!d) throw errors.notFound('DEVICE_NOT_FOUND', `no device ${deviceId}`);
      d.scopes = clean;
      return d;
    });
    audit(this.deps.log, 'device.scopes', { deviceId, scopes: clean, actor });
    return device;
  }

  /**
   * Registers or updates a legacy (Ed25519, WS bridge) device after approval. An upgrade
   * of the same active device (same key) keeps its device token for the approved role,
   * which then carries the newly approved scopes; a token revoked for that role is
   * dropped (this approval is what lets the device get a new one). A new key, a revoked
   * device or another role starts without tokens. Tokens are minted at the next connect.
   */
  async registerLegacy(input: {
    deviceId: string;
    publicKey: string;
    role: string;
    label: string;
    scopes: readonly string[];
    approvedBy?: string;
    client?: Pick<LegacyDeviceData, 'platform' | 'deviceFamily' | 'clientId' | 'clientMode' | 'remoteIp'>;
  }): Promise<DeviceRecord> {
    const now = this.deps.clock.now();
    const scopes = parseScopes(input.scopes);
    const device = await this.updateOne(input.deviceId, (prev) => {
      const same = prev?.status === 'active' && prev.source === 'legacy' && prev.legacy?.publicKey === input.publicKey;
      const kept = same && prev.role === input.role ? prev.legacy?.tokens?.[input.role] : undefined;
      const tokens = kept && kept.revokedAt === undefined ? { [input.role]: { ...kept, scopes } } : undefined;
      const legacy: LegacyDeviceData = { ...(same ? prev.legacy : {}), ...(input.client ?? {}), publicKey: input.publicKey, tokens };
      delete legacy.deviceTokenHash;
      delete legacy.tokenIssuedAt;
      const record: DeviceRecord = {
        id: input.deviceId,
        label: input.label,
        role: input.role,
        scopes,
        status: 'active',
        source: 'legacy',
        previousSerials: prev?.previousSerials ?? [],
        createdAt: same ? prev.createdAt : (prev?.createdAt ?? now),
        approvedAt: now,
        legacy,
      };
      return record;
    });
    audit(this.deps.log, 'device.approve.legacy', { deviceId: device.id, role: device.role, scopes, approvedBy: input.approvedBy, allowed: true });
    return device;
  }

  /**
   * Reads and changes one legacy device in one transaction on the committed state: `fn`
   * gets the record (undefined when unknown) and returns the result and, to store it,
   * the changed record.
   */
  async updateLegacy<T>(deviceId: string, fn: (current: DeviceRecord | undefined) => { result: T; record?: DeviceRecord }): Promise<T> {
    return this.deps.store.mutate((tx) => {
      const out = fn(tx.get(deviceId));
      if (out.record) tx.put(out.record);
      return out.result;
    });
  }

  /**
   * One device's record, read and written in one transaction (only that record is
   * touched, whatever the size of the registry). `fn` returns the record to store.
   */
  private updateOne(id: string, fn: (current: DeviceRecord | undefined) => DeviceRecord): Promise<DeviceRecord> {
    return this.deps.store.mutate((tx) => {
      const next = fn(tx.get(id));
      tx.put(next);
      return next;
    });
  }

  private emitRevoked(deviceId: string): void {
    for (const fn of this.revokeListeners) {
      try {
        fn(deviceId);
      } catch (err) {
        this.deps.log.error({ err, deviceId }, 'revoke listener failed');
      }
    }
  }
}

/** SHA-256 of a secret token, hex: what is stored at rest instead of the token. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Writes an identity the registry issued into a certificate folder (key.pem 0600 when
 * the key was made here, cert.pem, ca.pem, identity.json): what `certs-tools issue`
 * and the gateway's first start hand to a CLI or backend.
 */
export function writeIssuedIdentity(dir: string, issued: IssuedIdentity | CsrIssuedIdentity, ca: { trustDomain: string; fingerprint: string }, extra: { gateway?: string; issuedBy: string }): void {
  const d = issued.device;
  writeCertsDir(dir, {
    keyPem: 'keyPem' in issued ? issued.keyPem : undefined,
    certPem: issued.certPem,
    caPem: issued.caPem,
    meta: {
      deviceId: d.id,
      label: d.label,
      role: d.role,
      scopes: d.scopes,
      keyType: keyTypeOf(new X509Certificate(issued.certPem).publicKey),
      serial: d.cert!.serial,
      notBefore: new Date(d.cert!.notBefore).toISOString(),
      notAfter: new Date(d.cert!.notAfter).toISOString(),
      trustDomain: ca.trustDomain,
      caFingerprint: ca.fingerprint,
      gateway: extra.gateway,
      issuedBy: extra.issuedBy,
    },
  });
}
