/**
 * Every call the legacy Control UI (openclaw 2026.9.6) makes at startup and on its main
 * pages, with the params it sends, against a real gateway and bridge: each answers with
 * the fields the UI reads (compared with the real gateway's answers, quoted), real values
 * come from the gateway's services, and features this gateway lacks answer empty in the
 * real shape, never "unknown method".
 */
import { CronService } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { cliFor } from '../cli/cli-harness';
import { useTmpDirs } from '../helpers/tmp';
import { LEGACY_TOKEN, PAIRING_CLOSE, startBridgeFixture, type BridgeFixture } from './fixture';
import { connectParams, newLegacyDevice, signDevice, type LegacyClient } from './legacy-client';

/** The scopes the Control UI asks for in its connect. */
const UI_SCOPES = ['operator.admin', 'operator.read', 'operator.write', 'operator.approvals', 'operator.questions', 'operator.pairing'];
const UI_CLIENT = { id: 'openclaw-control-ui', version: '2026.9.6', platform: 'Linux x86_64', mode: 'webchat' };

const tmp = useTmpDirs('openclaw-control-ui-');
let f: BridgeFixture;
let ui: LegacyClient;
let reader: LegacyClient;
let helloMethods: string[];
let helloSnapshot: any;

beforeAll(async () => {
  f = await startBridgeFixture();
  const device = await f.pairDevice(UI_SCOPES);
  const { client, hello } = await f.deviceClient(device, UI_SCOPES, { client: UI_CLIENT });
  if (!hello.ok) throw new Error(`UI connect failed: ${JSON.stringify(hello.error)}`);
  ui = client;
  helloMethods = hello.payload.features.methods;
  helloSnapshot = hello.payload.snapshot;
  reader = await f.tokenClient();
});
afterAll(async () => {
  await f.close();
});

const ok = (c: LegacyClient, method: string, params?: unknown): Promise<any> => c.payloadOf(method, params);

