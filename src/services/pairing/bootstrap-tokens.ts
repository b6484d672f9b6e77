import { randomBytes, timingSafeEqual } from 'node:crypto';
import { errors } from '../../errors';
import type { Collection, StoreBackend } from '../../store/collection';
import { importLegacyRecords, readLegacyRecords } from '../../store/legacy-import';
import { DEFAULT_SCOPES, ROLES, hashToken, parseRole, parseScopes, scopeSatisfied } from '../../identity';
import type { Clock } from '../../clock';

/** A bootstrap token as stored: only the hash of its secret is kept. */
export interface BootstrapTokenRecord {
  tokenId: string;
  hash: string;
  label: string;
  role: string;
  scopes: string[];
  createdAt: number;
  expiresAt: number;
  usesLeft: number;
  revoked: boolean;
}

/** A token as kept in the store: keyed by its id. */
export type StoredToken = BootstrapTokenRecord & { id: string };

/** Name of the bootstrap tokens collection. */
export const BOOTSTRAP_TOKENS = 'bootstrap_tokens';

/** Checks a token record read from storage. */
export function validateToken(raw: unknown): StoredToken {
  const t = raw as StoredToken;
  if (!t || typeof t !== 'object' || typeof t.tokenId !== 'string' || t.id !== t.tokenId || typeof t.hash !== 'string' || typeof t.usesLeft !== 'number') {
    throw new Error('expected a bootstrap token record');
  }
  return t;
}

/** Opens the tokens collection; a `bootstrap-tokens.json` of an earlier release is imported once. */
export async function openTokens(backend: StoreBackend, legacyJson?: string): Promise<Collection<StoredToken>> {
  const legacy =
    backend.kind === 'files' && legacyJson
      ? readLegacyRecords(legacyJson, 'bootstrap tokens', (raw) => {
          const d = raw as { version?: number; tokens?: Record<string, BootstrapTokenRecord> };
          if (!d || d.version !== 1 || typeof d.tokens !== 'object' || d.tokens === null) throw new Error('expected {"version":1,"tokens":{...}}');
          return Object.values(d.tokens).map((t) => validateToken({ ...t, id: t.tokenId }));
        })
      : undefined;
  const tokens = await backend.collection(BOOTSTRAP_TOKENS, validateToken);
  if (legacy && legacyJson) await importLegacyRecords(tokens, legacyJson, legacy);
  return tokens;
}

/** What a caller learns about a token (never the secret or its hash). */
export type BootstrapTokenInfo = Omit<BootstrapTokenRecord, 'hash'>;

const PREFIX = 'ocbt_';

function info(r: StoredToken): BootstrapTokenInfo {
  const { hash: _hash, id: _id, ...rest } = r;
  return rest;
}

/**
 * Bootstrap tokens let automation pre-approve a CSR: hashed at rest, with a TTL, a
 * use count and a role/scope ceiling. A use is consumed only when the request it
 * approves succeeds.
 */
export class BootstrapTokens {
  constructor(
    private readonly store: Collection<StoredToken>,
    private readonly clock: Clock,
  ) {}

  /** Creates a token; the secret is returned once and never stored. */
  async create(input: { label: string; role: string; scopes: readonly string[]; ttlMs: number; uses: number }): Promise<{ token: string; info: BootstrapTokenInfo }> {
    const role = parseRole(input.role);
    // A bridge acts for legacy principals; such an identity is provisioned with certs-tools, never handed out by token.
    if (role === 'bridge') {
      const allowed = ROLES.filter((r) => r !== 'bridge').join(', ');
      throw errors.invalid('TOKEN_ROLE_NOT_ALLOWED', `a bootstrap token cannot grant role bridge (allowed: ${allowed}); issue a bridge identity with "certs-tools issue --role bridge"`);
    }
    // No scopes named: the role's defaults (what `tokens create` and `devices invite` promise).
    const scopes = input.scopes.length > 0 ? parseScopes(input.scopes) : [...DEFAULT_SCOPES[role]];
    if (!Number.isFinite(input.ttlMs) || input.ttlMs < 60_000 || input.ttlMs > 30 * 24 * 3600_000) {
      throw errors.invalid('INVALID_TTL', 'token TTL must be from 1 minute to 30 days');
    }
    if (!Number.isInteger(input.uses) || input.uses < 1 || input.uses > 1000) throw errors.invalid('INVALID_USES', 'token uses must be from 1 to 1000');
    const tokenId = randomBytes(6).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    const token = `${PREFIX}${tokenId}.${secret}`;
    const now = this.clock.now();
    const record: StoredToken = {
      id: tokenId,
      tokenId,
      hash: hashToken(token),
      label: input.label || 'bootstrap',
      role,
      scopes,
      createdAt: now,
      expiresAt: now + input.ttlMs,
      usesLeft: input.uses,
      revoked: false,
    };
    await this.store.mutate((tx) => tx.put(record));
    return { token, info: info(record) };
  }

