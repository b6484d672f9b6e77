import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { errors } from '../../errors';
import { audit, type Logger } from '../../logging';
import type { Clock } from '../../clock';
import type { EventPublisher } from '../events/event-publisher';
import {
  DEFAULT_SCOPES,
  parseRole,
  parseScopes,
  scopeSatisfied,
  verificationCode,
  verifyCsr,
  type DeviceRegistry,
} from '../../identity';
import type { DeviceRecord } from '../../store/device-store';
import type { BootstrapTokens } from './bootstrap-tokens';
import type { RateLimiter } from './rate-limiter';

/** Where a pairing request stands. */
export type PairingState = 'pending' | 'approved' | 'rejected' | 'expired';

/** A request waiting for an operator. CSR requests and legacy WS devices share this queue. */
export interface PendingRequest {
  requestId: string;
  deviceId: string;
  label: string;
  role: string;
  scopes: string[];
  verificationCode: string;
  createdAt: number;
  expiresAt: number;
  kind: 'csr' | 'legacy' | 'upgrade';
  clientInfo: string;
  publicKeyPem?: string;
  legacyPublicKey?: string;
  /** SHA-256 of the secrets of whoever submitted this request (newest last); results are shown to them alone. */
  secretHashes?: string[];
}

/** What a waiting device learns when its request is resolved. */
export interface PairingOutcome {
  state: PairingState;
  deviceId: string;
  certPem?: string;
  caPem?: string;
  scopes?: string[];
  reason?: string;
}

/** Limits of the pairing queue. */
export interface PairingLimits {
  pendingTtlMs: number;
  maxPending: number;
}

/** How many submitters of the same request keep a secret for it. */
const MAX_REQUESTERS = 4;

/** How long a resolved outcome stays available to a late watcher. */
const RESOLVED_KEEP_MS = 10 * 60_000;

/**
 * Pairing = signing a CSR that an operator approves. Keeps the pending queue (bounded,
 * with a TTL), applies rate limits and bootstrap tokens, and tells watchers and event
 * subscribers how each request was resolved.
 */