/** The startup and page calls, with the params the UI sends, and the shape the real gateway answered. */
const UI_CALLS: [method: string, params: unknown, expected: unknown][] = [
  // Real: {subscribed:true}
  ['sessions.subscribe', {}, { subscribed: true }],
  // Real: {sentinel:null, updateAvailable:null, effectiveChannel:"stable", schedule:{channel:"stable", autoEnabled:false, install:{kind:"package"}}}
  ['update.status', {}, { sentinel: null, updateAvailable: null, effectiveChannel: 'stable', schedule: { channel: 'stable', autoEnabled: false, install: { kind: 'package' } } }],
  // Real: {revision:"<sha256 hex>", plugins:[], diagnostics:[]}
  ['plugins.controlUi.list', {}, { revision: expect.stringMatching(/^[0-9a-f]{64}$/), plugins: [], diagnostics: [] }],
  // Real: [] for all three
  ['exec.approval.list', {}, []],
  ['plugin.approval.list', {}, []],
  ['openclaw.approval.list', {}, []],
  // Real: {surface:"canvas", pluginSurfaceUrls:{canvas:"<capability url>"}}; no surfaces here
  ['plugin.surface.refresh', { surface: 'canvas', observedUrl: 'http://127.0.0.1/__openclaw__/cap/x' }, { surface: 'canvas', pluginSurfaceUrls: {} }],
  // Real: {ok:true}
  ['sessions.observer.visibility', { visible: true }, { ok: true }],
  // Real: {questions:[]}
  ['question.list', {}, { questions: [] }],
  // Real (client without a user profile): {status:"no_durable_identity"}
  ['users.prefs.get', { keys: ['ui.theme', 'ui.themeMode'] }, { status: 'no_durable_identity' }],
  // Real: {sessionKey:"agent:main:main", revision:0, tabs:[], widgets:[]}
  ['board.get', { sessionKey: 'agent:main:main', agentId: 'main' }, { sessionKey: 'agent:main:main', revision: 0, tabs: [], widgets: [] }],
  // Real: {projects:[{id:"workspace:main", ...}]}: agents here have no workspace
  ['projects.list', {}, { projects: [] }],
  // Real: {sessionKeys:["agent:main:main"]}
  ['sessions.viewers.set', { sessionKeys: ['agent:main:main'] }, { sessionKeys: ['agent:main:main'] }],
  // Real: {modes, transports, brains, speech:{providers}, transcription:{ready, providers}, realtime:{ready, providers}}
  ['talk.catalog', {}, { modes: [], transports: [], brains: [], speech: { providers: [] }, transcription: { ready: false, providers: [] }, realtime: { ready: false, providers: [] } }],
  // Real: {subscribed:true, key, approvalReplay:{sessionKey, updatedAtMs, approvals:[], truncated:false}}
  [
    'sessions.messages.subscribe',
    { key: 'agent:main:main', includeApprovals: true },
    { subscribed: true, key: 'agent:main:main', approvalReplay: { sessionKey: 'agent:main:main', updatedAtMs: expect.any(Number), approvals: [], truncated: false } },
  ],
  // Real: {subscribed:false, key}
  ['sessions.messages.unsubscribe', { key: 'agent:main:main' }, { subscribed: false, key: 'agent:main:main' }],
  // Real: {groups:[], sectionOrder:[]}, {defaults:[]}
  ['sessions.groups.list', {}, { groups: [], sectionOrder: [] }],
  ['sessions.groups.defaults', {}, { defaults: [] }],
  // Real: {card:null}, {suggestions:[]}, {state:"none"}, {exchanges:[]}, {branches:[]}, {tasks:[]}, {subscribed:true}
  ['progressCard.get', { sessionKey: 'agent:main:main' }, { card: null }],
  ['taskSuggestions.list', { agentId: 'main' }, { suggestions: [] }],
  ['session.discussion.info', { sessionKey: 'agent:main:main', agentId: 'main' }, { state: 'none' }],
  ['sessions.companion.state', { sessionKey: 'agent:main:main', agentId: 'main' }, { exchanges: [] }],
  ['sessions.branches.list', { sessionKey: 'agent:main:main' }, { branches: [] }],
  ['tasks.list', { sessionKey: 'agent:main:main', agentId: 'main', status: ['queued', 'running'], limit: 200 }, { tasks: [] }],
  ['controlUi.sessionPullRequests.subscribe', { sessionKeys: ['agent:main:main'] }, { subscribed: true }],
  // Real: {gatewayInstanceId, revision:0, items:[]}
  ['mentions.list', {}, { revision: 0, items: [] }],
  // Real: {catalogs:[{id:"claude", ...}]}: no native agent CLIs here
  ['sessions.catalog.list', { agentId: 'main', limitPerHost: 40, allowPartialResults: true }, { catalogs: [] }],
  // Real: {ts, channelOrder:[], channelLabels:{}, ..., channels:{}, channelAccounts:{}, channelDefaultAccountId:{}, statusIssues:[]}
  [
    'channels.status',
    { probe: false, timeoutMs: 8000 },
    { ts: expect.any(Number), channelOrder: [], channelLabels: {}, channelDetailLabels: {}, channelSystemImages: {}, channelMeta: [], channels: {}, channelAccounts: {}, channelDefaultAccountId: {}, statusIssues: [] },
  ],
  // Pages beyond the main ones (/plugins, /activity, /settings/approvals, /settings/channels), found by driving the UI.
  // Real: {plugins:[...], diagnostics, mutationAllowed:true, generation:2}; {artifacts:[]}; {items:[]};
  // {accounts:[], requests:[], commandOwnerConfigured:false, limits:{pendingPerAccount:3, ttlMs:3600000}} (the UI reads limits unguarded)
  ['plugins.list', {}, { plugins: [], diagnostics: [], mutationAllowed: false, generation: 0 }],
  ['artifacts.list', { sessionKey: 'agent:main:main', agentId: 'main', type: 'image', limit: 4 }, { artifacts: [] }],
  ['approval.history', { limit: 50 }, { items: [] }],
  ['channels.pairing.list', {}, { accounts: [], requests: [], commandOwnerConfigured: false, limits: { pendingPerAccount: 0, ttlMs: 0 } }],
  // Real: {items:[...], remoteError}; {grants:[]}
  ['plugins.catalog.browse', { intent: 'all', pageSize: 100 }, { items: [] }],
  ['exec.approval.grants.list', {}, { grants: [] }],
  // Real: {ts, nodes:[]}
  ['node.list', {}, { ts: expect.any(Number), nodes: [] }],
  // Real: null
  ['last-heartbeat', {}, null],
  // Real: {updatedAt, providers:[]}
  ['usage.status', {}, { updatedAt: expect.any(Number), providers: [] }],
  // Real: {path, exists, file:{version, ...}, hash, resolvedDefaults:{security, ask, askFallback, autoAllowSkills}}
  [
    'exec.approvals.get',
    {},
    { path: '', exists: false, file: { version: 1, defaults: {}, agents: {} }, hash: '', resolvedDefaults: { security: 'deny', ask: 'off', askFallback: 'deny', autoAllowSkills: false } },
  ],
  // Real: {environments:[{id:"gateway", type:"local", label, status:"available", platform, sessionHost:true, trust, capabilities}]}
  [
    'environments.list',
    {},
    { environments: [{ id: 'gateway', type: 'local', label: 'Gateway', status: 'available', platform: expect.any(String), sessionHost: true, trust: 'persistent', capabilities: ['agent.run', 'sessions'] }] },
  ],
  // Real: {sessionKey, members, identities, role, ...}
  ['session.members.listEvidence', { sessionKey: 'agent:main:main', agentId: 'main' }, { sessionKey: 'agent:main:main', members: [], identities: [] }],
  // Real: {models:[...]} (none configured there); here the built-in provider's model
  ['models.list', { view: 'configured', sessionKey: 'agent:main:main', agentId: 'main' }, { models: [{ id: 'builtin-echo', name: 'builtin-echo', provider: 'builtin', input: ['text'], contextWindow: null, local: true, available: true, tags: [] }] }],
  // Real: {ts, providers:[], providerCapabilities:[...]} (no provider signs in from a client here)
  ['models.authStatus', { agentId: 'main' }, { ts: expect.any(Number), providers: [], providerCapabilities: [] }],
  // Real: {agentId:"main", name:"Assistant", nameSource:"default", avatar:"A"}; here the agent's configured name
  ['agent.identity.get', { agentId: 'main' }, { agentId: 'main', name: expect.any(String), nameSource: expect.stringMatching(/^(config|default)$/), avatar: expect.stringMatching(/^.$/) }],
];

