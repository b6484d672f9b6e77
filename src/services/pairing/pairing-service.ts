import { randomBytes, randomUUID } from 'node:crypto';
import { errors, GatewayError } from '../../errors';
import { audit, type Logger } from '../../logging';
import { monotonicClock, type Clock } from '../../clock';
import type { EventPublisher } from '../events/event-publisher';
import {
  certIdentity,
  DEFAULT_SCOPES,
  normalizeSerial,
  parseRole,
  parseScopes,
  scopeSatisfied,
  verificationCode,
  verifyCsr,
  type DeviceRegistry,
} from '../../identity';
import type { Collection, CollectionChange, CollectionTx } from '../../store/collection';
import type { DeviceRecord } from '../../store/device-store';
import { BeatWatch, watched } from '../liveness/beat-watch';
import { interruptedOutcome } from './approval-claim';
import type { BootstrapTokens } from './bootstrap-tokens';
import type { RateLimiter } from './rate-limiter';
import { claimBeat, isDecided, requestView, secretHash, secretMatches, sweepDue, type ApprovalClaim, type LegacyClientInfo, type PairingOutcome, type PairingRecord, type PairingState, type PendingRequest } from './pairing-requests';
import { PairingWatchers, type PairingListener } from './pairing-watchers';

export type { PairingOutcome, PairingState, PendingRequest } from './pairing-requests';

/** Limits of the pairing queue. */
export interface PairingLimits {
  pendingTtlMs: number;
  maxPending: number;
}

/**
 * Checks that the caller may approve this request, granting these scopes; throws
 * PERMISSION_DENIED otherwise. Run on the committed request (not on a replica's copy),
 * inside the transaction that claims it.
 */
export type ApprovalCheck = (request: PendingRequest, granted: readonly string[]) => void;

/** How many submitters of the same request keep a secret for it. */
const MAX_REQUESTERS = 4;

/**
 * How long an approval's claim may go unrenewed, as another replica sees it on its own
 * clock while it reaches the store, before the approver counts as stopped.
 */
const CLAIM_MS = 30_000;
/** How often an approver renews its claim while it works. */
const CLAIM_RENEW_MS = 10_000;

/**
 * What the queue hands out as request ids: random UUIDs, as the legacy gateway does. They
 * never start with "-", so a request id is never taken for an option on a command line
 * (`devices approve <id>`), and legacy clients accept them in their pairing-required parser.
 * Requests of earlier releases (12 random bytes, base64url) are still recognised.
 * Anything else is unknown without a look in the store.
 */
const REQUEST_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-z0-9_-]{16})$/;

/** A new request id (see REQUEST_ID). */
export function newRequestId(): string {
  return randomUUID();
}

/** Longest rejection reason passed on to the device. */
const MAX_REASON_CHARS = 200;

/**
 * Pairing = signing a CSR that an operator approves. Keeps the pending queue (bounded,
 * with a TTL), applies rate limits and bootstrap tokens, and tells watchers and event
 * subscribers how each request was resolved.
 *
 * Requests live in the `pairing_requests` collection, shared by the replicas: a request
 * submitted on one is listed, approved or rejected on any, and its outcome waits in the
 * record for the requester's watch, on whichever replica that stream is open (each
 * replica follows the collection's changes). Every decision is taken in a transaction on
 * the committed state: the queue bound, "still pending", the approver's rights. Approving
 * first claims the request (one replica, one certificate), then writes what it issues
 * into the claim, registers the device, and records the outcome only while the claim is
 * still its own. Sweeps run on every replica and re-check in their transaction, so a
 * request expires once; they also finish (or undo) approvals whose replica stopped. The
 * rate limiter stays per replica.
 */
export class PairingService {
  private readonly watchers = new PairingWatchers();
  private readonly unsubscribe: () => void;
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  /** Judges other replicas' approval claims by their renewals (see `BeatWatch`). */
  private readonly claims: BeatWatch;

