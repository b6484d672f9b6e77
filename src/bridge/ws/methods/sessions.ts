import { GatewayError } from '../../../errors';
import { SessionService, type Session } from '../../../gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { legacyErrors } from '../legacy-errors';
import { Params } from './params';
import { loadAgents, sessionDefaults } from './session-defaults';
import { ensureSession, findSession, keyOf as sessionKeyOf, resolveSessionKey, sessionRow } from './session-keys';
import { sendMessage } from './chat';
import type { LegacyMethod, MethodContext } from './types';

const keyOf = (p: Params): string => p.need('key', 'sessionKey', 'sessionId');

/**
 * `sessions.list`: the sessions (newest first), filtered by `agentId`, paged with
 * `limit`/`offset`, with the legacy metadata (`count` on this page, `totalCount`,
 * `limitApplied`, `hasMore`, `nextOffset`) and `defaults` (the default agent's model;
 * the legacy UI reads `defaults.modelSelectionTarget` unguarded). With `includeLastMessage`
 * each row has `lastMessagePreview` (what agent cards and the sidebar show). With
 * `spawnedBy` the list is empty: no session here is spawned by another.
 */
async function listSessions(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const agentId = p.str('agentId');
  const limit = p.int('limit', 1, 10_000) ?? 200;
  const offset = p.int('offset', 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const c = ctx.gateway.client(SessionService);
  const [res, agents] = await Promise.all([unaryCall(c, c.listSessions, {}, ctx.call), loadAgents(ctx)]);
  // `spawnedBy` asks for the sub-sessions an agent run spawned from that session; sessions
  // here are never spawned by another, so there are none (the legacy UI asks it for the
  // session it shows, and would otherwise list every session, itself too, as its child).
  const spawned = p.str('spawnedBy') !== undefined;
  const all = spawned ? [] : res.sessions.filter((s) => !agentId || s.agentId === agentId).sort((a, b) => Number(b.updatedAtMs - a.updatedAtMs));
  const page = all.slice(offset, offset + limit);
  const hasMore = offset + page.length < all.length;
  const agentOf = (id: string) => agents.res.agents.find((a) => a.agentId === id);
  const previews = p.bool('includeLastMessage') ? await lastMessagePreviews(ctx, page) : new Map<string, string>();
  return {
    ts: ctx.clock.now(),
    path: '',
    count: page.length,
    totalCount: all.length,
    limitApplied: limit,
    nextOffset: hasMore ? offset + page.length : null,
    hasMore,
    owners: [],
    defaults: sessionDefaults(agentId ? (agentOf(agentId) ?? agents.defaultAgent) : agents.defaultAgent),
    sessions: page.map((s) => {
      const preview = previews.get(s.sessionId);
      return { ...sessionRow(s, agentOf(s.agentId)), ...(preview !== undefined ? { lastMessagePreview: preview } : {}) };
    }),
  };
}

/** Longest `lastMessagePreview`, in characters. */
const PREVIEW_CHARS = 160;

/** The last message's text of each session that has one (`includeLastMessage`), shortened for a list. */
async function lastMessagePreviews(ctx: MethodContext, sessions: readonly Session[]): Promise<Map<string, string>> {
  const c = ctx.gateway.client(SessionService);
  const out = new Map<string, string>();
  await Promise.all(
    sessions
      .filter((s) => s.messageCount > 0)
      .map(async (s) => {
        // A session deleted since it was listed has no preview.
        const res = await unaryCall(c, c.getHistory, { sessionId: s.sessionId, limit: 1 }, ctx.call).catch((err: unknown) => {
          if (err instanceof GatewayError && err.reason === 'SESSION_NOT_FOUND') return undefined;
          throw err;
        });
        const last = res?.messages[0];
        if (last) out.set(s.sessionId, last.text.length > PREVIEW_CHARS ? `${last.text.slice(0, PREVIEW_CHARS - 1)}…` : last.text);
      }),
  );
  return out;
}

/** Fields of `sessions.patch` that change nothing here: sessions have no unread mark on this gateway. */
const UNREAD_FIELDS = new Set(['key', 'sessionKey', 'agentId', 'unread', 'expectedMarkedUnreadAt']);

/**
 * `sessions.patch`: the legacy UI marks the session it opens as read (`unread: false`).
 * Sessions here are never marked unread, so that is already true and the session is
 * answered as it is. Anything else (label, model, thinking...) is refused by name:
 * this gateway has no per-session settings.
 */
async function patchSession(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const key = keyOf(p);
  const raw = (ctx.params ?? {}) as Record<string, unknown>;
  const other = Object.keys(raw).filter((k) => !UNREAD_FIELDS.has(k) && raw[k] !== undefined);
  if (other.length > 0) p.fail(`${other.join(', ')}: this gateway keeps no per-session settings (only unread:false is accepted)`);
  if (p.bool('unread') === true) p.fail('unread: this gateway does not mark sessions unread');
  const { session, key: canonical } = await resolveSessionKey(ctx, key, p.str('agentId'));
  // A session that does not exist yet has nothing to mark.
  if (!session) return { ok: true, key: canonical, entry: null };
  const { res } = await loadAgents(ctx);
  return { ok: true, key: canonical, entry: sessionRow(session, res.agents.find((a) => a.agentId === session.agentId)) };
}

async function created(ctx: MethodContext, label: string, agentId: string): Promise<Session> {
  const c = ctx.gateway.client(SessionService);
  return (await unaryCall(c, c.createSession, { label, agentId }, ctx.call)).session!;
}

async function existing(ctx: MethodContext, key: string) {
  const s = await findSession(ctx, key);
  if (!s) throw legacyErrors.invalidRequest(`session not found: ${key}`, { code: 'SESSION_NOT_FOUND' });
  return s;
}

/** sessions.list/subscribe/describe/create/send/abort/delete/patch. */
export const SESSION_METHODS: readonly LegacyMethod[] = [
  { method: 'sessions.list', scope: 'operator.read', handler: listSessions },
  {
    method: 'sessions.subscribe',
    scope: 'operator.read',
    handler: async (ctx) => {
      ctx.subscribeSessions();
      return { subscribed: true };
    },
  },
  {
    method: 'sessions.describe',
    scope: 'operator.read',
    // Real gateway 2026.9.6: {session: {...row}}, and {session: null} for a key without a session.
    handler: async (ctx) => {
      const { session } = await resolveSessionKey(ctx, keyOf(Params.of(ctx.method, ctx.params)));
      if (!session) return { session: null };
      const { res } = await loadAgents(ctx);
      return { session: sessionRow(session, res.agents.find((a) => a.agentId === session.agentId)) };
    },
  },
  {
    method: 'sessions.create',
    scope: 'operator.write',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const key = p.str('key');
      // A key names one session (the existing one, if any); without one, a new session every time.
      const session = key ? (await ensureSession(ctx, key, p.str('agentId'))).session : await created(ctx, p.str('label') ?? '', p.str('agentId') ?? '');
      return { ok: true, key: sessionKeyOf(session), sessionId: session.sessionId, session: sessionRow(session) };
    },
  },
  {
    method: 'sessions.send',
    scope: 'operator.write',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const { session } = await ensureSession(ctx, keyOf(p));
      return sendMessage(ctx, session.sessionId, p.need('message', 'text'), p.str('idempotencyKey'));
    },
  },
  {
    method: 'sessions.abort',
    scope: 'operator.write',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const s = await existing(ctx, keyOf(p));
      const c = ctx.gateway.client(SessionService);
      const res = await unaryCall(c, c.abortTurn, { sessionId: s.sessionId, runId: p.str('runId') ?? '' }, ctx.call);
      return { ok: true, aborted: res.aborted };
    },
  },
  {
    method: 'sessions.delete',
    scope: 'operator.write',
    handler: async (ctx) => {
      const s = await existing(ctx, keyOf(Params.of(ctx.method, ctx.params)));
      const c = ctx.gateway.client(SessionService);
      const res = await unaryCall(c, c.deleteSession, { sessionId: s.sessionId }, ctx.call);
      return { ok: true, key: sessionKeyOf(s), deleted: res.deleted };
    },
  },
  { method: 'sessions.patch', scope: 'operator.write', handler: patchSession },
];