test.each(UI_CALLS)('%s answers the real shape', async (method, params, expected) => {
  expect(helloMethods).toContain(method);
  expect(await ok(ui, method, params)).toEqual(expected);
});

test('hello-ok lists every method the UI calls (and the method table has no duplicates)', () => {
  const uiCalls = ['sessions.list', 'config.get', 'agents.list', 'openclaw.setup.detect', 'chat.startup', 'chat.history', 'chat.metadata', 'chat.send', 'sessions.describe', 'sessions.patch', 'system.info', 'sessions.usage'];
  uiCalls.push('cron.list', 'cron.status', 'cron.runs', 'cron.add', 'cron.update', 'cron.run', 'cron.remove', 'device.pair.list', 'device.pair.approve', 'device.pair.reject', 'system-presence', 'logs.tail');
  for (const m of uiCalls) expect(helloMethods).toContain(m);
  expect(new Set(helloMethods).size).toBe(helloMethods.length);
});

test('hello-ok snapshot.sessionDefaults: the main session the UI opens first', () => {
  // Real: {defaultAgentId:"main", modelConfigured:false, ownership:"sole", selectionRequired:false, mainKey:"main",
  // mainSessionKey:"agent:main:main", scope:"per-sender"} (no model was configured there).
  expect(helloSnapshot.sessionDefaults).toEqual({ defaultAgentId: 'main', modelConfigured: true, selectionRequired: false, mainKey: 'main', mainSessionKey: 'agent:main:main', scope: 'per-sender' });
});

test('sessions.list: the defaults the UI reads unguarded, paging, and the sessions of the asked agent', async () => {
  // Real: {ts, path, count, totalCount, limitApplied, nextOffset, hasMore, owners, defaults:{modelProvider, model,
  // contextTokens, agentRuntime, thinkingLevels, thinkingOptions, thinkingDefault, modelSelectionTarget}, sessions}
  for (const key of ['ui-list-a', 'ui-list-b', 'ui-list-c']) await ok(ui, 'sessions.create', { key });
  const params = { includeGlobal: true, includeUnknown: true, configuredAgentsOnly: true, limit: 2, includeDerivedTitles: true, includeLastMessage: true, ownerFirst: true, agentId: 'main' };
  const first = await ok(ui, 'sessions.list', params);
  expect(first).toMatchObject({ ts: expect.any(Number), path: '', count: 2, limitApplied: 2, hasMore: true, nextOffset: 2, owners: [] });
  expect(first.defaults).toEqual({
    modelProvider: 'builtin',
    model: 'builtin-echo',
    contextTokens: null,
    agentRuntime: { id: 'gateway', cloudPlacementSupported: false, devicePlacementSupported: false, source: 'implicit' },
    thinkingLevels: [],
    thinkingOptions: [],
    thinkingDefault: 'off',
    modelSelectionTarget: 'agent',
  });
  expect(first.totalCount).toBeGreaterThanOrEqual(3);
  expect(first.sessions[0]).toMatchObject({ kind: 'direct', agentId: 'main', archived: false, pinned: false, unread: false, modelProvider: 'builtin', model: 'builtin-echo' });
  // No turn running: the status column's "Idle" (hasActiveRun false, no status), not "Unknown".
  expect(first.sessions[0]).toMatchObject({ hasActiveRun: false });
  expect(first.sessions[0]).not.toHaveProperty('status');
  const rest = await ok(ui, 'sessions.list', { ...params, limit: 200, offset: first.nextOffset });
  expect(rest).toMatchObject({ hasMore: false, nextOffset: null, count: first.totalCount - 2 });
  const keys = [...first.sessions, ...rest.sessions].map((s: { key: string }) => s.key);
  expect(keys).toEqual(expect.arrayContaining(['agent:main:ui-list-a', 'agent:main:ui-list-b', 'agent:main:ui-list-c']));
  expect(await ok(ui, 'sessions.list', { agentId: 'nobody' })).toMatchObject({ count: 0, totalCount: 0, sessions: [] });
});

