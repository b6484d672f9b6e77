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
 *   nobody else can approve or reject it meanwhile, and a claim whose replica died runs
 *   out and the request is pending again;
 * - `approved` / `rejected` / `expired`: decided; `outcome` (with the certificate, or
 *   the reason) waits there for the requester's watch, on whichever replica it is.
 */
export interface PairingRecord extends PendingRequest {
  id: string;
  status: 'pending' | 'approving' | 'approved' | 'rejected' | 'expired';
  /** SHA-256 (hex) of the secrets of whoever submitted this request (newest last); never the secrets. */
  secretHashes: string[];
  claim?: { token: string; actor: string; until: number };
  outcome?: PairingOutcome;
  resolvedAt?: number;
  resolvedBy?: string;
  /** When a requester's watch first received the outcome. */
  collectedAt?: number;
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
  if (r.status === 'approving' && (!r.claim || typeof r.claim.until !== 'number')) throw new Error(`pairing request record ${r.id} is being approved without a claim`);
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

/**
 * Whether a sweep has something to do with this request now: a pending request past its
 * TTL, an approval claim that ran out, or an outcome that was collected (then kept a
 * minute) or waited ten minutes for its requester.
 */
export function sweepDue(r: PairingRecord, now: number): boolean {
  switch (r.status) {
    case 'pending':
      return r.expiresAt <= now;
    case 'approving':
      return (r.claim?.until ?? 0) <= now;
    default: {
      // Nobody can collect an outcome without a requester secret (legacy requests): it goes soon.
      const kept = r.secretHashes.length === 0 ? COLLECTED_KEEP_MS : RESOLVED_KEEP_MS;
      const until = Math.min((r.resolvedAt ?? 0) + kept, r.collectedAt !== undefined ? r.collectedAt + COLLECTED_KEEP_MS : Infinity);
      return until <= now;
    }
  }
}
