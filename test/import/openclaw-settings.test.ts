/**
 * openclaw.json (with the folder's .env) -> what carries over: the shared token (written in
 * the config, a `${VAR}` kept in the install's .env, or OPENCLAW_GATEWAY_TOKEN there), the
 * OpenAI provider by environment variable name only, and the agents that use it.
 */
import { planSettings } from '../../src/import/openclaw/settings';

const token = (cfg: Record<string, unknown>, env: Record<string, string> = {}) => {
  const p = planSettings(cfg, env);
  return { sharedToken: p.sharedToken, item: p.items.find((i) => i.kind === 'shared-token') };
};

test('the shared token: written in openclaw.json, from the install\'s .env, or not carried (with why)', () => {
  expect(token({ gateway: { auth: { mode: 'token', token: 'abc' } } })).toMatchObject({ sharedToken: 'abc', item: { outcome: 'imported', source: 'gateway.auth.token' } });
  expect(token({ gateway: { auth: { mode: 'token', token: '${MY_TOKEN}' } } }, { MY_TOKEN: 'from-env-file' })).toMatchObject({ sharedToken: 'from-env-file', item: { outcome: 'imported', source: 'MY_TOKEN (from the install\'s .env)' } });
  expect(token({ gateway: {} }, { OPENCLAW_GATEWAY_TOKEN: 'env-token' })).toMatchObject({ sharedToken: 'env-token', item: { outcome: 'imported' } });
  expect(token({ gateway: { auth: { mode: 'password', password: 'pw' } } })).toMatchObject({ sharedToken: 'pw', item: { outcome: 'imported', notes: [expect.stringContaining('password here is the shared token'), expect.stringContaining('a bridge run as its own process')] } });
  expect(token({ gateway: { auth: { mode: 'token', token: '${NOT_THERE}' } } })).toMatchObject({ sharedToken: undefined, item: { outcome: 'skipped', reason: expect.stringContaining('NOT_THERE') } });
  expect(token({ gateway: { auth: { mode: 'none' } } })).toMatchObject({ sharedToken: undefined, item: { outcome: 'skipped', reason: expect.stringContaining('auth mode "none"') } });
  expect(token({ gateway: { auth: { mode: 'token' } } })).toMatchObject({ sharedToken: undefined, item: { outcome: 'skipped', reason: 'no token set in openclaw.json' } });
});

test('the OpenAI provider is carried by environment variable name only; a key written in the config is not', () => {
  const byEnv = planSettings({ models: { providers: { openai: { apiKey: '${OPENAI_API_KEY}' } } }, agents: { defaults: { model: { primary: 'openai/gpt-4o' } }, list: [{ id: 'main', default: true }] } });
  expect(byEnv.openai).toEqual({ baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o', apiKeyEnv: 'OPENAI_API_KEY' });
  expect(byEnv.agents).toEqual([{ id: 'main', name: 'main', provider: 'openai', model: 'gpt-4o' }]);
  expect(byEnv.defaultAgent).toBe('main');

  const written = planSettings({ models: { providers: { openai: { apiKey: 'sk-written-in-the-file' }, anthropic: { apiKey: '${A}' } } }, agents: { list: [{ id: 'main', model: 'openai/gpt-4o' }, { id: 'claude', model: 'anthropic/claude' }] } });
  expect(written.openai).toBeUndefined();
  expect(JSON.stringify(written)).not.toContain('sk-written-in-the-file');
  const reasons = Object.fromEntries(written.items.map((i) => [i.source, `${i.outcome}: ${i.reason}`]));
  expect(reasons['models.providers.openai']).toMatch(/^skipped: its API key is written in openclaw.json/);
  expect(reasons['models.providers.anthropic']).toMatch(/^skipped: no equivalent provider here/);
  expect(reasons['agents.list main']).toMatch(/^skipped: its model openai\/gpt-4o has no provider here/);
  expect(reasons['agents.list claude']).toMatch(/^skipped: its model anthropic\/claude has no provider here/);
  expect(written.agents).toEqual([]);
});