test('sessions.list: the row fields the sidebar filters on, and no sub-sessions for spawnedBy', async () => {
  await ok(ui, 'sessions.create', { key: 'ui-sidebar-row' });
  const rows = (await ok(ui, 'sessions.list', { includeGlobal: true, includeUnknown: true, configuredAgentsOnly: true, limit: 200, includeDerivedTitles: true, includeLastMessage: true, agentId: 'main' })).sessions;
  // The bundle's sidebar keeps rows that are not archived, of a kind other than "global"/"unknown", whose
  // key names the selected agent (agent:<id>:...) and that no session spawned; it sorts them by updatedAt.
  const row = rows.find((r: { key: string }) => r.key === 'agent:main:ui-sidebar-row');
  expect(row).toMatchObject({ key: 'agent:main:ui-sidebar-row', sessionId: expect.any(String), kind: 'direct', agentId: 'main', archived: false, pinned: false, updatedAt: expect.any(Number), displayName: expect.any(String) });
  expect(row).not.toHaveProperty('spawnedBy');
  for (const r of rows) expect(['global', 'unknown']).not.toContain(r.kind);
  // For the session it shows, the UI asks for the sub-sessions it spawned. Real (agent:main:main after a chat):
  // {count:0, totalCount:0, hasMore:false, sessions:[]}. Answering every session would list each as a child of it.
  const children = await ok(ui, 'sessions.list', { includeGlobal: false, includeUnknown: false, configuredAgentsOnly: true, limit: 10000, spawnedBy: 'agent:main:ui-sidebar-row' });
  expect(children).toMatchObject({ count: 0, totalCount: 0, hasMore: false, nextOffset: null, sessions: [] });
});

test('chat: the composer send streams v4 chat events; history, startup and describe hold the conversation', async () => {
  // Before the first message the main session has no row: real {session:null}; history is empty but well formed.
  const empty = await ok(ui, 'chat.startup', { sessionKey: 'agent:main:main', limit: 80, maxBytes: 262144 });
  expect(empty).toMatchObject({ sessionKey: 'agent:main:main', messages: [], pendingInputs: { items: [], total: 0 }, hasMore: false, totalMessages: 0 });
  expect(empty.defaults).toMatchObject({ modelSelectionTarget: 'agent', model: 'builtin-echo' });
  expect(empty.sessionInfo).toMatchObject({ key: 'agent:main:main', classification: 'main', isMain: true, agentId: 'main' });
  expect(await ok(ui, 'sessions.describe', { key: 'agent:main:main' })).toEqual({ session: null });
  // The UI marks the session it opens as read; nothing to mark yet.
  expect(await ok(ui, 'sessions.patch', { key: 'agent:main:main', agentId: 'main', expectedMarkedUnreadAt: null, unread: false })).toEqual({ ok: true, key: 'agent:main:main', entry: null });

  // What the composer sends (captured from the UI): {sessionKey, message, deliver:false, idempotencyKey}.
  const sent = await ok(ui, 'chat.send', { sessionKey: 'agent:main:main', message: 'three little words', deliver: false, idempotencyKey: 'ui-run-1' });
  expect(sent).toEqual({ runId: 'ui-run-1', status: 'started' });
  const final = await ui.waitFor((e) => e.event === 'chat' && e.payload.runId === 'ui-run-1' && e.payload.state === 'final');
  const reply = 'Echo: three little words (3 words)';
  // Real gateway (chat-broadcast source): a delta is {runId, sessionKey, seq, state:"delta", deltaText:<reply so far>,
  // replace:true, message:{role:"assistant", content:[{type:"text", text:<reply so far>}]}}; the end {state:"final", message}.
  const deltas = ui.events('chat').filter((e) => e.payload.runId === 'ui-run-1' && e.payload.state === 'delta').map((e) => e.payload);
  expect(deltas.length).toBeGreaterThanOrEqual(3);
  for (const d of deltas) {
    expect(d).toMatchObject({ sessionKey: 'agent:main:main', replace: true, message: { role: 'assistant', content: [{ type: 'text', text: d.deltaText }] } });
    expect(reply.startsWith(d.deltaText)).toBe(true);
  }
  expect(deltas.map((d) => d.deltaText.length)).toEqual([...deltas.map((d) => d.deltaText.length)].sort((a, b) => a - b));
  expect(deltas.at(-1)!.deltaText).toBe(reply);
  expect(final.payload).toMatchObject({ sessionKey: 'agent:main:main', message: { role: 'assistant', text: reply, content: [{ type: 'text', text: reply }] } });

  // chat.history after a reload: both messages; the user one carries the idempotency key the UI confirms it by.
  const history = await ok(ui, 'chat.history', { sessionKey: 'agent:main:main', inputRunIds: ['ui-run-1'], limit: 1000 });
  expect(history).toMatchObject({ sessionKey: 'agent:main:main', sessionId: expect.any(String), pendingInputs: { items: [], total: 0 }, inputReceipts: [], hasMore: false, totalMessages: 2 });
  expect(history.defaults).toEqual({ modelProvider: 'builtin', model: 'builtin-echo', contextTokens: null, agentRuntime: expect.objectContaining({ id: 'gateway' }), modelSelectionTarget: 'agent' });
  expect(history.messages).toEqual([
    expect.objectContaining({ role: 'user', content: [{ type: 'text', text: 'three little words' }], idempotencyKey: 'ui-run-1:user', timestamp: expect.any(Number), __openclaw: expect.objectContaining({ seq: 1, idempotencyKey: 'ui-run-1:user' }) }),
    expect.objectContaining({ role: 'assistant', content: [{ type: 'text', text: reply }], __openclaw: expect.objectContaining({ seq: 2, runId: 'ui-run-1' }) }),
  ]);
  expect(history.sessionInfo).toMatchObject({ key: 'agent:main:main', sessionId: history.sessionId, isMain: true, classification: 'main', hasActiveRun: false });
  // A limited page says there is more.
  expect(await ok(ui, 'chat.history', { sessionKey: 'agent:main:main', limit: 1 })).toMatchObject({ hasMore: true, totalMessages: 2, messages: [expect.objectContaining({ role: 'assistant' })] });

  // Real row (includeLastMessage): lastMessagePreview, what the agent card and the sidebar show.
  const rows = (await ok(ui, 'sessions.list', { includeLastMessage: true, agentId: 'main', limit: 200 })).sessions;
  expect(rows.find((r: { key: string }) => r.key === 'agent:main:main')).toMatchObject({ lastMessagePreview: reply, messageCount: 2, isMain: true });
  expect(rows.find((r: { key: string }) => r.key === 'agent:main:ui-list-a')).not.toHaveProperty('lastMessagePreview');
  expect((await ok(ui, 'sessions.list', { agentId: 'main' })).sessions.every((r: object) => !('lastMessagePreview' in r))).toBe(true);

  const described = await ok(ui, 'sessions.describe', { key: 'agent:main:main' });
  expect(described.session).toMatchObject({ key: 'agent:main:main', sessionId: history.sessionId, isMain: true, messageCount: 2 });
  expect(await ok(ui, 'sessions.patch', { key: 'agent:main:main', agentId: 'main', unread: false })).toMatchObject({ ok: true, key: 'agent:main:main', entry: { key: 'agent:main:main', unread: false } });
  expect(await ok(ui, 'chat.metadata', { agentId: 'main', sessionKey: 'agent:main:main' })).toEqual({ models: [expect.objectContaining({ id: 'builtin-echo' })], commands: [], swarmEnabled: false, runtimeSelectionLocked: true });
});

