import { parseRole, type Role } from './roles';

/** The identity carried in a certificate's single URI SAN. */
export interface SpiffeId {
  trustDomain: string;
  role: Role;
  deviceId: string;
}

const SPIFFE_RE = /^spiffe:\/\/([a-z0-9._-]+)\/([a-z]+)\/([0-9a-f]{64})$/;

/** Formats `spiffe://<trust-domain>/<role>/<device-id>`. */
export function formatSpiffeId(id: SpiffeId): string {
  return `spiffe://${id.trustDomain}/${id.role}/${id.deviceId}`;
}

/** Parses a SPIFFE URI of our shape; returns undefined when it is not one. */
export function parseSpiffeId(uri: string): SpiffeId | undefined {
  const m = SPIFFE_RE.exec(uri);
  if (!m) return undefined;
  try {
    return { trustDomain: m[1], role: parseRole(m[2]), deviceId: m[3] };
  } catch {
    return undefined;
  }
}

/** The URI SANs in Node's `subjectAltName` string ("URI:a, DNS:b, ..."). */
export function uriSansOf(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(/,\s*/)
    .filter((p) => p.startsWith('URI:'))
    .map((p) => p.slice(4));
}

/** Makes a fresh trust domain name for a new CA. */
export function newTrustDomain(randomHex: string): string {
  return `openclaw-${randomHex}.local`;
}
