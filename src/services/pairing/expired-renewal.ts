import { randomBytes, X509Certificate } from 'node:crypto';
import { errors, GatewayError } from '../../errors';
import { audit, type Logger } from '../../logging';
import type { Clock } from '../../clock';
import type { Collection } from '../../store/collection';
import { certIdentity, type CertIdentity, type DeviceRegistry } from '../../identity';
import { renewalProofMessage, verifyProof } from '../../identity/possession-proof';
import type { RenewalChallengeRecord } from './renewal-challenges';

/** How long a renewal challenge may be answered. */
export const CHALLENGE_TTL_MS = 60_000;
/** Most challenges outstanding at once, across replicas (bounds the collection under a flood). */
const MAX_CHALLENGES = 2_000;
/** Most challenges outstanding for one device from one address; a new one evicts the oldest. */
const MAX_PER_REQUESTER = 3;
/** Failed proofs one device may have from one address per window (per replica) before it must wait. */
const MAX_FAILURES = 8;
const FAILURE_WINDOW_MS = 10 * 60_000;
const MAX_FAILURE_ENTRIES = 10_000;
/** Largest certificate accepted on this path (a real one is about 1 KiB). */
const MAX_CERT_BYTES = 16 * 1024;
/** What `begin` hands out: 16 random bytes, base64url. Anything else is unknown without a look in the store. */
const CHALLENGE_ID = /^[A-Za-z0-9_-]{22}$/;

/** A challenge handed to a device whose certificate expired. */
export interface IssuedChallenge {
  challengeId: string;
  nonce: Buffer;
  expiresAt: number;
}

/**
 * Renewal of a certificate that has expired, without a client certificate (an expired
 * one fails TLS verification): only for a certificate of ours that really expired,
 * within the renew window, of an active device whose current serial it is; the device
 * proves it holds the key now by signing a fresh single-use challenge (a replayed CSR
 * proves nothing). The transport limits calls per address; here, challenges are capped
 * and failed proofs counted per device *and* address, so that someone holding only a
 * device's certificate (which is not secret) from elsewhere cannot block its renewal.
 *
 * Challenges live in a collection shared by the replicas: one asked for on one replica
 * can be answered on another, and it is consumed (deleted) inside the transaction that
 * reads it, so it is answered once across all of them; its lifetime and the caps per
 * requester and in total are checked on the committed state too. The failure counters
 * stay in each replica's memory: they throttle signature checks and log noise, they are
 * not what makes a challenge single-use (see README.md in src/store).
 */
export class ExpiredRenewal {
  /** Failed proofs per device and address, in a fixed window (this replica only). */
  private readonly failures = new Map<string, { count: number; until: number }>();

  constructor(private readonly deps: { registry: DeviceRegistry; challenges: Collection<RenewalChallengeRecord>; clock: Clock; log: Logger }) {}

  /** Checks the expired certificate and returns a challenge for its key. */
  async begin(input: { certPem: string; peer: string }): Promise<IssuedChallenge> {
    const id = this.check(input.certPem, input.peer, 'begin');
    this.sweepFailures();
    const requester = `${id.deviceId}@${input.peer}`;
    const now = this.deps.clock.now();
    const record: RenewalChallengeRecord = {
      id: randomBytes(16).toString('base64url'),
      deviceId: id.deviceId,
      serial: id.serial,
      requester,
      nonce: randomBytes(32).toString('base64'),
      createdAt: now,
      expiresAt: now + CHALLENGE_TTL_MS,
    };
    try {
      await this.deps.challenges.mutate((tx) => {
        // Expired challenges go here, on the committed state: whichever replica begins next removes them.
        const live: RenewalChallengeRecord[] = [];
        for (const c of tx.list()) {
          if (c.expiresAt <= now) tx.delete(c.id);
          else live.push(c);
        }
        const mine = live.filter((c) => c.requester === requester).sort((a, b) => a.createdAt - b.createdAt);
        const evicted = mine.slice(0, Math.max(0, mine.length - MAX_PER_REQUESTER + 1));
        for (const c of evicted) tx.delete(c.id);
        if (live.length - evicted.length >= MAX_CHALLENGES) throw errors.exhausted('RENEW_BUSY', 'too many renewals in progress; try again in a minute');
        tx.put(record);
      });
    } catch (err) {
      if (err instanceof GatewayError && err.reason === 'RENEW_BUSY') {
        audit(this.deps.log, 'device.renew.denied', { deviceId: id.deviceId, reason: 'RENEW_BUSY', peer: input.peer, allowed: false });
      }
      throw err;
    }
    audit(this.deps.log, 'device.renew.challenge', { deviceId: id.deviceId, serial: id.serial, peer: input.peer });
    return { challengeId: record.id, nonce: Buffer.from(record.nonce, 'base64'), expiresAt: record.expiresAt };
  }