test('Automations: a job made over gRPC is listed with the UI params; add, pause, resume, run now, runs, delete from the UI', async () => {
  const cron = f.t.connect('cli').client(CronService);
  const made = (await unaryCall(cron, cron.addJob, { name: 'grpc-made-job', enabled: true, schedule: { kind: { case: 'everyMs', value: 3_600_000n } }, payload: { kind: { case: 'agentTurn', value: { message: 'hourly check' } } } })).job!;
  const listParams = { agentId: 'main', includeDisabled: true, includeDeliveryPreviews: false, compact: true, limit: 50, offset: 0, enabled: 'all', sortBy: 'nextRunAtMs', sortDir: 'asc' };
  const listed = await ok(ui, 'cron.list', listParams);
  // Real (a job made by cron.add): {id, name, enabled, createdAtMs, updatedAtMs, schedule:{kind:"every", everyMs, anchorMs},
  // sessionTarget, wakeMode, payload:{kind:"agentTurn", message}, state:{nextRunAtMs}, nextRunAtMs, effectiveAgentId:"main"}
  const row = listed.jobs.find((j: { id: string }) => j.id === made.jobId);
  expect(row).toMatchObject({
    name: 'grpc-made-job',
    enabled: true,
    schedule: { kind: 'every', everyMs: 3_600_000 },
    payload: { kind: 'agentTurn', message: 'hourly check' },
    state: { nextRunAtMs: Number(made.nextRunAtMs) },
    nextRunAtMs: Number(made.nextRunAtMs),
    effectiveAgentId: 'main',
  });
  expect(listed).toMatchObject({ total: listed.jobs.length, offset: 0, limit: 50, hasMore: false, nextOffset: null, snapshotRevision: expect.any(String) });

  // "New automation": the params the UI's form sends (captured in a browser: {name, description, agentId, enabled,
  // sessionTarget, wakeMode, delivery, schedule, payload}), with a cron schedule instead of its default 30-minute one.
  const added = await ok(ui, 'cron.add', {
    name: 'ui-made-job',
    description: '',
    agentId: 'main',
    enabled: true,
    sessionTarget: 'isolated',
    wakeMode: 'now',
    schedule: { kind: 'cron', expr: '0 7 * * *', tz: 'UTC' },
    payload: { kind: 'agentTurn', message: 'good morning' },
    delivery: { mode: 'none' },
  });
  expect(added).toMatchObject({ id: expect.any(String), name: 'ui-made-job', enabled: true, agentId: 'main', schedule: { kind: 'cron', expr: '0 7 * * *', tz: 'UTC' }, nextRunAtMs: expect.any(Number), effectiveAgentId: 'main' });
  const ids = (r: any) => r.jobs.map((j: { id: string }) => j.id);
  // Sorted by next run, ascending, then the other orders the UI offers.
  const sorted = await ok(ui, 'cron.list', listParams);
  const next = sorted.jobs.map((j: { nextRunAtMs: number }) => j.nextRunAtMs);
  expect(next).toEqual([...next].sort((a, b) => a - b));
  const desc = await ok(ui, 'cron.list', { ...listParams, sortDir: 'desc' });
  expect(ids(desc)).toEqual([...ids(sorted)].reverse());
  expect(ids(await ok(ui, 'cron.list', { ...listParams, sortBy: 'name' }))).toEqual([...sorted.jobs].sort((a: any, b: any) => a.name.localeCompare(b.name)).map((j: any) => j.id));
  expect(ids(await ok(ui, 'cron.list', { ...listParams, scheduleKind: 'cron' }))).toEqual([added.id]);

  // Pause (the UI's toggle: cron.update {id, expectedConfigRevision, patch:{enabled:false}}), then the filters.
  // The UI sends the revision it loaded and refuses to act on a job without one.
  expect(added.configRevision).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
  const paused = await ok(ui, 'cron.update', { id: added.id, expectedConfigRevision: added.configRevision, patch: { enabled: false } });
  expect(paused).toMatchObject({ id: added.id, enabled: false, configRevision: expect.any(String) });
  expect(paused.configRevision).not.toBe(added.configRevision);
  // A stale revision. Real: INVALID_REQUEST "cron job definition no longer matches the loaded version; review the latest
  // version before retrying" {code:"CRON_JOB_CHANGED", expectedConfigRevision, actualConfigRevision}
  expect((await ui.request('cron.update', { id: added.id, expectedConfigRevision: added.configRevision, patch: { enabled: true } })).error).toEqual({
    code: 'INVALID_REQUEST',
    message: 'cron job definition no longer matches the loaded version; review the latest version before retrying',
    details: { code: 'CRON_JOB_CHANGED', expectedConfigRevision: added.configRevision, actualConfigRevision: paused.configRevision },
  });
  expect(ids(await ok(ui, 'cron.list', { ...listParams, enabled: 'disabled' }))).toEqual([added.id]);
  expect(ids(await ok(ui, 'cron.list', { ...listParams, enabled: 'enabled' }))).not.toContain(added.id);
  expect(ids(await ok(ui, 'cron.list', { agentId: 'main' }))).not.toContain(added.id);
  expect(ids(await ok(ui, 'cron.list', { ...listParams, agentId: 'other' }))).toEqual([]);
  expect(await ok(ui, 'cron.update', { id: added.id, expectedConfigRevision: paused.configRevision, patch: { enabled: true } })).toMatchObject({ enabled: true });

  // Run now, then the run history with the UI's params and paging.
  // Real: {ok:true, enqueued:true, runId, processInstanceId}
  const run1 = await ok(ui, 'cron.run', { id: added.id, mode: 'force' });
  expect(run1).toMatchObject({ ok: true, enqueued: true, runId: expect.any(String) });
  const run2 = await ok(ui, 'cron.run', { id: made.jobId, mode: 'force' });
  // "Run if due" on a job whose next run is an hour away. Real: {ok:true, ran:false, reason:"not-due"}.
  expect(await ok(ui, 'cron.run', { id: made.jobId, mode: 'due' })).toEqual({ ok: true, ran: false, reason: 'not-due' });
  const runsParams = { agentId: 'main', scope: 'all', limit: 50, offset: 0, status: 'all', sortDir: 'desc' };
  // Real: {entries:[{ts, jobId, action, status, runId, runAtMs, durationMs, jobName, ...}], total, offset, limit, hasMore, nextOffset}
  const runs = await ok(ui, 'cron.runs', runsParams);
  expect(runs).toMatchObject({ total: 2, offset: 0, limit: 50, hasMore: false, nextOffset: null });
  expect(runs.entries.map((e: { runId: string }) => e.runId)).toEqual([run2.runId, run1.runId]);
  expect(runs.entries[1]).toMatchObject({ jobId: added.id, jobName: 'ui-made-job', runAtMs: expect.any(Number) });
  const page = await ok(ui, 'cron.runs', { ...runsParams, limit: 1 });
  expect(page).toMatchObject({ total: 2, limit: 1, hasMore: true, nextOffset: 1, entries: [expect.objectContaining({ runId: run2.runId })] });
  expect((await ok(ui, 'cron.runs', { ...runsParams, sortDir: 'asc' })).entries.map((e: { runId: string }) => e.runId)).toEqual([run1.runId, run2.runId]);
  expect((await ok(ui, 'cron.runs', { scope: 'job', id: added.id, limit: 50 })).entries.map((e: { runId: string }) => e.runId)).toEqual([run1.runId]);

  // cron.status: real {enabled, triggersEnabled, storePath, storage, sqlitePath, jobs, nextWakeAtMs}
  expect(await ok(ui, 'cron.status', {})).toMatchObject({ enabled: true, triggersEnabled: false, jobs: expect.any(Number), nextWakeAtMs: expect.any(Number) });

  // Delete.
  expect(await ok(ui, 'cron.remove', { id: added.id })).toMatchObject({ ok: true, removed: true });
  expect(ids(await ok(ui, 'cron.list', listParams))).not.toContain(added.id);
  await ok(ui, 'cron.remove', { id: made.jobId });
});