  constructor(
    private readonly deps: {
      registry: DeviceRegistry;
      tokens: BootstrapTokens;
      /** The `pairing_requests` collection (see `openPairingRequests`). */
      requests: Collection<PairingRecord>;
      clock: Clock;
      /** This process's monotonic clock, for how long another replica's claim went unrenewed (default: `monotonicClock`). */
      monotonic?: Clock;
      events: EventPublisher;
      log: Logger;
      limits: () => PairingLimits;
      rateLimiter: RateLimiter;
    },
  ) {
    this.claims = new BeatWatch({ clock: deps.monotonic ?? monotonicClock, leaseMs: CLAIM_MS, beatEveryMs: CLAIM_RENEW_MS });
    this.unsubscribe = deps.requests.subscribe((change) => this.onChange(change));
  }

  /** Starts the expiry sweep (every second). */
  start(): void {
    this.timer = setInterval(() => void this.sweep(), 1000);
    this.timer.unref();
  }

  /** Stops the sweep and stops following the collection (open watches get nothing more). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe();
  }

  /** Pending requests, oldest first (from the local copy). */
  list(): PendingRequest[] {
    const now = this.deps.clock.now();
    const all = this.deps.requests.list();
    if (all.some((r) => sweepDue(r, now))) void this.sweep();
    return all
      .filter((r) => r.status === 'pending' && r.expiresAt > now)
      .sort((a, b) => a.createdAt - b.createdAt)
      .map(requestView);
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
    const label = cleanText(input.label || csr.commonName, 64) || 'device';
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

    // A fresh secret per submission: whoever watches the request must have sent it. Only its hash is stored.
    const secret = randomBytes(24).toString('base64url');
    const request = await this.enqueue(
      { deviceId: csr.deviceId, label, role, scopes, kind, clientInfo: input.peer, publicKeyPem: csr.publicKeyPem },
      {
        secretHash: secretHash(secret),
        same: (p) => p.deviceId === csr.deviceId && p.role === role && p.kind === kind && p.publicKeyPem === csr.publicKeyPem,
      },
    );
    return { request, state: 'pending', secret };
  }

  /**
   * Puts a legacy (WS bridge) device in the same approval queue; one request per
   * device at a time (a reconnect, on any replica, gets the same request id back).
   */
  submitLegacy(input: { deviceId: string; publicKey: string; label: string; role: string; scopes: readonly string[]; clientInfo: string; reason: string; client?: LegacyClientInfo }): Promise<PendingRequest> {
    const client = input.client ? cleanClient({ ...input.client, isRepair: input.reason !== 'not-paired' }) : undefined;
    return this.enqueue(
      {
        deviceId: input.deviceId,
        label: cleanText(input.label, 64) || 'device',
        role: input.role,
        scopes: parseScopes(input.scopes),
        kind: 'legacy',
        clientInfo: input.clientInfo,
        legacyPublicKey: input.publicKey,
        ...(client ? { legacyClient: client } : {}),
      },
      { same: (p) => p.deviceId === input.deviceId && p.kind !== 'csr' },
    );
  }

