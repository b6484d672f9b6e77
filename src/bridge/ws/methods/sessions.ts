import { SessionService, type Session } from '../../../gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { legacyErrors } from '../legacy-errors';
import { Params } from './params';
import { ensureSession, findSession, keyOf as sessionKeyOf, sessionRow } from './session-keys';
import { sendMessage } from './chat';
import type { LegacyMethod, MethodContext } from './types';

const keyOf = (p: Params): string => p.need('key', 'sessionKey', 'sessionId');

async function created(ctx: MethodContext, label: string, agentId: string): Promise<Session> {
  const c = ctx.gateway.client(SessionService);
  return (await unaryCall(c, c.createSession, { label, agentId }, ctx.call)).session!;
}

async function existing(ctx: MethodContext, key: string) {
  const s = await findSession(ctx, key);
  if (!s) throw legacyErrors.invalidRequest(`session not found: ${key}`, { code: 'SESSION_NOT_FOUND' });
  return s;
}

/** sessions.list/subscribe/describe/create/send/abort/delete, agents.list, models.list. */
export const SESSION_METHODS: readonly LegacyMethod[] = [
  {
    method: 'sessions.list',
    scope: 'operator.read',
    handler: async (ctx) => {
      const c = ctx.gateway.client(SessionService);
      const res = await unaryCall(c, c.listSessions, {}, ctx.call);
      return { ts: ctx.clock.now(), count: res.sessions.length, sessions: res.sessions.map(sessionRow) };
    },
  },
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
    handler: async (ctx) => sessionRow(await existing(ctx, keyOf(Params.of(ctx.method, ctx.params)))),
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
  {
    method: 'agents.list',
    scope: 'operator.read',
    handler: async (ctx) => {
      const c = ctx.gateway.client(SessionService);
      const res = await unaryCall(c, c.listAgents, {}, ctx.call);
      const defaultId = res.defaultAgentId || res.agents[0]?.agentId || 'main';
      return {
        defaultId,
        mainKey: 'main',
        scope: 'per-sender',
        agents: res.agents.map((a) => ({ id: a.agentId, name: a.name, identity: { name: a.name }, model: { primary: `${a.provider}/${a.model}` } })),
      };
    },
  },
  {
    method: 'models.list',
    scope: 'operator.read',
    handler: async (ctx) => {
      const c = ctx.gateway.client(SessionService);
      const res = await unaryCall(c, c.listModels, {}, ctx.call);
      return { models: res.models.map((m) => ({ id: m.modelId, name: m.modelId, provider: m.provider })) };
    },
  },
];
