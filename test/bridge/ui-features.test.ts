/**
 * The calls the legacy Control UI (openclaw 2026.9.6) makes on its deeper pages (skills,
 * memory, memory import, search, appearance, profile, meetings, worktrees, debug), against
 * a real gateway and bridge: each read answers the real gateway's shape of an empty or
 * unavailable feature (quoted), each change to a feature this gateway lacks is refused
 * UNAVAILABLE, scopes are those of the real gateway, and other names stay unknown.
 */
import { startBridgeFixture, type BridgeFixture } from './fixture';
import type { LegacyClient } from './legacy-client';

const UI_SCOPES = ['operator.admin', 'operator.read', 'operator.write', 'operator.approvals', 'operator.questions', 'operator.pairing'];
const UI_CLIENT = { id: 'openclaw-control-ui', version: '2026.9.6', platform: 'Linux x86_64', mode: 'webchat' };

let f: BridgeFixture;
let ui: LegacyClient;
let reader: LegacyClient;
let helloMethods: string[];

beforeAll(async () => {
  f = await startBridgeFixture();
  const device = await f.pairDevice(UI_SCOPES);
  const { client, hello } = await f.deviceClient(device, UI_SCOPES, { client: UI_CLIENT });
  if (!hello.ok) throw new Error(`UI connect failed: ${JSON.stringify(hello.error)}`);
  ui = client;
  helloMethods = hello.payload.features.methods;
  reader = await f.tokenClient();
});
afterAll(async () => {
  await f.close();
});

const ok = (c: LegacyClient, method: string, params?: unknown): Promise<any> => c.payloadOf(method, params);

const NO_GITHUB = {
  source: 'system-detected',
  credentialKind: 'native',
  credentialState: 'unavailable',
  account: null,
  gitAuthor: { name: null, email: null },
  evidence: 'none',
  accessExpiresAtMs: null,
  refreshState: 'not_applicable',
  oauthScopes: [],
  repositoryGrants: 'unknown',
};

/** The page calls with the params the UI sends, and what the real gateway answered (quoted where ours differs by design). */
const PAGE_CALLS: [method: string, params: unknown, expected: unknown][] = [
  // /skills, /settings/skills. Real: {workspaceDir, managedSkillsDir, agentId:"main", skills:[...bundled skills]}.
  ['skills.status', { agentId: 'main' }, { workspaceDir: '', managedSkillsDir: '', agentId: 'main', skills: [] }],
  // Real: {entries:[], profileId:"gateway-owner", multipleProfiles:false, defaultTarget:"workspace", canManageWorkspace:true, defaultSelectionLimit:64}.
  ['skills.library.list', { scope: 'all' }, { entries: [], profileId: null, multipleProfiles: false, defaultTarget: 'workspace', canManageWorkspace: false, defaultSelectionLimit: 64 }],
  // /plugins. Real: {results:[...]} (UNAVAILABLE when its registry is unreachable).
  ['skills.search', { limit: 20 }, { results: [] }],
  // /skills/workshop. Real: the same empty manifest.
  ['skills.proposals.list', { agentId: 'main' }, { schema: 'openclaw.skill-workshop.proposals-manifest.v1', updatedAt: '1970-01-01T00:00:00.000Z', proposals: [], installedSkills: [] }],
  // /settings/memory. Real without a memory search manager: {agentId, searchRuntimeRegistered:false, embedding:{ok:false, error}}.
  ['doctor.memory.status', { agentId: 'main' }, { agentId: 'main', searchRuntimeRegistered: false, embedding: { ok: false, error: 'memory search is not available on this gateway' } }],
  // /memory-import. Real: {agentId, workspace, providers:[{providerId:"claude", found:false, ...}, {providerId:"hermes", ...}]}.
  ['migrations.memory.plan', { agentId: 'main', overwrite: false }, { agentId: 'main', workspace: '', providers: [] }],
  // /settings/search. Real: {enabled, provider:null, agentId, model:{provider, id, runtime:"unknown", runtimeLabel:"Not resolved"}, providers:[...], route}.
  [
    'webSearch.status',
    { agentId: 'main' },
    {
      enabled: false,
      provider: null,
      agentId: 'main',
      model: { provider: 'builtin', id: expect.any(String), runtime: 'unknown', runtimeLabel: 'Not resolved' },
      providers: [],
      route: { kind: 'unavailable', label: 'Search unavailable', testable: false, reason: 'Web search is not available on this gateway: its agents have no tools.' },
    },
  ],
  // /settings/appearance, /settings/general. Real: {current:{id:"claw", mode:"system", scope, overrides:{}}, theme:{...claw}, themes:[11 builtin themes]}.
  [
    'themes.list',
    {},
    {
      current: { id: 'claw', mode: 'system', scope: 'gateway', overrides: {} },
      theme: { id: 'claw', name: 'Claw', description: expect.any(String), source: 'builtin', modes: ['light', 'dark'] },
      themes: [{ id: 'claw', name: 'Claw', description: expect.any(String), source: 'builtin', modes: ['light', 'dark'] }],
    },
  ],
  // /settings/profile. Real (no GitHub credentials): this shape.
  ['tools.github.status', { agentId: 'main', selectedScope: 'system' }, { agentId: 'main', selectedScope: 'system', selected: { scope: 'system', configured: false, identity: NO_GITHUB }, effective: NO_GITHUB }],
  // /meetings. Real: {sessions:[], nextCursor:null}.
  ['transcripts.list', { limit: 50 }, { sessions: [], nextCursor: null }],
  // /worktrees. Real: {worktrees:[]}.
  ['worktrees.list', {}, { worktrees: [] }],
  // /debug. Real: {ts, lanes:[...command-queue lanes], dynamic:null}.
  ['diagnostics.lanes', {}, { ts: expect.any(Number), lanes: [], dynamic: null }],
];

