/**
 * Bootstrap tokens over the files backend: which roles a token may grant, what "no
 * scopes" means, single use (a use consumed only when spent, given back on failure),
 * and the one-time import of an earlier release's bootstrap-tokens.json.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../../src/clock';
import { DEFAULT_SCOPES, hashToken } from '../../../src/identity';
import { silentLogger } from '../../../src/logging';
import { BootstrapTokens, openTokens } from '../../../src/services/pairing/bootstrap-tokens';
import { openStore } from '../../../src/store/open-store';
import type { StoreBackend } from '../../../src/store/collection';
import { caught, makeTempDir, removeTempDir } from '../helpers';

let dir: string;
let store: StoreBackend;
let tokens: BootstrapTokens;
const clock = new ManualClock(1_000_000);
beforeEach(async () => {
  dir = makeTempDir('tokens');
  store = await openStore({ stateDir: dir, log: silentLogger() });
  tokens = new BootstrapTokens(await openTokens(store, join(dir, 'bootstrap-tokens.json')), clock);
});
afterEach(async () => {
  await store.close();
  removeTempDir(dir);
});

const create = (role: string, scopes: string[] = []) => tokens.create({ label: 'x', role, scopes, ttlMs: 600_000, uses: 1 });

test('a token cannot grant the bridge role (INVALID_ARGUMENT, TOKEN_ROLE_NOT_ALLOWED), with or without scopes; nothing is stored', async () => {
  for (const scopes of [[], ['operator.read']]) {
    const err = await caught(() => create('bridge', scopes));
    expect({ code: err.code, reason: err.reason }).toEqual({ code: 'INVALID_ARGUMENT', reason: 'TOKEN_ROLE_NOT_ALLOWED' });
    expect(err.message).toContain('cannot grant role bridge (allowed: operator, node, backend)');
    expect(err.message).toContain('certs-tools issue --role bridge');
  }
  expect(tokens.list()).toEqual([]);
});

test('every other role can be granted; no scopes means the role\'s defaults', async () => {
  for (const role of ['operator', 'node', 'backend'] as const) {
    expect((await create(role)).info).toMatchObject({ role, scopes: [...DEFAULT_SCOPES[role]] });
  }
  expect((await create('operator', ['operator.read'])).info.scopes).toEqual(['operator.read']);
});

test('a use is spent once; a given-back use can be spent again; the secret is never stored', async () => {
  const { token, info } = await create('operator', ['operator.read']);
  expect(tokens.check(token, 'operator', ['operator.read']).tokenId).toBe(info.tokenId);
  await tokens.consume(token);
  expect((await caught(() => tokens.consume(token))).reason).toBe('TOKEN_USED');
  await tokens.giveBack(token);
  await tokens.consume(token);
  expect(tokens.list()[0].usesLeft).toBe(0);
  expect(JSON.stringify(tokens.list())).not.toContain(token.split('.')[1]);
  await tokens.revoke(info.tokenId);
  expect((await caught(() => tokens.inspect(token))).reason).toBe('TOKEN_REVOKED');
});

test('a bootstrap-tokens.json of an earlier release is imported once; its tokens keep working', async () => {
  const d2 = makeTempDir('tokens-legacy');
  const token = 'ocbt_0123456789ab.secretsecretsecret';
  const legacy = join(d2, 'bootstrap-tokens.json');
  writeFileSync(
    legacy,
    JSON.stringify({ version: 1, tokens: { '0123456789ab': { tokenId: '0123456789ab', hash: hashToken(token), label: 'old', role: 'operator', scopes: ['operator.read'], createdAt: 1, expiresAt: 2_000_000, usesLeft: 1, revoked: false } } }),
  );
  const s2 = await openStore({ stateDir: d2, log: silentLogger() });
  try {
    const imported = new BootstrapTokens(await openTokens(s2, legacy), clock);
    expect(imported.inspect(token)).toMatchObject({ tokenId: '0123456789ab', label: 'old', usesLeft: 1 });
    expect(existsSync(legacy)).toBe(false);
    expect(existsSync(`${legacy}.imported`)).toBe(true);
  } finally {
    await s2.close();
    removeTempDir(d2);
  }
});