  /**
   * Adds a request, or refreshes the open one `same` finds (same device asking again),
   * in one transaction: the queue bound is checked on the committed queue of all replicas.
   */
  private async enqueue(
    req: Omit<PendingRequest, 'requestId' | 'createdAt' | 'expiresAt' | 'verificationCode'>,
    opts: { secretHash?: string; same: (r: PairingRecord) => boolean },
  ): Promise<PendingRequest> {
    const limits = this.deps.limits();
    const requestId = newRequestId();
    let out: { record: PairingRecord; created: boolean };
    try {
      out = await this.tx((tx) => {
        const now = this.deps.clock.now();
        const open = tx.list((r) => (r.status === 'pending' || r.status === 'approving') && r.expiresAt > now);
        const same = open.find(opts.same);
        if (same) {
          // Same device asking again: refresh its request instead of queueing a second one.
          // Each submitter keeps its own secret (a few at most; the first is always kept): the
          // device that resubmits after a restart and the first submission both see the
          // result, and a replayed CSR cannot take it away from the device (it gains nothing
          // either: a certificate is useless without the key). What was asked for (label,
          // scopes) stays as first submitted, so a replay cannot widen what an operator sees.
          if (opts.secretHash) {
            const all = [...same.secretHashes, opts.secretHash];
            same.secretHashes = all.length <= MAX_REQUESTERS ? all : [all[0], ...all.slice(-(MAX_REQUESTERS - 1))];
            if (same.status === 'pending') same.expiresAt = now + limits.pendingTtlMs;
            tx.put(same);
          }
          return { record: same, created: false };
        }
        if (open.length >= limits.maxPending) {
          throw errors.exhausted('PAIRING_QUEUE_FULL', `the pairing queue is full (${limits.maxPending} pending); ask an operator to approve or reject requests`);
        }
        const record: PairingRecord = {
          ...req,
          id: requestId,
          requestId,
          createdAt: now,
          expiresAt: now + limits.pendingTtlMs,
          verificationCode: verificationCode(req.deviceId),
          status: 'pending',
          secretHashes: opts.secretHash ? [opts.secretHash] : [],
        };
        tx.put(record);
        const view = requestView(record);
        this.deps.events.stage(tx, 'device.pair.requested', requestedEvent(view));
        return { record, created: true };
      });
    } catch (err) {
      if (err instanceof GatewayError && err.reason === 'PAIRING_QUEUE_FULL') audit(this.deps.log, 'pairing.denied', { deviceId: req.deviceId, reason: 'queue full', allowed: false });
      throw err;
    }
    const request = requestView(out.record);
    if (out.created) {
      audit(this.deps.log, 'pairing.request', { deviceId: request.deviceId, requestId: request.requestId, role: request.role, scopes: request.scopes, kind: request.kind, peer: request.clientInfo });
    }
    return request;
  }

  /**
   * Approves a request, optionally narrowing its scopes; signs the CSR or registers the
   * legacy device. `authorize` checks the approver's rights on the committed request.
   * The request is claimed first, so that approvals of it on two replicas at once issue
   * one certificate: the other is refused with PAIRING_ALREADY_DECIDED. The claim is
   * renewed while the approval runs; what is issued is written into it before the device
   * is registered, and the outcome is recorded only while the claim is still this
   * approval's. An approval whose claim was taken over meanwhile fails with
   * PAIRING_CLAIM_LOST and revokes what it registered (unless superseded already).
   */
  async approve(requestId: string, opts: { scopes?: readonly string[]; actor: string; authorize?: ApprovalCheck }): Promise<DeviceRecord> {
    const token = randomBytes(9).toString('base64url');
    let req: PairingRecord;
    let scopes: string[];
    try {
      // Validated first: an unknown scope must not touch the request.
      const narrowed = opts.scopes && opts.scopes.length > 0 ? parseScopes(opts.scopes) : undefined;
      ({ req, scopes } = await this.tx((tx) => {
        const now = this.deps.clock.now();
        const r = this.decidable(tx.get(requestId), requestId, now);
        const granted = narrowed ?? r.scopes;
        opts.authorize?.(requestView(r), granted);
        const wider = granted.filter((s) => !scopeSatisfied(r.scopes, s));
        if (wider.length > 0) throw errors.invalid('SCOPES_NOT_REQUESTED', `cannot grant scopes the device did not request: ${wider.join(', ')}`);
        r.status = 'approving';
        r.claim = { token, actor: opts.actor, beat: 0, startedAt: now, until: now + CLAIM_MS };
        tx.put(r);
        return { req: r, scopes: granted };
      }));
    } catch (err) {
      this.auditRefusal('pairing.approve.denied', requestId, opts.actor, err);
      throw err;
    }
    const renewal = setInterval(() => void this.renewClaim(requestId, token), CLAIM_RENEW_MS);
    renewal.unref();
    try {
      return await this.carryOut(requestId, token, req, scopes, opts.actor);
    } finally {
      clearInterval(renewal);
    }
  }