test.each(PAGE_CALLS)('%s answers the real shape', async (method, params, expected) => {
  expect(await ok(ui, method, params)).toEqual(expected);
});

test('hello-ok lists the new methods; the read-only ones work for a read-only client', async () => {
  expect(helloMethods).toEqual(expect.arrayContaining([...PAGE_CALLS.map(([m]) => m), 'config.schema.lookup']));
  for (const [method, params] of PAGE_CALLS) {
    if (method === 'migrations.memory.plan') continue; // operator.admin (below)
    expect((await reader.request(method, params)).ok).toBe(true);
  }
});

test('methods that take an agent refuse an unknown one', async () => {
  for (const method of ['skills.status', 'doctor.memory.status', 'webSearch.status', 'tools.github.status', 'migrations.memory.plan', 'skills.proposals.list']) {
    expect((await ui.request(method, { agentId: 'nobody' })).error).toEqual({ code: 'INVALID_REQUEST', message: `invalid ${method} params: unknown agent id "nobody"` });
  }
});

test('config.schema.lookup: a path this config does not have gets the real "path not found"; one it has is unavailable (no JSON schema here)', async () => {
  // The Memory page asks for its plugin's config; there are no plugins here. Real, for a path it lacks: this error.
  expect((await ui.request('config.schema.lookup', { path: 'plugins.entries.memory-core.config' })).error).toEqual({ code: 'INVALID_REQUEST', message: 'config schema path not found' });
  expect((await ui.request('config.schema.lookup', { path: 'agents.list' })).error).toEqual({
    code: 'UNAVAILABLE',
    message: 'Config schema lookup is not available on this gateway.',
    details: { code: 'FEATURE_UNAVAILABLE', method: 'config.schema.lookup' },
  });
  expect((await ui.request('config.schema.lookup', {})).error).toEqual({ code: 'INVALID_REQUEST', message: 'invalid config.schema.lookup params: path is required' });
  // Not a config path (too long, odd characters): refused before anything is looked up.
  const notAPath = { code: 'INVALID_REQUEST', message: 'invalid config.schema.lookup params: path must be a config path: 1 to 1024 letters, digits and _ . / [ ] - *' };
  for (const path of ['a'.repeat(1025), 'agents list', 'agents;drop', '__proto__"']) expect((await ui.request('config.schema.lookup', { path })).error).toEqual(notAPath);
  // Path characters, but no section of this config: not found.
  for (const path of ['plugins.entries.x[0].*', '../../etc', 'a'.repeat(1024)]) expect((await ui.request('config.schema.lookup', { path })).error).toEqual({ code: 'INVALID_REQUEST', message: 'config schema path not found' });
});

test('tools.github.status: selectedScope is "system" or "agent", nothing else is echoed back', async () => {
  expect(await ok(ui, 'tools.github.status', { agentId: 'main', selectedScope: 'agent' })).toMatchObject({ selectedScope: 'agent', selected: { scope: 'agent', configured: false } });
  for (const selectedScope of ['bogus', 'x'.repeat(100_000)]) {
    expect((await ui.request('tools.github.status', { agentId: 'main', selectedScope })).error).toEqual({ code: 'INVALID_REQUEST', message: 'invalid tools.github.status params: selectedScope must be "system" or "agent"' });
  }
});

