import { createHash } from 'node:crypto';
import { hashToken } from '../../identity/device-registry';
import { ROLES, SCOPES } from '../../identity/roles';
import type { DeviceRecord, LegacyTokenRecord } from '../../store/device-store';
import type { ReportItem } from './report';
import type { PairedRow } from './source';

/**
 * Paired OpenClaw devices -> legacy devices of our registry: same device id, public key,
 * role and approved scopes. Its device token is kept as what verification needs (its
 * SHA-256), never in clear: the device reconnects through the bridge with the token it
 * has, without pairing again.
 */

/** The id of an imported token record: our gateway does not derive these tokens, it only verifies them. */
export const IMPORTED_TOKEN_ID = 'openclaw-import';

export interface PlannedDevice {
  record: DeviceRecord;
  item: ReportItem;
}

interface OpenclawToken {
  token?: unknown;
  role?: unknown;
  scopes?: unknown;
  createdAtMs?: unknown;
  rotatedAtMs?: unknown;
  revokedAtMs?: unknown;
  lastUsedAtMs?: unknown;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);
const strList = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function jsonOf(text: string | null, what: string): unknown {
  if (text === null || text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what} is not JSON`);
  }
}

/** Plans one device; a device that cannot be imported is a skipped item saying why. */
export function planDevice(row: PairedRow): PlannedDevice | ReportItem {
  // The name an operator gave it in OpenClaw, else the one the device reported.
  const name = row.operator_label || row.display_name || '';
  const source = `${row.device_id}${name ? ` (${name})` : ''}`;
  const skip = (reason: string): ReportItem => ({ kind: 'device', source, outcome: 'skipped', reason });
  const raw = Buffer.from(row.public_key ?? '', 'base64url');
  if (!/^[0-9a-f]{64}$/.test(row.device_id ?? '')) return skip('the device id is not 64 hex characters');
  if (raw.length !== 32) return skip('the public key is not a raw 32-byte Ed25519 key');
  if (createHash('sha256').update(raw).digest('hex') !== row.device_id) return skip('the device id is not the SHA-256 of its public key');
  let roles: string[];
  let approved: string[];
  let tokens: Record<string, OpenclawToken>;
  try {
    roles = strList(jsonOf(row.roles_json, 'roles_json'));
    approved = strList(jsonOf(row.approved_scopes_json, 'approved_scopes_json') ?? jsonOf(row.scopes_json, 'scopes_json'));
    const t = jsonOf(row.tokens_json, 'tokens_json') ?? {};
    if (typeof t !== 'object' || t === null || Array.isArray(t)) throw new Error('tokens_json is not an object');
    tokens = t as Record<string, OpenclawToken>;
  } catch (err) {
    return skip((err as Error).message);
  }
  const role = row.role || roles[0] || '';
  if (role !== 'operator' && role !== 'node') {
    return skip(`role "${role}" has no legacy equivalent here (operator and node devices only; roles here: ${ROLES.join(', ')})`);
  }
  const notes: string[] = [];
  if (row.approved_via === 'silent') notes.push('OpenClaw approved it silently (a local connection), not an operator: check it with openclaw-cli devices list');
  const otherRoles = [...new Set(roles)].filter((r) => r !== role);
  if (otherRoles.length) notes.push(`also approved as ${otherRoles.join(', ')}: a device has one role here; it keeps ${role}`);
  const scopes = [...new Set(approved)].filter((s) => (SCOPES as readonly string[]).includes(s));
  const dropped = approved.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (dropped.length) notes.push(`scopes without an equivalent here not granted: ${dropped.join(', ')}`);

  const legacyTokens: Record<string, LegacyTokenRecord> = {};
  const t = tokens[role];
  if (t && typeof t.token === 'string' && t.token !== '') {
    const entry: LegacyTokenRecord = {
      id: IMPORTED_TOKEN_ID,
      hash: hashToken(t.token),
      scopes: strList(t.scopes).filter((s) => scopes.includes(s)),
      createdAt: num(t.createdAtMs) ?? row.approved_at_ms,
    };
    // The token's scopes as OpenClaw issued them, within what the device is approved for.
    if (entry.scopes.length === 0 && strList(t.scopes).length === 0) entry.scopes = [...scopes];
    const rotatedAt = num(t.rotatedAtMs);
    const revokedAt = num(t.revokedAtMs);
    const lastUsedAt = num(t.lastUsedAtMs);
    if (rotatedAt) entry.rotatedAt = rotatedAt;
    if (revokedAt) entry.revokedAt = revokedAt;
    if (lastUsedAt) entry.lastUsedAt = lastUsedAt;
    legacyTokens[role] = entry;
    if (revokedAt) notes.push(`its ${role} token was revoked in OpenClaw: it stays revoked (the device must be approved again)`);
  } else notes.push(`no ${role} device token in OpenClaw: it gets one at its next connect with the shared token`);
  const otherTokens = Object.keys(tokens).filter((r) => r !== role);
  if (otherTokens.length) notes.push(`device tokens for ${otherTokens.join(', ')} not carried (one role per device here)`);

  const record: DeviceRecord = {
    id: row.device_id,
    label: name || `openclaw ${row.device_id.slice(0, 8)}`,
    role,
    scopes,
    status: 'active',
    source: 'legacy',
    previousSerials: [],
    createdAt: row.created_at_ms,
    approvedAt: row.approved_at_ms,
    legacy: {
      publicKey: row.public_key,
      tokens: legacyTokens,
      ...(row.platform ? { platform: row.platform } : {}),
      ...(row.device_family ? { deviceFamily: row.device_family } : {}),
      ...(row.client_id ? { clientId: row.client_id } : {}),
      ...(row.client_mode ? { clientMode: row.client_mode } : {}),
      ...(row.remote_ip ? { remoteIp: row.remote_ip } : {}),
      ...(num(row.last_seen_at_ms) ? { lastSeenAt: row.last_seen_at_ms! } : {}),
      ...(row.last_seen_reason ? { lastSeenReason: row.last_seen_reason } : {}),
    },
  };
  const item: ReportItem = { kind: 'device', source, target: row.device_id, outcome: 'imported', notes };
  item.reason = `${role} [${scopes.join(', ') || 'no scopes'}]${legacyTokens[role] ? ', device token kept' : ''}`;
  return { record, item };
}

/** What an import does with a planned device, given what the registry holds under its id. */
export function deviceOutcome(planned: DeviceRecord, existing: DeviceRecord | undefined): { write: boolean; outcome: 'imported' | 'unchanged' | 'skipped'; reason?: string } {
  if (!existing) return { write: true, outcome: 'imported' };
  if (existing.source === 'legacy' && existing.legacy?.publicKey === planned.legacy?.publicKey && existing.status === 'active') {
    return { write: false, outcome: 'unchanged', reason: 'already registered here with this key (left as it is)' };
  }
  const what = existing.status === 'revoked' ? 'a revoked device' : existing.source === 'legacy' ? 'a legacy device with another key' : `a ${existing.source} device`;
  return { write: false, outcome: 'skipped', reason: `this id is ${what} here; not overwritten` };
}