test('Devices page: a pending request is listed, approved from the UI, and the CLI then lists the device as approved', async () => {
  const waiting = newLegacyDevice();
  const { client: asking, hello } = await f.connect(connectParams({ scopes: ['operator.read'], auth: { token: LEGACY_TOKEN } }), (p, n) => signDevice(p, waiting, n));
  expect(hello.error).toMatchObject({ code: 'NOT_PAIRED' });
  const requestId = PAIRING_CLOSE.exec((await asking.closed).reason)![1];

  // Real (#8c): pending {requestId, deviceId, publicKey, displayName?, platform, clientId, clientMode, role, roles, scopes, remoteIp, silent, isRepair, ts}
  const list = await ok(ui, 'device.pair.list', {});
  expect(list.pending.find((r: { requestId: string }) => r.requestId === requestId)).toMatchObject({
    requestId,
    deviceId: waiting.id,
    publicKey: waiting.publicKey,
    clientId: 'cli',
    clientMode: 'cli',
    role: 'operator',
    roles: ['operator'],
    scopes: ['operator.read'],
    silent: false,
    isRepair: false,
    ts: expect.any(Number),
  });
  expect(list.paired.length).toBeGreaterThan(0);

  const approved = await ok(ui, 'device.pair.approve', { requestId });
  expect(approved).toMatchObject({ requestId, device: { deviceId: waiting.id, approvedVia: 'owner', scopes: ['operator.read'] } });
  // The same queue as the CLI's: it lists the device as approved.
  const cli = cliFor(f.t, tmp());
  const devices = await cli.json<{ devices: { deviceId: string; status: string }[]; pending: { requestId: string }[] }>('devices', 'list');
  expect(devices.devices.find((d) => d.deviceId === waiting.id)).toMatchObject({ status: 'active' });
  expect(devices.pending.map((r) => r.requestId)).not.toContain(requestId);
  // And the device connects now.
  const again = await f.deviceClient(waiting, ['operator.read']);
  expect(again.hello.ok).toBe(true);

  // Reject: real {requestId, deviceId}; then unknown.
  const other = newLegacyDevice();
  const second = await f.connect(connectParams({ scopes: ['operator.read'], auth: { token: LEGACY_TOKEN } }), (p, n) => signDevice(p, other, n));
  const rejectId = PAIRING_CLOSE.exec((await second.client.closed).reason)![1];
  expect(await ok(ui, 'device.pair.reject', { requestId: rejectId })).toEqual({ requestId: rejectId, deviceId: other.id });
  // Real: INVALID_REQUEST "unknown requestId" (the request is gone); here the queue still knows it was rejected, and says so.
  expect((await ui.request('device.pair.approve', { requestId: rejectId })).error).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^pairing request \S+ was already rejected/) });
  expect((await ui.request('device.pair.approve', { requestId: 'no-such-request' })).error).toEqual({ code: 'INVALID_REQUEST', message: 'unknown requestId' });
  const d = f.t.connect('cli').client(DeviceService);
  expect((await unaryCall(d, d.listDevices, {})).pending.map((r) => r.requestId)).not.toContain(rejectId);
});