export class PairingService {
  private readonly pending = new Map<string, PendingRequest>();
  private readonly resolved = new Map<string, { outcome: PairingOutcome; at: number; secretHashes?: string[] }>();
  private readonly watchers = new Map<string, Set<(o: PairingOutcome) => void>>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly deps: {
      registry: DeviceRegistry;
      tokens: BootstrapTokens;
      clock: Clock;
      events: EventPublisher;
      log: Logger;
      limits: () => PairingLimits;
      rateLimiter: RateLimiter;
    },
  ) {}

  /** Starts the expiry sweep (every second). */
  start(): void {
    this.timer = setInterval(() => this.sweep(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Pending requests, oldest first. */
  list(): PendingRequest[] {
    this.sweep();
    return [...this.pending.values()].sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * Takes a CSR from a device without a certificate. Verifies proof of possession, key
   * policy, role and scopes, rate limits and the queue bound; with a valid bootstrap
   * token the device is approved at once.
   */
  async submitCsr(input: { csrPem: string; label: string; role: string; scopes: readonly string[]; bootstrapToken?: string; peer: string }): Promise<{
    request: PendingRequest;
    state: PairingState;
    certPem?: string;
    caPem?: string;
    /** The requester's secret for `watch` (pending requests only). */
    secret?: string;
  }> {
    if (!this.deps.rateLimiter.take(input.peer)) {
      audit(this.deps.log, 'pairing.denied', { reason: 'rate limited', peer: input.peer, allowed: false });
      throw errors.exhausted('RATE_LIMITED', 'too many pairing requests; wait a minute and try again');
    }
    const csr = verifyCsr(input.csrPem);
    // With a bootstrap token and nothing asked for, the device asks for what the token allows.
    const tokenInfo = input.bootstrapToken && (!input.role || input.scopes.length === 0) ? this.deps.tokens.inspect(input.bootstrapToken) : undefined;
    const role = parseRole(input.role || tokenInfo?.role || 'operator');
    const scopes = input.scopes.length > 0 ? parseScopes(input.scopes) : tokenInfo ? tokenInfo.scopes : DEFAULT_SCOPES[role];
    const label = cleanLabel(input.label || csr.commonName) || 'device';
    const existing = this.deps.registry.get(csr.deviceId);
    const kind: PendingRequest['kind'] = existing && existing.status === 'active' ? 'upgrade' : 'csr';

    // No anonymous shortcut for a key that is already known: CSRs are not secret and can
    // be replayed, and signing one would supersede the device's current certificate (or
    // bring back a revoked one). A paired device renews over mTLS; a new request for its
    // key waits for an operator, and a bootstrap token is not spent on it.
    if (input.bootstrapToken && existing) {
      audit(this.deps.log, 'pairing.denied', { deviceId: existing.id, reason: 'DEVICE_ALREADY_PAIRED', status: existing.status, peer: input.peer, allowed: false });
      throw errors.precondition(
        'DEVICE_ALREADY_PAIRED',
        existing.status === 'active'
          ? `this key already belongs to paired device ${existing.id}; a paired device renews its certificate over mTLS ("openclaw-cli renew"), and a new device needs a new key`
          : `this key belongs to device ${existing.id}, which was revoked; pair with a new key`,
        { deviceId: existing.id },
      );
    }

    if (input.bootstrapToken) {
      // Check first, issue, then consume: a failed attempt leaves the token usable.
      const token = this.deps.tokens.check(input.bootstrapToken, role, scopes);
      await this.deps.tokens.consume(input.bootstrapToken);
      let issued: { certPem: string; device: DeviceRecord };
      try {
        issued = await this.deps.registry.registerApproved({ publicKeyPem: csr.publicKeyPem, role, label, scopes, source: 'bootstrap', approvedBy: `token:${token.tokenId}` });
      } catch (err) {
        await this.deps.tokens.giveBack(input.bootstrapToken);
        throw err;
      }
      const { certPem, device } = issued;
      audit(this.deps.log, 'pairing.approve', { deviceId: device.id, by: `bootstrap-token:${token.tokenId}`, scopes, allowed: true });
      return { request: this.describe(device, csr.publicKeyPem, kind, input.peer), state: 'approved', certPem, caPem: this.deps.registry.ca.certPem };
    }

    // A fresh secret per submission: whoever watches the request must have sent it.
    const secret = randomBytes(24).toString('base64url');
    const request = this.enqueue({
      deviceId: csr.deviceId,
      label,
      role,
      scopes,
      kind,
      clientInfo: input.peer,
      publicKeyPem: csr.publicKeyPem,
      secretHashes: [secretHash(secret)],
    });
    return { request, state: 'pending', secret };
  }

  /**
   * Puts a legacy (WS bridge) device in the same approval queue; one request per
   * device at a time (a reconnect gets the same request id back).
   */
  submitLegacy(input: { deviceId: string; publicKey: string; label: string; role: string; scopes: readonly string[]; clientInfo: string; reason: string }): PendingRequest {
    for (const p of this.pending.values()) {
      if (p.deviceId === input.deviceId && p.kind !== 'csr') return p;
    }
    return this.enqueue({
      deviceId: input.deviceId,
      label: cleanLabel(input.label) || 'device',
      role: input.role,
      scopes: parseScopes(input.scopes),
      kind: 'legacy',
      clientInfo: input.clientInfo,
      legacyPublicKey: input.publicKey,
    });
  }

  private enqueue(req: Omit<PendingRequest, 'requestId' | 'createdAt' | 'expiresAt' | 'verificationCode'>): PendingRequest {
    this.sweep();
    const now = this.deps.clock.now();
    const limits = this.deps.limits();
    for (const p of this.pending.values()) {
      if (p.deviceId === req.deviceId && p.role === req.role && p.kind === req.kind && p.publicKeyPem === req.publicKeyPem) {
        // Same device asking again: refresh its request instead of queueing a second one.
        // Each submitter keeps its own secret (a few at most; the first is always kept): the
        // device that resubmits after a restart and the first submission both see the
        // result, and a replayed CSR cannot take it away from the device (it gains nothing
        // either: a certificate is useless without the key). What was asked for (label,
        // scopes) stays as first submitted, so a replay cannot widen what an operator sees.
        if (req.secretHashes) {
          const all = [...(p.secretHashes ?? []), ...req.secretHashes];
          p.secretHashes = all.length <= MAX_REQUESTERS ? all : [all[0], ...all.slice(-(MAX_REQUESTERS - 1))];
        }
        p.expiresAt = now + limits.pendingTtlMs;
        return p;
      }
    }
    if (this.pending.size >= limits.maxPending) {
      audit(this.deps.log, 'pairing.denied', { deviceId: req.deviceId, reason: 'queue full', allowed: false });
      throw errors.exhausted('PAIRING_QUEUE_FULL', `the pairing queue is full (${limits.maxPending} pending); ask an operator to approve or reject requests`);
    }
    const request: PendingRequest = {
      ...req,
      requestId: randomBytes(12).toString('base64url'),
      createdAt: now,
      expiresAt: now + limits.pendingTtlMs,
      verificationCode: verificationCode(req.deviceId),
    };
    this.pending.set(request.requestId, request);
    audit(this.deps.log, 'pairing.request', { deviceId: request.deviceId, requestId: request.requestId, role: request.role, scopes: request.scopes, kind: request.kind, peer: request.clientInfo });
    this.deps.events.publish('device.pair.requested', {
      requestId: request.requestId,
      deviceId: request.deviceId,
      displayName: request.label,
      role: request.role,
      scopes: request.scopes,
      verificationCode: request.verificationCode,
      kind: request.kind,
      ts: now,
    });
    return request;
  }

  /** Approves a request, optionally narrowing its scopes; signs the CSR or registers the legacy device. */
  async approve(requestId: string, opts: { scopes?: readonly string[]; actor: string }): Promise<DeviceRecord> {
    if (opts.scopes && opts.scopes.length > 0) parseScopes(opts.scopes); // validate first: an unknown scope must not drop the request
    const req = this.take(requestId);
    let scopes = req.scopes;
    if (opts.scopes && opts.scopes.length > 0) {
      const narrowed = parseScopes(opts.scopes);
      const wider = narrowed.filter((s) => !scopeSatisfied(req.scopes, s));
      if (wider.length > 0) {
        this.pending.set(req.requestId, req);
        throw errors.invalid('SCOPES_NOT_REQUESTED', `cannot grant scopes the device did not request: ${wider.join(', ')}`);
      }
      scopes = narrowed;
    }
    let device: DeviceRecord;
    let outcome: PairingOutcome;
    try {
      if (req.kind === 'legacy' || (req.kind === 'upgrade' && req.legacyPublicKey)) {
        device = await this.deps.registry.registerLegacy({ deviceId: req.deviceId, publicKey: req.legacyPublicKey!, role: req.role, label: req.label, scopes, approvedBy: opts.actor });
        outcome = { state: 'approved', deviceId: device.id, scopes };
      } else {
        const r = await this.deps.registry.registerApproved({ publicKeyPem: req.publicKeyPem!, role: req.role, label: req.label, scopes, source: 'paired', approvedBy: opts.actor });
        device = r.device;
        outcome = { state: 'approved', deviceId: device.id, certPem: r.certPem, caPem: this.deps.registry.ca.certPem, scopes };
      }
    } catch (err) {
      this.pending.set(req.requestId, req);
      throw err;
    }
    audit(this.deps.log, 'pairing.approve', { deviceId: device.id, requestId, actor: opts.actor, scopes, allowed: true });
    this.resolve(req, outcome);
    return device;
  }

  /** Rejects a request; the waiting device is told so. */
  reject(requestId: string, opts: { reason?: string; actor: string }): void {
    const req = this.take(requestId);
    audit(this.deps.log, 'pairing.reject', { deviceId: req.deviceId, requestId, actor: opts.actor, reason: opts.reason, allowed: false });
    this.resolve(req, { state: 'rejected', deviceId: req.deviceId, reason: opts.reason || 'rejected by operator' });
  }

  /**
   * Follows a request for its requester: the listener gets `pending` now (if still
   * pending) and the final outcome later. Returns a function that stops watching.
   * NOT_FOUND for unknown ids and for a wrong secret alike (nothing tells an outsider
   * that the request exists, and its certificate is never shown to anyone else).
   */
  watch(requestId: string, secret: string, listener: (o: PairingOutcome) => void): () => void {
    this.sweep();
    const notFound = (known: boolean) => {
      // A known request id with a wrong secret: someone who is not its requester tried to read it.
      if (known) audit(this.deps.log, 'pairing.watch.denied', { requestId, reason: 'PAIRING_SECRET_MISMATCH', allowed: false });
      return errors.notFound('PAIRING_REQUEST_NOT_FOUND', `no pairing request ${requestId} for this requester (it may have expired)`);
    };
    const done = this.resolved.get(requestId);
    if (done) {
      if (!secretMatches(done.secretHashes, secret)) throw notFound(true);
      listener(done.outcome);
      return () => undefined;
    }
    const req = this.pending.get(requestId);
    if (!req || !secretMatches(req.secretHashes, secret)) throw notFound(Boolean(req));
    listener({ state: 'pending', deviceId: req.deviceId });
    let set = this.watchers.get(requestId);
    if (!set) this.watchers.set(requestId, (set = new Set()));
    set.add(listener);
    return () => set!.delete(listener);
  }

  /** Expires requests past their TTL and forgets old outcomes. */
  sweep(): void {
    const now = this.deps.clock.now();
    for (const req of [...this.pending.values()]) {
      if (req.expiresAt <= now) {
        this.pending.delete(req.requestId);
        audit(this.deps.log, 'pairing.expire', { deviceId: req.deviceId, requestId: req.requestId, allowed: false });
        this.resolve(req, { state: 'expired', deviceId: req.deviceId, reason: 'request expired before an operator approved it' });
      }
    }
    for (const [id, r] of this.resolved) if (now - r.at > RESOLVED_KEEP_MS) this.resolved.delete(id);
  }

  private take(requestId: string): PendingRequest {
    this.sweep();
    const req = this.pending.get(requestId);
    if (!req) throw errors.notFound('PAIRING_REQUEST_NOT_FOUND', `no pending pairing request ${requestId} (it may have expired or been resolved)`);
    this.pending.delete(requestId);
    return req;
  }

  private resolve(req: PendingRequest, outcome: PairingOutcome): void {
    const now = this.deps.clock.now();
    this.resolved.set(req.requestId, { outcome, at: now, secretHashes: req.secretHashes });
    for (const fn of this.watchers.get(req.requestId) ?? []) fn(outcome);
    this.watchers.delete(req.requestId);
    this.deps.events.publish('device.pair.resolved', { requestId: req.requestId, deviceId: req.deviceId, decision: outcome.state, ts: now });
  }

  private describe(device: DeviceRecord, publicKeyPem: string, kind: PendingRequest['kind'], peer: string): PendingRequest {
    const now = this.deps.clock.now();
    return {
      requestId: '',
      deviceId: device.id,
      label: device.label,
      role: device.role,
      scopes: device.scopes,
      verificationCode: verificationCode(device.id),
      createdAt: now,
      expiresAt: now,
      kind,
      clientInfo: peer,
      publicKeyPem,
    };
  }
}

function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time check of a requester's secret; a request made without one matches nothing. */
function secretMatches(expectedHashes: readonly string[] | undefined, secret: string): boolean {
  if (!expectedHashes || !secret) return false;
  const given = Buffer.from(secretHash(secret), 'hex');
  let ok = false;
  for (const h of expectedHashes) ok = timingSafeEqual(Buffer.from(h, 'hex'), given) || ok;
  return ok;
}

/** Characters a label may not carry: control characters could rewrite an operator's terminal. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]/g;

/** A device label as shown to operators: no control or direction characters, at most 64 characters. */
function cleanLabel(label: string): string {
  return Array.from(label.replace(UNPRINTABLE, '')).slice(0, 64).join('').trim();
}
