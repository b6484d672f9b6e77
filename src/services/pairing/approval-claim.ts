import { normalizeSerial, type DeviceRegistry } from '../../identity';
import type { PairingOutcome, PairingRecord } from './pairing-requests';

/**
 * What a sweep records for an approval whose approver stopped renewing its claim: the
 * approved outcome when the device was registered with what the claim says was issued
 * (the approver stopped between registering and recording: the approval stands, and the
 * requester still gets its certificate), or undefined when nothing of it was registered
 * (the request is pending again). Judged on `registry`'s copy, which the caller brings
 * up to the committed state first.
 */
export function interruptedOutcome(r: PairingRecord, registry: DeviceRegistry): PairingOutcome | undefined {
  const issue = r.claim?.issue;
  if (!issue) return undefined;
  const d = registry.get(issue.deviceId);
  if (!d || d.status !== 'active') return undefined;
  if (issue.serial !== undefined) {
    if (!issue.certPem || !d.cert || normalizeSerial(d.cert.serial) !== normalizeSerial(issue.serial)) return undefined;
    return { state: 'approved', deviceId: d.id, certPem: issue.certPem, caPem: registry.ca.certPem, scopes: issue.scopes };
  }
  // A legacy device has no certificate: it was registered by this approval if it was approved, with this key, since the approval began.
  const began = r.claim?.startedAt;
  if (!d.legacy || d.legacy.publicKey !== r.legacyPublicKey || began === undefined || (d.approvedAt ?? 0) < began) return undefined;
  return { state: 'approved', deviceId: d.id, scopes: issue.scopes };
}
