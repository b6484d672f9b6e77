/** Bootstrap tokens: which roles a token may grant, and what "no scopes" means. */
import { join } from 'node:path';
import { ManualClock } from '../../../src/clock';
import { DEFAULT_SCOPES } from '../../../src/identity';
import { BootstrapTokens } from '../../../src/services/pairing/bootstrap-tokens';
import { caught, makeTempDir, removeTempDir } from '../helpers';

let dir: string;
let tokens: BootstrapTokens;
beforeEach(() => {
  dir = makeTempDir('tokens');
  tokens = new BootstrapTokens(join(dir, 'bootstrap-tokens.json'), new ManualClock(1_000_000));
});
afterEach(() => removeTempDir(dir));

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

test('every other role can be granted; no scopes means the role\'s defaults', () => {
  for (const role of ['operator', 'node', 'backend'] as const) {
    expect(create(role).info).toMatchObject({ role, scopes: [...DEFAULT_SCOPES[role]] });
  }
  expect(create('operator', ['operator.read']).info.scopes).toEqual(['operator.read']);
});