  /** Verifies the signed challenge and issues a new certificate for the same key. */
  async complete(input: { certPem: string; challengeId: string; signature: Uint8Array; peer: string }): Promise<{ certPem: string }> {
    const id = this.check(input.certPem, input.peer, 'complete');
    this.sweepFailures();
    const requester = `${id.deviceId}@${input.peer}`;
    if (this.failedTooOften(requester)) {
      audit(this.deps.log, 'device.renew.denied', { deviceId: id.deviceId, reason: 'RATE_LIMITED', peer: input.peer, allowed: false });
      throw errors.exhausted('RATE_LIMITED', 'too many failed renewal proofs for this device from this address; wait a minute and try again');
    }
    const deny = (reason: string, message: string): never => {
      this.countFailure(requester);
      audit(this.deps.log, 'device.renew.denied', { deviceId: id.deviceId, reason, peer: input.peer, allowed: false });
      throw errors.unauthenticated(reason, message, { deviceId: id.deviceId });
    };
    if (!input.challengeId) deny('RENEW_PROOF_REQUIRED', 'renewing an expired certificate needs a signed challenge from BeginExpiredRenewal (a CSR is not accepted as proof)');
    const unknown = () => deny('RENEW_CHALLENGE_UNKNOWN', 'the renewal challenge is unknown, used or expired; start again');
    if (!CHALLENGE_ID.test(input.challengeId)) unknown();
    // Single use, on every replica: taken out of the store before anything else is checked, so a failed try burns it.
    const challenge = await this.deps.challenges.mutate((tx) => {
      const c = tx.get(input.challengeId);
      if (c) tx.delete(c.id);
      return c;
    });
    if (!challenge || challenge.expiresAt <= this.deps.clock.now()) unknown();
    if (challenge!.deviceId !== id.deviceId || challenge!.serial !== id.serial || challenge!.requester !== requester) {
      deny('RENEW_CHALLENGE_MISMATCH', 'the renewal challenge was issued for another certificate or requester');
    }
    const message = renewalProofMessage({ deviceId: id.deviceId, serial: id.serial, challengeId: input.challengeId, nonce: Buffer.from(challenge!.nonce, 'base64') });
    const publicKey = new X509Certificate(input.certPem).publicKey;
    if (!verifyProof(publicKey, message, input.signature)) deny('RENEW_PROOF_INVALID', 'the challenge signature does not verify with the certificate\'s key');
    const out = await this.deps.registry.renew(id, publicKey.export({ type: 'spki', format: 'pem' }).toString());
    audit(this.deps.log, 'device.renew.proved', { deviceId: id.deviceId, peer: input.peer, allowed: true });
    return { certPem: out.certPem };
  }

  /** The checks both steps make: ours, really expired, within the window, current and active, not rate-limited. */
  private check(certPem: string, peer: string, step: string): CertIdentity {
    if (!certPem) throw errors.invalid('CERT_MISSING', 'no certificate given');
    if (certPem.length > MAX_CERT_BYTES) throw errors.invalid('CERT_TOO_LARGE', `certificate is larger than ${MAX_CERT_BYTES} bytes`);
    if (!this.deps.registry.ca.issued(certPem)) {
      audit(this.deps.log, 'device.renew.denied', { reason: 'CERT_UNTRUSTED', peer, step, allowed: false });
      throw errors.unauthenticated('CERT_UNTRUSTED', 'certificate was not issued by this gateway');
    }
    const id = certIdentity(certPem);
    const deny = (reason: string, e: Error): never => {
      audit(this.deps.log, 'device.renew.denied', { deviceId: id.deviceId, reason, peer, step, allowed: false });
      throw e;
    };
    const now = this.deps.clock.now();
    if (id.notAfter > now) {
      deny(
        'RENEW_NOT_EXPIRED',
        errors.precondition('RENEW_NOT_EXPIRED', `certificate of device ${id.deviceId} has not expired (valid until ${new Date(id.notAfter).toISOString()}); renew it over mTLS (DeviceService.RenewCertificate)`, { deviceId: id.deviceId }),
      );
    }
    const windowMs = this.deps.registry.policy.renewAfterExpiryMs;
    if (now > id.notAfter + windowMs) {
      deny(
        'RENEW_WINDOW_PASSED',
        errors.unauthenticated(
          'RENEW_WINDOW_PASSED',
          `certificate of device ${id.deviceId} expired at ${new Date(id.notAfter).toISOString()}, more than ${Math.round(windowMs / 86_400_000)} days ago: beyond the renewal window`,
          { deviceId: id.deviceId },
        ),
      );
    }
    try {
      this.deps.registry.authenticate(id, { allowExpiredWithinRenewWindow: true, forRenewal: true });
    } catch (err) {
      deny((err as { reason?: string }).reason ?? 'DENIED', err as Error);
    }
    return id;
  }

  private failedTooOften(requester: string): boolean {
    const f = this.failures.get(requester);
    return f !== undefined && f.until > this.deps.clock.now() && f.count >= MAX_FAILURES;
  }

  private countFailure(requester: string): void {
    const now = this.deps.clock.now();
    const f = this.failures.get(requester);
    if (f && f.until > now) f.count++;
    else this.failures.set(requester, { count: 1, until: now + FAILURE_WINDOW_MS });
  }

  private sweepFailures(): void {
    const now = this.deps.clock.now();
    for (const [k, f] of this.failures) if (f.until <= now) this.failures.delete(k);
    // Bounded even under a flood of distinct requesters: the oldest entries go first.
    for (const k of this.failures.keys()) {
      if (this.failures.size <= MAX_FAILURE_ENTRIES) break;
      this.failures.delete(k);
    }
  }
}
