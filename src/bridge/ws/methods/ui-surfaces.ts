import { createHash } from 'node:crypto';
import { LegacyError } from '../legacy-errors';
import { emptyAnswer, unavailable } from './fixed-answer';
import type { Params } from './params';
import { canonicalSessionKey, DEFAULT_SESSION_KEY } from './session-keys';
import type { LegacyMethod } from './types';

/** A session key param made canonical (`main` is `agent:main:main`), as the real gateway echoes it. */
function sessionKeyParam(p: Params, ...names: string[]): string {
  const key = p.str(...names) ?? DEFAULT_SESSION_KEY;
  return canonicalSessionKey(key, p.str('agentId') ?? 'main');
}

/** The revision of an empty plugin list (the same for every gateway without plugins). */
const NO_PLUGINS_REVISION = createHash('sha256').update('[]').digest('hex');

/**
 * What the Control UI asks about features this gateway does not have: plugins and
 * their surfaces, boards, progress cards, task suggestions, talk, mentions, user
 * preferences, session groups, catalogs, branches, discussions, companions, GitHub
 * publication, session sharing, projects, tasks, viewers. Each answers with the real
 * gateway's (2026.9.6) shape of "nothing there", quoted per method; none calls the
 * gateway. Sessions here are served by SessionService (sessions.ts, chat.ts).
 */
export const UI_SURFACE_METHODS: readonly LegacyMethod[] = [
  // Real: {revision:"<sha256>", plugins:[], diagnostics:[]}.
  emptyAnswer('plugins.controlUi.list', 'operator.read', () => ({ revision: NO_PLUGINS_REVISION, plugins: [], diagnostics: [] })),
  // Real: {plugins:[...bundled and catalog plugins], diagnostics, mutationAllowed, generation}. No plugins here, and none can be installed.
  emptyAnswer('plugins.list', 'operator.read', () => ({ plugins: [], diagnostics: [], mutationAllowed: false, generation: 0 })),
  // Real: {items:[...catalog entries], remoteError?}: no plugin catalog here.
  emptyAnswer('plugins.catalog.browse', 'operator.read', () => ({ items: [] })),
  // Real: {artifacts:[]} (images and files agents made; agents here make text only).
  emptyAnswer('artifacts.list', 'operator.read', () => ({ artifacts: [] })),
  // Real: {surface:"canvas", pluginSurfaceUrls:{canvas:"http://.../__openclaw__/cap/<capability>"}}. No plugin surface is served here.
  emptyAnswer('plugin.surface.refresh', 'operator.read', (p) => ({ surface: p.need('surface'), pluginSurfaceUrls: {} })),
  // Real: {sessionKey, revision:0, tabs:[], widgets:[]}.
  emptyAnswer('board.get', 'operator.read', (p) => ({ sessionKey: sessionKeyParam(p, 'sessionKey'), revision: 0, tabs: [], widgets: [] })),
  // Real: {card:null}.
  emptyAnswer('progressCard.get', 'operator.read', () => ({ card: null })),
  // Real: {suggestions:[]}.
  emptyAnswer('taskSuggestions.list', 'operator.read', () => ({ suggestions: [] })),
  // Real: {tasks:[]} (background tasks of agents; turns here are not tasks).
  emptyAnswer('tasks.list', 'operator.read', () => ({ tasks: [] })),
  // Real: {modes, transports, brains, speech:{providers}, transcription:{ready, providers}, realtime:{ready, providers}}.
  emptyAnswer('talk.catalog', 'operator.read', () => ({
    modes: [],
    transports: [],
    brains: [],
    speech: { providers: [] },
    transcription: { ready: false, providers: [] },
    realtime: { ready: false, providers: [] },
  })),
  unavailable('talk.session.create', 'operator.talk', 'Talk'),
  unavailable('talk.client.create', 'operator.talk', 'Talk'),
  // Real: {gatewayInstanceId, revision:0, items:[]} (FORBIDDEN without a signed-in user profile).
  emptyAnswer('mentions.list', 'operator.read', () => ({ revision: 0, items: [] })),
  // Real: {status:"no_durable_identity"} for a client without a user profile (no user profiles exist here).
  emptyAnswer('users.prefs.get', 'operator.read', () => ({ status: 'no_durable_identity' })),
  // Real: {groups:[], sectionOrder:[]} and {defaults:[]}.
  emptyAnswer('sessions.groups.list', 'operator.read', () => ({ groups: [], sectionOrder: [] })),
  emptyAnswer('sessions.groups.defaults', 'operator.write', () => ({ defaults: [] })),
  // Real: {catalogs:[...native agent CLIs' session catalogs]}: none here.
  emptyAnswer('sessions.catalog.list', 'operator.read', () => ({ catalogs: [] })),
  // Real: {branches:[]}, {state:"none"}, {exchanges:[]}.
  emptyAnswer('sessions.branches.list', 'operator.read', () => ({ branches: [] })),
  emptyAnswer('session.discussion.info', 'operator.read', () => ({ state: 'none' })),
  emptyAnswer('sessions.companion.state', 'operator.read', () => ({ exchanges: [] })),
  // Real: {projects:[{id:"workspace:main", ...}]} (agent workspaces on disk; agents here have none).
  emptyAnswer('projects.list', 'operator.read', () => ({ projects: [] })),
  // Real: {sessionKey, members, identities, role, ...}; sessions here are not shared with other people.
  emptyAnswer('session.members.listEvidence', 'operator.read', (p) => ({ sessionKey: sessionKeyParam(p, 'sessionKey'), members: [], identities: [] })),
  {
    // Real (no publication set up): FORBIDDEN "GitHub publication session was not found.".
    method: 'sessions.github.options',
    scope: 'operator.read',
    handler: async () => {
      throw new LegacyError('UNAVAILABLE', 'GitHub publication is not available on this gateway.');
    },
  },
  // Real: {sessionKeys:[...]} echoed, {subscribed:true}, {ok:true}. Viewers and observers change nothing here:
  // every reader gets the sessions' chat events.
  emptyAnswer('sessions.viewers.set', 'operator.read', (p) => ({ sessionKeys: p.strings('sessionKeys') ?? [] })),
  emptyAnswer('controlUi.sessionPullRequests.subscribe', 'operator.read', () => ({ subscribed: true })),
  emptyAnswer('sessions.observer.visibility', 'operator.read', (p) => {
    if (p.bool('visible') === undefined) p.fail('visible is required');
    return { ok: true };
  }),
  // Real: {subscribed:true, key, approvalReplay:{sessionKey, updatedAtMs, approvals:[], truncated:false}} and
  // {subscribed:false, key}. Chat events of every session already reach every reader here.
  emptyAnswer('sessions.messages.subscribe', 'operator.read', (p, ctx) => {
    const key = sessionKeyParam(p, 'key', 'sessionKey');
    return { subscribed: true, key, ...(p.bool('includeApprovals') ? { approvalReplay: { sessionKey: key, updatedAtMs: ctx.clock.now(), approvals: [], truncated: false } } : {}) };
  }),
  emptyAnswer('sessions.messages.unsubscribe', 'operator.read', (p) => ({ subscribed: false, key: sessionKeyParam(p, 'key', 'sessionKey') })),
];
