import { emptyAnswer, unavailable } from './fixed-answer';
import { Params } from './params';
import { agentParam } from './session-defaults';
import type { LegacyMethod } from './types';

/** The theme the Control UI bundles as its default; this gateway stores no theme choice or theme of its own. */
const DEFAULT_THEME = { id: 'claw', name: 'Claw', description: 'The Control UI default theme.', source: 'builtin', modes: ['light', 'dark'] };

/** A GitHub identity that is not there (real: what a gateway without GitHub credentials reports). */
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

/**
 * What the Control UI's settings and tool pages ask about features this gateway does
 * not have: synced themes, web search, GitHub access for agents, meeting transcripts,
 * git worktrees, run-queue lanes. Reads answer with the real gateway's (2026.9.6) shape
 * of "none"/"unavailable", quoted per method; changes are refused.
 */
export const UI_FEATURE_METHODS: readonly LegacyMethod[] = [
  // Real: {current:{id, mode, scope:"profile"|"gateway", overrides}, theme:{id, name, description, source, modes}, themes:[builtin, plugin
  // and imported themes]}. Themes are not synced through this gateway: the UI's default is the current one, and it holds none of its own.
  emptyAnswer('themes.list', 'operator.read', () => ({ current: { id: DEFAULT_THEME.id, mode: 'system', scope: 'gateway', overrides: {} }, theme: DEFAULT_THEME, themes: [DEFAULT_THEME] })),
  unavailable('themes.set', 'operator.write', 'Syncing themes'),
  {
    // Real: {enabled, provider, agentId, model:{provider, id, runtime, runtimeLabel}, providers:[...], route:{kind, label, testable, reason?}}.
    // Agents here have no tools, so no web search: no providers, route unavailable with the reason.
    method: 'webSearch.status',
    scope: 'operator.read',
    handler: async (ctx) => {
      const agent = await agentParam(ctx, Params.of(ctx.method, ctx.params));
      return {
        enabled: false,
        provider: null,
        agentId: agent.agentId,
        model: { provider: agent.provider, id: agent.model, runtime: 'unknown', runtimeLabel: 'Not resolved' },
        providers: [],
        route: { kind: 'unavailable', label: 'Search unavailable', testable: false, reason: 'Web search is not available on this gateway: its agents have no tools.' },
      };
    },
  },
  unavailable('webSearch.test', 'operator.admin', 'Web search'),
  {
    // Real (no GitHub credentials): {agentId, selectedScope, selected:{scope, configured:false, identity}, effective}.
    method: 'tools.github.status',
    scope: 'operator.read',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const agent = await agentParam(ctx, p);
      const scope = p.oneOf('selectedScope', ['system', 'agent'] as const) ?? 'system';
      return { agentId: agent.agentId, selectedScope: scope, selected: { scope, configured: false, identity: NO_GITHUB }, effective: NO_GITHUB };
    },
  },
  unavailable('tools.github.configure', 'operator.admin', 'GitHub access for agents'),
  // Real: {sessions:[], nextCursor:null} (recorded meetings). Nothing is recorded here.
  emptyAnswer('transcripts.list', 'operator.read', () => ({ sessions: [], nextCursor: null })),
  // Real: {worktrees:[]} (git worktrees of agent workspaces). Agents here have no workspace.
  emptyAnswer('worktrees.list', 'operator.read', () => ({ worktrees: [] })),
  unavailable('worktrees.create', 'operator.write', 'Worktrees'),
  // Real: {ts, lanes:[{lane, queuedCount, activeCount, maxConcurrent, draining, generation, blockedBy}], dynamic:null} (command-queue lanes).
  // Turns here are not queued in lanes.
  emptyAnswer('diagnostics.lanes', 'operator.read', (_p, ctx) => ({ ts: ctx.clock.now(), lanes: [], dynamic: null })),
];