test('system.info: this host and the gateway uptime', async () => {
  const info = await ok(ui, 'system.info', {});
  expect(info).toMatchObject({ hostname: expect.any(String), platform: process.platform, arch: process.arch, nodeVersion: process.version, uptimeMs: expect.any(Number), cpuCount: expect.any(Number), memoryTotalBytes: expect.any(Number), disks: [] });
  const usage = await ok(ui, 'sessions.usage', { startDate: '2026-11-07', endDate: '2026-12-06', agentId: 'main', mode: 'specific', timeZone: 'UTC', groupBy: 'family', limit: 1000 });
  expect(usage).toMatchObject({ startDate: '2026-11-07', endDate: '2026-12-06', sessions: [], totals: { totalTokens: 0 }, aggregates: { sessionCount: 0 } });
});

test('config.get: the real snapshot keys the settings pages read, all views of the one JSON config', async () => {
  const got = await ok(ui, 'config.get', {});
  expect(got).toMatchObject({ exists: true, valid: true, path: '', includedPaths: [], raw: expect.any(String), hash: expect.any(String), issues: [], warnings: [], legacyIssues: [] });
  for (const view of ['parsed', 'sourceConfig', 'resolved', 'runtimeConfig', 'config']) expect(got[view]).toEqual(JSON.parse(got.raw));
});

