import { createHash, timingSafeEqual } from 'node:crypto';
import type { Collection, StoreBackend } from '../../store/collection';

/** Where a pairing request stands, as its requester learns it. */
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
  /** Legacy devices: what the client reported when it asked. */
  legacyClient?: LegacyClientInfo;
}

/** What a legacy client reports about itself when it connects (shown to operators). */
export interface LegacyClientInfo {
  platform?: string;
  deviceFamily?: string;
  clientId?: string;
  clientMode?: string;
  remoteIp?: string;
  /** The device is paired already and asks for more (a role or scope upgrade). */
  isRepair?: boolean;
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

/** Name of the pairing requests collection. */
export const PAIRING_REQUESTS = 'pairing_requests';

/**
 * A pairing request as stored (keyed by its request id), from submission until its
 * outcome was collected by the requester or is forgotten:
 * - `pending`: waiting for an operator (counts against `maxPending`);
 * - `approving`: an operator's approval is being carried out by one replica (`claim`);
 *   nobody else can approve or reject it meanwhile. The approver renews the claim while
 *   it works (`beat`); once another replica has seen it unrenewed for the claim lease of
 *   its own time, a sweep finishes the approval if its certificate was registered (what
 *   was issued is written into the claim before the device is registered), or puts the
 *   request back to pending;
 * - `approved` / `rejected` / `expired`: decided; `outcome` (with the certificate, or
 *   the reason) waits there for the requester's watch, on whichever replica it is.
 */
export interface PairingRecord extends PendingRequest {
  id: string;
  status: 'pending' | 'approving' | 'approved' | 'rejected' | 'expired';
  /** SHA-256 (hex) of the secrets of whoever submitted this request (newest last); never the secrets. */
  secretHashes: string[];
  claim?: ApprovalClaim;
  outcome?: PairingOutcome;
  resolvedAt?: number;
  resolvedBy?: string;
  /** When a requester's watch first received the outcome. */
  collectedAt?: number;
}

/** Who is carrying out an approval, and how far it got. */
export interface ApprovalClaim {
  /** Names one approval: its steps check that the claim is still theirs. */
  token: string;
  actor: string;
  /** The approver's renewals (absent in claims of earlier releases, whose `until` changes instead). */
  beat?: number;
  /** When the approval began, by the approver's clock (to tell its legacy registration from an earlier one). */
  startedAt?: number;
  /** The approver's clock plus the claim lease: what earlier releases judged by. */
  until: number;
  /**
   * Written before the device is registered: the device, the scopes granted and, for a
   * CSR, the certificate (public) and its serial. A sweep that finds the device
   * registered with it records the approval with this outcome.
   */
  issue?: { deviceId: string; scopes: string[]; serial?: string; certPem?: string };
}

const STATUSES: readonly PairingRecord['status'][] = ['pending', 'approving', 'approved', 'rejected', 'expired'];
const KINDS: readonly PendingRequest['kind'][] = ['csr', 'legacy', 'upgrade'];

/** Checks a pairing request record read from storage. */
export function validatePairingRecord(raw: unknown): PairingRecord {
  const r = raw as PairingRecord;
  if (!r || typeof r !== 'object' || typeof r.id !== 'string' || r.id !== r.requestId) throw new Error('expected a pairing request record keyed by its request id');
  if (
    !STATUSES.includes(r.status) ||
    !KINDS.includes(r.kind) ||
    typeof r.deviceId !== 'string' ||
    typeof r.role !== 'string' ||
    !Array.isArray(r.scopes) ||
    typeof r.createdAt !== 'number' ||
    typeof r.expiresAt !== 'number' ||
    !Array.isArray(r.secretHashes) ||
    !r.secretHashes.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))
  ) {
    throw new Error(`pairing request record ${r.id} is malformed`);
  }
  if ((r.status === 'approved' || r.status === 'rejected' || r.status === 'expired') && (!r.outcome || typeof r.resolvedAt !== 'number')) {
    throw new Error(`pairing request record ${r.id} is ${r.status} without an outcome`);
  }
  if (r.status === 'approving' && (!r.claim || typeof r.claim.token !== 'string' || typeof r.claim.until !== 'number')) throw new Error(`pairing request record ${r.id} is being approved without a claim`);
  if (r.claim?.beat !== undefined && typeof r.claim.beat !== 'number') throw new Error(`pairing request record ${r.id} has a malformed claim`);
  return r;
}

/**
 * Opens the pairing requests collection. Requests live minutes, so nothing of an earlier
 * release is imported (they were kept in memory) and `migrate-store` does not copy them.
 */
export function openPairingRequests(backend: StoreBackend): Promise<Collection<PairingRecord>> {
  return backend.collection(PAIRING_REQUESTS, validatePairingRecord);
}

/** How long a decided outcome waits for its requester. */
const RESOLVED_KEEP_MS = 10 * 60_000;

/** How long an outcome stays once a requester's watch got it (a second watch, a stream that broke as it arrived). */
const COLLECTED_KEEP_MS = 60_000;

/** Whether a request was decided (its outcome is final). */
export function isDecided(r: PairingRecord): boolean {
  return r.status === 'approved' || r.status === 'rejected' || r.status === 'expired';
}

/** The request as operators and callers see it (no secrets, no bookkeeping). */
export function requestView(r: PairingRecord): PendingRequest {
  const { id: _id, status: _s, secretHashes: _h, claim: _c, outcome: _o, resolvedAt: _r, resolvedBy: _b, collectedAt: _t, ...request } = r;
  return request;
}

/** What is stored of a requester's secret. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time check of a requester's secret against every stored hash; an empty secret matches nothing. */
export function secretMatches(expectedHashes: readonly string[], secret: string): boolean {
  if (!secret) return false;
  const given = Buffer.from(secretHash(secret), 'hex');
  let ok = false;
  for (const h of expectedHashes) ok = timingSafeEqual(Buffer.from(h, 'hex'), given) || ok;
  return ok;
}

/** What another replica watches of an approval claim: which approval, and its renewals. */
export function claimBeat(r: PairingRecord): { key: string; beat: string } {
  const c = r.claim;
  return { key: `${r.id}/${c?.token ?? ''}`, beat: c?.beat !== undefined ? String(c.beat) : `until:${c?.until ?? 0}` };
}

/**
 * Whether a sweep has something to do with this request now: a pending request past its
 * TTL, an approval in progress (its claim is looked at: still renewed?), or an outcome
 * that was collected (then kept a minute) or waited ten minutes for its requester.
 */
export function sweepDue(r: PairingRecord, now: number): boolean {
  switch (r.status) {
    case 'pending':
      return r.expiresAt <= now;
    case 'approving':
      return true;
    default: {
      // Nobody can collect an outcome without a requester secret (legacy requests): it goes soon.
      const kept = r.secretHashes.length === 0 ? COLLECTED_KEEP_MS : RESOLVED_KEEP_MS;
      const until = Math.min((r.resolvedAt ?? 0) + kept, r.collectedAt !== undefined ? r.collectedAt + COLLECTED_KEEP_MS : Infinity);
      return until <= now;
    }
  }
}