  /** The approval after its claim: issue (noted in the claim first), register, record. */
  private async carryOut(requestId: string, token: string, req: PairingRecord, scopes: string[], actor: string): Promise<DeviceRecord> {
    let device: DeviceRecord;
    let outcome: PairingOutcome;
    let serial: string | undefined;
    try {
      if (req.kind === 'legacy' || (req.kind === 'upgrade' && req.legacyPublicKey)) {
        await this.noteIssue(requestId, token, { deviceId: req.deviceId, scopes });
        const { isRepair: _repair, ...client } = req.legacyClient ?? {};
        device = await this.deps.registry.registerLegacy({ deviceId: req.deviceId, publicKey: req.legacyPublicKey!, role: req.role, label: req.label, scopes, approvedBy: actor, client });
        outcome = { state: 'approved', deviceId: device.id, scopes };
      } else {
        const r = await this.deps.registry.registerApproved({
          publicKeyPem: req.publicKeyPem!,
          role: req.role,
          label: req.label,
          scopes,
          source: 'paired',
          approvedBy: actor,
          // Written into the claim before the device has it: a sweep can tell whether it was registered.
          beforeRegister: (issued) => this.noteIssue(requestId, token, { deviceId: issued.deviceId, scopes, serial: issued.serial, certPem: issued.certPem }),
        });
        device = r.device;
        serial = r.device.cert?.serial;
        outcome = { state: 'approved', deviceId: device.id, certPem: r.certPem, caPem: this.deps.registry.ca.certPem, scopes };
      }
    } catch (err) {
      // Nothing was registered: the request is pending again (if the claim is still ours).
      await this.tx((tx) => {
        const r = tx.get(requestId);
        if (r?.status !== 'approving' || r.claim?.token !== token) return;
        r.status = 'pending';
        delete r.claim;
        tx.put(r);
      }).catch((e: unknown) => this.deps.log.warn({ err: (e as Error).message, requestId }, 'could not put a pairing request back after a failed approval; it is pending again once its claim went unrenewed for a while'));
      this.auditRefusal('pairing.approve.denied', requestId, actor, err);
      throw err;
    }
    const now = this.deps.clock.now();
    let recorded: 'recorded' | 'completed' | 'lost';
    try {
      recorded = await this.tx((tx) => {
        const r = tx.get(requestId);
        if (r?.status === 'approving' && r.claim?.token === token) {
          r.status = 'approved';
          r.outcome = outcome;
          r.resolvedAt = now;
          r.resolvedBy = actor;
          delete r.claim;
          tx.put(r);
          // The device was registered: announced with the step that ends the approval.
          this.deps.events.stage(tx, 'device.pair.resolved', { requestId, deviceId: req.deviceId, decision: 'approved', ts: now });
          return 'recorded';
        }
        // A sweep took the claim over and finished this very approval (what it issued was registered).
        if (r?.status === 'approved' && r.outcome?.deviceId === device.id && r.outcome.certPem === outcome.certPem && r.resolvedBy === actor) return 'completed';
        return 'lost';
      });
    } catch (err) {
      // The claim keeps what was issued: once it goes unrenewed, a sweep records this approval.
      audit(this.deps.log, 'pairing.approve.failed', { deviceId: device.id, requestId, actor, serial, reason: err instanceof GatewayError ? err.reason : 'ERROR', allowed: false });
      throw err;
    }
    if (recorded === 'lost') {
      // Another replica took the claim over (this one looked stopped): this approval does not count.
      let revoked = false;
      if (serial) {
        revoked = await this.deps.registry.revokeIssued(device.id, serial, 'its pairing approval lost its claim', actor).catch((err: unknown) => {
          this.deps.log.error({ err: (err as Error).message, requestId, deviceId: device.id }, 'could not revoke the certificate of an approval that lost its claim');
          return false;
        });
      }
      audit(this.deps.log, 'pairing.approve.lost', { deviceId: device.id, requestId, actor, serial, revoked, reason: 'PAIRING_CLAIM_LOST', allowed: false });
      throw claimLost(requestId);
    }
    audit(this.deps.log, 'pairing.approve', { deviceId: device.id, requestId, actor, scopes, allowed: true });
    return device;
  }