test('an unknown agent id is quoted cut to 64 characters: an answer never echoes an unbounded input', async () => {
  const long = 'n'.repeat(200_000);
  const err = (await ui.request('skills.status', { agentId: long })).error;
  expect(err).toEqual({ code: 'INVALID_REQUEST', message: `invalid skills.status params: unknown agent id "${'n'.repeat(64)}…"` });
});

describe('changes to features this gateway lacks are refused, never pretended', () => {
  test('they are not listed in hello-ok, so the UI keeps their controls off (e.g. "Update now")', () => {
    const refused = ['skills.install', 'skills.update', 'skills.library.save', 'skills.proposals.create', 'migrations.memory.apply', 'themes.set', 'webSearch.test', 'tools.github.configure', 'worktrees.create', 'update.run', 'talk.session.create', 'talk.client.create'];
    expect(helloMethods.filter((m) => refused.includes(m))).toEqual([]);
    // The reads of the same features are listed.
    expect(helloMethods).toEqual(expect.arrayContaining(['skills.status', 'update.status', 'tools.github.status', 'webSearch.status']));
  });

  test.each([
    ['skills.install', { name: 'weather', installId: 'brew' }, 'Skills'],
    ['skills.update', { skillKey: 'weather', enabled: true }, 'Skills'],
    ['skills.library.save', { content: '# skill' }, 'Skills'],
    ['skills.library.import', {}, 'Skills'],
    ['skills.proposals.create', { agentId: 'main' }, 'Skills'],
    ['migrations.memory.apply', { agentId: 'main' }, 'Memory import'],
    ['themes.set', { id: 'knot' }, 'Syncing themes'],
    ['webSearch.test', { agentId: 'main' }, 'Web search'],
    ['tools.github.configure', {}, 'GitHub access for agents'],
    ['worktrees.create', {}, 'Worktrees'],
    ['update.run', {}, 'Self-update'],
  ])('%s: UNAVAILABLE', async (method, params, feature) => {
    expect((await ui.request(method, params)).error).toEqual({ code: 'UNAVAILABLE', message: `${feature} is not available on this gateway.`, details: { code: 'FEATURE_UNAVAILABLE', method } });
  });

  test('a device with only operator.talk is told talk is unavailable', async () => {
    const device = await f.pairDevice(['operator.talk']);
    const { client, hello } = await f.deviceClient(device, ['operator.talk']);
    expect(hello.ok).toBe(true);
    for (const method of ['talk.session.create', 'talk.client.create']) {
      expect((await client.request(method, {})).error).toEqual({ code: 'UNAVAILABLE', message: 'Talk is not available on this gateway.', details: { code: 'FEATURE_UNAVAILABLE', method } });
    }
  });

  test('a refusal still checks params first', async () => {
    expect((await ui.request('skills.install', 'weather')).error).toEqual({ code: 'INVALID_REQUEST', message: 'invalid skills.install params: params must be an object' });
  });
});

describe('scopes', () => {
  const missing = (scope: string) => ({ code: 'FORBIDDEN', message: expect.stringMatching(new RegExp(`^missing scope: ${scope.replace('.', '\\.')}`)), details: { code: 'MISSING_SCOPE', missingScope: scope, requiredScopes: [scope] } });

  // Real gateway's scope table (2026.9.6).
  test.each([
    ['migrations.memory.plan', 'operator.admin'],
    ['migrations.memory.apply', 'operator.admin'],
    ['skills.install', 'operator.admin'],
    ['skills.update', 'operator.admin'],
    ['skills.proposals.create', 'operator.admin'],
    ['skills.library.save', 'operator.write'],
    ['themes.set', 'operator.write'],
    ['worktrees.create', 'operator.write'],
    ['webSearch.test', 'operator.admin'],
    ['tools.github.configure', 'operator.admin'],
    ['update.run', 'operator.admin'],
    ['talk.session.create', 'operator.talk'],
  ])('a read-only client calling %s is told %s is missing', async (method, scope) => {
    expect((await reader.request(method, { agentId: 'main' })).error).toEqual(missing(scope));
  });

  test('names not in the table stay unknown methods', async () => {
    for (const method of ['skills.uninstall', 'themes.delete', 'doctor.memory.nope']) {
      expect((await ui.request(method, {})).error).toEqual({ code: 'INVALID_REQUEST', message: `unknown method: ${method}` });
    }
  });
});