test('openclaw.setup.detect: nothing to set up from a client; setup is complete with a model', async () => {
  expect(await ok(ui, 'openclaw.setup.detect', { agentId: 'main' })).toEqual({
    manualProviders: [],
    authOptions: [],
    prepareOptions: [],
    nativeSessionCatalogs: [],
    nativeSessionCatalogPreferenceRequired: false,
    setupComplete: true,
    candidates: [],
    unavailableCandidates: [],
    recommendedInstalls: [],
  });
});

describe('refusals', () => {
  const missing = (scope: string) => ({ code: 'FORBIDDEN', message: expect.stringMatching(new RegExp(`^missing scope: ${scope.replace('.', '\\.')}`)), details: { code: 'MISSING_SCOPE', missingScope: scope, requiredScopes: [scope] } });

  // Real gateway's scope table: device.pair.* operator.pairing; *.approval.list operator.approvals; question.list
  // operator.questions; update.status, exec.approvals.get, openclaw.setup.detect, cron.add operator.admin; chat.send operator.write.
  test.each([
    ['device.pair.list', 'operator.pairing'],
    ['exec.approval.list', 'operator.approvals'],
    ['approval.history', 'operator.approvals'],
    ['channels.pairing.list', 'operator.pairing'],
    ['question.list', 'operator.questions'],
    ['update.status', 'operator.admin'],
    ['exec.approvals.get', 'operator.admin'],
    ['openclaw.setup.detect', 'operator.admin'],
    ['sessions.groups.defaults', 'operator.write'],
    ['sessions.patch', 'operator.write'],
  ])('a read-only client calling %s is told %s is missing', async (method, scope) => {
    expect((await reader.request(method, { key: 'agent:main:main' })).error).toEqual(missing(scope));
  });

  test('read-only calls work for a read-only client', async () => {
    for (const method of ['sessions.list', 'cron.list', 'cron.status', 'models.list', 'agents.list', 'channels.status', 'system.info']) expect((await reader.request(method, {})).ok).toBe(true);
  });

  test.each([
    ['cron.list', { limit: 'x' }, 'invalid cron.list params: limit must be an integer from 1 to 200'],
    ['cron.list', { sortBy: 'color' }, 'invalid cron.list params: sortBy must be one of nextRunAtMs, name, updatedAtMs, createdAtMs, lastRunAtMs'],
    ['cron.list', { enabled: 'maybe' }, 'invalid cron.list params: enabled must be one of all, enabled, disabled'],
    ['cron.runs', { scope: 'job' }, 'invalid cron.runs params: id is required when scope is job'],
    ['cron.run', { id: 'job_x', mode: 'later' }, 'invalid cron.run params: mode must be one of force, due'],
    ['cron.runs', { statuses: 'ok' }, 'invalid cron.runs params: statuses must be a list of strings'],
    ['sessions.list', { limit: 0 }, 'invalid sessions.list params: limit must be an integer from 1 to 10000'],
    ['chat.history', {}, 'invalid chat.history params: sessionKey is required'],
    ['chat.history', { sessionKey: 'main', inputRunIds: 'x' }, 'invalid chat.history params: inputRunIds must be a list of strings'],
    ['sessions.patch', { key: 'main', label: 'renamed' }, 'invalid sessions.patch params: label: this gateway keeps no per-session settings (only unread:false is accepted)'],
    ['sessions.patch', { key: 'main', unread: true }, 'invalid sessions.patch params: unread: this gateway does not mark sessions unread'],
    ['sessions.observer.visibility', {}, 'invalid sessions.observer.visibility params: visible is required'],
    ['plugin.surface.refresh', {}, 'invalid plugin.surface.refresh params: surface is required'],
    ['agent.identity.get', { agentId: 'nobody' }, 'invalid agent.identity.get params: unknown agent id "nobody"'],
    ['sessions.usage', { startDate: 'yesterday' }, 'invalid sessions.usage params: startDate must be a date YYYY-MM-DD'],
    ['question.list', 'all', 'invalid question.list params: params must be an object'],
  ])('%s with bad params %j: INVALID_REQUEST', async (method, params, message) => {
    expect((await ui.request(method, params)).error).toEqual({ code: 'INVALID_REQUEST', message });
  });

  test('GitHub publication is refused as unavailable (the real gateway refuses it without a publication too)', async () => {
    expect((await ui.request('sessions.github.options', { sessionKey: 'agent:main:main', agentId: 'main' })).error).toMatchObject({ code: 'UNAVAILABLE', message: 'GitHub publication is not available on this gateway.' });
  });
});