  /** Writes what an approval is about to register into its claim (and renews it); PAIRING_CLAIM_LOST if the claim is no longer its own. */
  private async noteIssue(requestId: string, token: string, issue: NonNullable<ApprovalClaim['issue']>): Promise<void> {
    await this.tx((tx) => {
      const r = tx.get(requestId);
      if (r?.status !== 'approving' || r.claim?.token !== token) throw claimLost(requestId);
      r.claim.issue = issue;
      this.bump(r.claim);
      tx.put(r);
    });
  }

  /** Renews an approval's claim while it runs (a failure is retried at the next renewal). */
  private async renewClaim(requestId: string, token: string): Promise<void> {
    await this.tx((tx) => {
      const r = tx.get(requestId);
      if (r?.status !== 'approving' || r.claim?.token !== token) return;
      this.bump(r.claim);
      tx.put(r);
    }).catch((err: unknown) => this.deps.log.warn({ err: (err as Error).message, requestId }, 'could not renew the claim of a pairing approval in progress'));
  }

  private bump(claim: ApprovalClaim): void {
    claim.beat = (claim.beat ?? 0) + 1;
    claim.until = this.deps.clock.now() + CLAIM_MS;
  }

  /** Rejects a request; the waiting device is told so (on whichever replica it watches). */
  async reject(requestId: string, opts: { reason?: string; actor: string }): Promise<void> {
    const reason = cleanText(opts.reason ?? '', MAX_REASON_CHARS) || 'rejected by operator';
    let req: PairingRecord;
    try {
      req = await this.tx((tx) => {
        const now = this.deps.clock.now();
        const r = this.decidable(tx.get(requestId), requestId, now);
        r.status = 'rejected';
        r.outcome = { state: 'rejected', deviceId: r.deviceId, reason };
        r.resolvedAt = now;
        r.resolvedBy = opts.actor;
        delete r.claim;
        tx.put(r);
        this.deps.events.stage(tx, 'device.pair.resolved', { requestId, deviceId: r.deviceId, decision: 'rejected', ts: now });
        return r;
      });
    } catch (err) {
      this.auditRefusal('pairing.reject.denied', requestId, opts.actor, err);
      throw err;
    }
    audit(this.deps.log, 'pairing.reject', { deviceId: req.deviceId, requestId, actor: opts.actor, reason: opts.reason, allowed: false });
  }

  /**
   * Follows a request for its requester: the listener gets `pending` now (if still
   * pending) and the final outcome later, wherever it is decided. Resolves with a
   * function that stops watching. NOT_FOUND for unknown ids and for a wrong secret alike
   * (nothing tells an outsider that the request exists, and its certificate is never
   * shown to anyone else).
   */
  async watch(requestId: string, secret: string, listener: PairingListener): Promise<() => void> {
    let r = this.deps.requests.get(requestId);
    if ((!r || !secretMatches(r.secretHashes, secret)) && REQUEST_ID.test(requestId ?? '')) {
      // Perhaps submitted (or submitted again, with this secret) a moment ago through another
      // replica: catch the local copy up to the committed state before saying no (a read:
      // never the collection's write lock, which anyone could otherwise make us wait for).
      await this.deps.requests.refresh();
      r = this.deps.requests.get(requestId);
    }
    if (!r || !secretMatches(r.secretHashes, secret)) {
      // A known request id with a wrong secret: someone who is not its requester tried to read it.
      if (r) audit(this.deps.log, 'pairing.watch.denied', { requestId, reason: 'PAIRING_SECRET_MISMATCH', allowed: false });
      throw errors.notFound('PAIRING_REQUEST_NOT_FOUND', `no pairing request ${requestId} for this requester (it may have expired)`);
    }
    if (!isDecided(r)) listener({ state: 'pending', deviceId: r.deviceId });
    const stop = this.watchers.add(requestId, r.deviceId, listener);
    if (isDecided(r)) this.deliver(requestId, r);
    else if (r.expiresAt <= this.deps.clock.now()) void this.sweep();
    return stop;
  }