  list(): BootstrapTokenInfo[] {
    return this.store.list().map(info).sort((a, b) => a.createdAt - b.createdAt);
  }

  revoke(tokenId: string): Promise<BootstrapTokenInfo> {
    return this.store.mutate((tx) => {
      const t = tx.get(tokenId);
      if (!t) throw errors.notFound('TOKEN_NOT_FOUND', `no bootstrap token ${tokenId}`);
      t.revoked = true;
      tx.put(t);
      return info(t);
    });
  }

  /**
   * Checks a presented token against a requested role and scopes without using it.
   * Throws UNAUTHENTICATED (bad/expired/used/revoked) or PERMISSION_DENIED (over the ceiling).
   */
  check(token: string, role: string, scopes: readonly string[]): BootstrapTokenInfo {
    const record = this.find(token);
    this.assertUsable(record);
    if (record.role !== role) throw errors.denied('TOKEN_ROLE', `bootstrap token allows role ${record.role}, not ${role}`);
    const over = scopes.filter((s) => !scopeSatisfied(record.scopes, s));
    if (over.length > 0) throw errors.denied('TOKEN_SCOPE', `bootstrap token does not allow scope ${over.join(', ')}`);
    return info(record);
  }

  /** What a valid, usable token allows (its role and scopes), without using it. */
  inspect(token: string): BootstrapTokenInfo {
    const record = this.find(token);
    this.assertUsable(record);
    return info(record);
  }

  /** Consumes one use atomically; throws if the token became unusable meanwhile. */
  async consume(token: string): Promise<void> {
    const id = this.idOf(token);
    await this.store.mutate((tx) => {
      const t = tx.get(id);
      if (!t) throw errors.unauthenticated('TOKEN_INVALID', 'bootstrap token is not valid');
      this.assertUsable(t);
      t.usesLeft -= 1;
      tx.put(t);
    });
  }

  /** Returns a use taken by `consume` when the approval it paid for failed. */
  async giveBack(token: string): Promise<void> {
    const id = this.idOf(token);
    await this.store.mutate((tx) => {
      const t = tx.get(id);
      if (!t) return;
      t.usesLeft += 1;
      tx.put(t);
    });
  }

  private idOf(token: string): string {
    const m = /^ocbt_([0-9a-f]{12})\.[A-Za-z0-9_-]+$/.exec(token ?? '');
    if (!m) throw errors.unauthenticated('TOKEN_INVALID', 'bootstrap token is not valid');
    return m[1];
  }

  private find(token: string): StoredToken {
    const record = this.store.get(this.idOf(token));
    const presented = Buffer.from(hashToken(token), 'hex');
    const stored = Buffer.from(record?.hash ?? '00'.repeat(32), 'hex');
    if (!record || !timingSafeEqual(presented, stored)) throw errors.unauthenticated('TOKEN_INVALID', 'bootstrap token is not valid');
    return record;
  }

  private assertUsable(t: StoredToken): void {
    if (t.revoked) throw errors.unauthenticated('TOKEN_REVOKED', 'bootstrap token was revoked');
    if (t.expiresAt <= this.clock.now()) throw errors.unauthenticated('TOKEN_EXPIRED', 'bootstrap token has expired');
    if (t.usesLeft <= 0) throw errors.unauthenticated('TOKEN_USED', 'bootstrap token has no uses left');
  }
}