  /**
   * Expires requests past their TTL, finishes or takes back approvals whose replica
   * stopped half-way, and forgets outcomes that were collected or waited long enough.
   * Safe on every replica at once: each change is decided again on the committed state,
   * so a request expires (and is audited and announced) once.
   *
   * An approval in progress is looked at on every sweep (that is how this replica sees
   * its claim renewed, or not). Once its claim went unrenewed for the claim lease of this
   * replica's time, the approval is recorded if its device was registered with what the
   * claim says was issued (`pairing.approve.completed`), otherwise the request is
   * pending again (`pairing.approve.abandoned`).
   */
  async sweep(): Promise<void> {
    if (this.sweeping) return this.sweeping;
    const local = this.deps.requests.list();
    if (!local.some((r) => sweepDue(r, this.deps.clock.now()))) return;
    const run = (async () => {
      // An approval that may be finished here needs the registry as committed (registered elsewhere a moment ago?).
      if (local.some((r) => r.status === 'approving' && r.claim?.issue && !this.claimHeld(r))) await this.deps.registry.sync();
      const { expired, completed, abandoned } = await this.tx((tx) => {
        const now = this.deps.clock.now();
        const out = { expired: [] as PairingRecord[], completed: [] as { r: PairingRecord; actor: string; serial?: string }[], abandoned: [] as { r: PairingRecord; claim: ApprovalClaim }[], now };
        const watching: string[] = [];
        for (const r of tx.list()) {
          if (!sweepDue(r, now)) continue;
          if (isDecided(r)) {
            tx.delete(r.id);
            continue;
          }
          if (r.status === 'approving' && r.claim) {
            if (this.claimHeld(r)) {
              watching.push(claimBeat(r).key);
              continue;
            }
            const claim = r.claim;
            const outcome = interruptedOutcome(r, this.deps.registry);
            delete r.claim;
            if (outcome) {
              r.status = 'approved';
              r.outcome = outcome;
              r.resolvedAt = now;
              r.resolvedBy = claim.actor;
              tx.put(r);
              this.deps.events.stage(tx, 'device.pair.resolved', { requestId: r.id, deviceId: r.deviceId, decision: 'approved', ts: now });
              out.completed.push({ r, actor: claim.actor, serial: claim.issue?.serial });
              continue;
            }
            r.status = 'pending';
            out.abandoned.push({ r, claim });
          }
          if (r.expiresAt <= now) {
            r.status = 'expired';
            r.outcome = { state: 'expired', deviceId: r.deviceId, reason: 'request expired before an operator approved it' };
            r.resolvedAt = now;
            out.expired.push(r);
            this.deps.events.stage(tx, 'device.pair.resolved', { requestId: r.id, deviceId: r.deviceId, decision: 'expired', ts: now });
          }
          tx.put(r);
        }
        this.claims.keepOnly(watching);
        return out;
      });
      for (const { r, actor, serial } of completed) {
        audit(this.deps.log, 'pairing.approve.completed', { deviceId: r.deviceId, requestId: r.id, actor, serial, scopes: r.outcome?.scopes, reason: 'approver stopped after registering', allowed: true });
      }
      for (const { r, claim } of abandoned) {
        this.deps.log.warn({ requestId: r.id, actor: claim.actor }, 'an approval of a pairing request stopped before registering the device; the request is pending again');
        audit(this.deps.log, 'pairing.approve.abandoned', { deviceId: r.deviceId, requestId: r.id, actor: claim.actor, serial: claim.issue?.serial, reason: 'approver stopped before registering', allowed: false });
      }
      for (const r of expired) {
        audit(this.deps.log, 'pairing.expire', { deviceId: r.deviceId, requestId: r.id, allowed: false });
      }
    })()
      .catch((err: unknown) => {
        const closed = err instanceof GatewayError && err.reason === 'STORE_CLOSED';
        if (!closed) this.deps.log.warn({ err: (err as Error).message }, 'pairing request sweep failed; trying again in a second');
      })
      .finally(() => {
        this.sweeping = undefined;
      });
    this.sweeping = run;
    return run;
  }

  /** Gives decided outcomes to the watchers open here, whichever replica decided them. */
  private onChange(change: CollectionChange): void {
    for (const id of change.ids ?? this.watchers.ids()) {
      if (this.watchers.deviceOf(id) === undefined) continue;
      const r = this.deps.requests.get(id);
      if (!r || isDecided(r)) this.deliver(id, r);
    }
  }

  /**
   * Gives a decided outcome (or "gone") to the watchers of a request here. An approval
   * decided on another replica may reach this one before the new device does: the
   * certificate is handed out only once this replica's registry knows the device, so the
   * device's first call, here, is not refused as unknown.
   */
  private deliver(requestId: string, r: PairingRecord | undefined): void {
    const deviceId = this.watchers.deviceOf(requestId);
    if (deviceId === undefined) return;
    const outcome = r?.outcome ?? { state: 'expired' as const, deviceId, reason: 'the pairing request is no longer known (it expired)' };
    const settle = () => {
      if (this.watchers.settle(requestId, outcome) > 0 && r) this.collected(requestId);
    };
    if (outcome.state !== 'approved' || this.registryHas(outcome)) return settle();
    this.deps.registry.sync().then(settle, (err: unknown) => {
      this.deps.log.warn({ err: (err as Error).message, requestId }, 'could not read the registry before handing out a certificate; handing it out anyway');
      settle();
    });
  }

  /** Whether this replica's registry already holds the device an approval registered, with that certificate. */
  private registryHas(outcome: PairingOutcome): boolean {
    const d = this.deps.registry.get(outcome.deviceId);
    if (!d || d.status !== 'active') return false;
    return !outcome.certPem || (d.cert !== undefined && normalizeSerial(d.cert.serial) === certIdentity(outcome.certPem).serial);
  }

  /** Notes that a requester got the outcome: it is forgotten a minute later instead of ten. */
  private collected(requestId: string): void {
    const now = this.deps.clock.now();
    this.deps.requests
      .mutate((tx) => {
        const r = tx.get(requestId);
        if (!r || !isDecided(r) || r.collectedAt !== undefined) return;
        r.collectedAt = now;
        tx.put(r);
      })
      .catch((err: unknown) => {
        const closed = err instanceof GatewayError && err.reason === 'STORE_CLOSED';
        if (!closed) this.deps.log.warn({ err: (err as Error).message, requestId }, 'could not note that a pairing outcome was collected; it is forgotten later on its own');
      });
  }

  /**
   * The committed request, if an operator may still decide it: NOT_FOUND when unknown
   * or expired, FAILED_PRECONDITION `PAIRING_ALREADY_DECIDED` when it was approved or
   * rejected, or is being approved (by another operator, or on another replica).
   */
  private decidable(r: PairingRecord | undefined, requestId: string, now: number): PairingRecord {
    // An approval whose claim went unrenewed but that may have registered its device is the sweep's to finish or undo.
    const claimed = r?.status === 'approving' && r.claim !== undefined && (this.claimHeld(r) || r.claim.issue !== undefined);
    if (!r || r.status === 'expired' || ((r.status === 'pending' || r.status === 'approving') && r.expiresAt <= now && !claimed)) {
      throw errors.notFound('PAIRING_REQUEST_NOT_FOUND', `no pending pairing request ${requestId} (it may have expired or been resolved)`);
    }
    if (claimed && r.claim) {
      if (!this.claimHeld(r)) void this.sweep();
      throw errors.precondition('PAIRING_ALREADY_DECIDED', `pairing request ${requestId} is being approved right now (by ${r.claim.actor})`, { requestId, state: 'approving' });
    }
    if (r.status === 'approved' || r.status === 'rejected') {
      throw errors.precondition('PAIRING_ALREADY_DECIDED', `pairing request ${requestId} was already ${r.status}${r.resolvedBy ? ` (by ${r.resolvedBy})` : ''}`, { requestId, state: r.status });
    }
    return r;
  }

  /** Whether an approval's claim still holds: its approver renewed it within the claim lease as this replica sees it. */
  private claimHeld(r: PairingRecord): boolean {
    const { key, beat } = claimBeat(r);
    return !this.claims.gone(key, beat);
  }

  /** A transaction of `pairing_requests`, whose outcome tells the claim watch whether this replica reaches the store. */
  private tx<R>(fn: (tx: CollectionTx<PairingRecord>) => R): Promise<R> {
    return watched(this.claims, (f) => this.deps.requests.mutate(f), fn);
  }

  private auditRefusal(event: string, requestId: string, actor: string, err: unknown): void {
    const reason = err instanceof GatewayError ? err.reason : 'ERROR';
    audit(this.deps.log, event, { requestId, actor, reason, allowed: false });
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

/**
 * The `device.pair.requested` payload: the legacy gateway's fields (requestId, deviceId,
 * publicKey, displayName, platform, clientId, clientMode, role, roles, scopes, remoteIp,
 * silent, isRepair, ts; the public key and client fields for legacy devices only), plus
 * this gateway's verificationCode and kind.
 */
function requestedEvent(r: PendingRequest): Record<string, unknown> {
  const c = r.legacyClient;
  return {
    requestId: r.requestId,
    deviceId: r.deviceId,
    ...(r.legacyPublicKey ? { publicKey: r.legacyPublicKey } : {}),
    displayName: r.label,
    ...(c?.platform ? { platform: c.platform } : {}),
    ...(c?.clientId ? { clientId: c.clientId } : {}),
    ...(c?.clientMode ? { clientMode: c.clientMode } : {}),
    role: r.role,
    roles: [r.role],
    scopes: r.scopes,
    ...(c?.remoteIp ? { remoteIp: c.remoteIp } : {}),
    // Nothing is ever approved silently here: every device waits for an operator.
    silent: false,
    isRepair: r.kind === 'upgrade' || c?.isRepair === true,
    ts: r.createdAt,
    verificationCode: r.verificationCode,
    kind: r.kind,
  };
}

/** A legacy client's own description, cleaned like labels (short, printable). */
function cleanClient(c: LegacyClientInfo): LegacyClientInfo {
  const out: LegacyClientInfo = { isRepair: c.isRepair === true };
  for (const k of ['platform', 'deviceFamily', 'clientId', 'clientMode', 'remoteIp'] as const) {
    const v = cleanText(c[k] ?? '', 64);
    if (v) out[k] = v;
  }
  return out;
}

/** Characters a label may not carry: control characters could rewrite an operator's terminal. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]/g;

/** Text shown to operators or devices (a label, a reason): no control or direction characters, at most `max` characters. */
function cleanText(text: string, max: number): string {
  return Array.from(text.replace(UNPRINTABLE, '')).slice(0, max).join('').trim();
}

function claimLost(requestId: string) {
  return errors.precondition('PAIRING_CLAIM_LOST', `the approval of pairing request ${requestId} lost its claim (this gateway looked stopped and another one took the request over); it does not count`, { requestId });
}
