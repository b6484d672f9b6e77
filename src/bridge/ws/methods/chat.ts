import { SessionService } from '../../../gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { startTurn } from './agent-turn';
import { ms, Params } from './params';
import { agentFinalAnswer, chatSendReplayAnswer } from './run-answers';
import { DEFAULT_SESSION_KEY, ensureSession, findSession, resolveSessionKey } from './session-keys';
import type { LegacyMethod, MethodContext } from './types';

/**
 * Starts a turn and answers as soon as the gateway has started it (`chat.send`,
 * `sessions.send`): `{runId, status:"started"}`, the run id being the request's
 * idempotency key; the reply streams to the client as `agent` and `chat` events. The
 * same key again starts nothing: `in_flight` while that turn runs, its outcome after.
 */
export async function sendMessage(ctx: MethodContext, sessionId: string, message: string, idempotencyKey?: string): Promise<unknown> {
  const turn = startTurn(ctx, sessionId, message, idempotencyKey);
  const start = await turn.started;
  if (start.kind === 'new') return { runId: start.runId, status: 'started' };
  if (start.kind === 'running') {
    turn.stop();
    return { runId: start.runId, status: 'in_flight' };
  }
  return chatSendReplayAnswer(await turn.result);
}

/**
 * `agent`: answers `accepted` when the run starts, then the final result on the same
 * id. The run id is the request's idempotency key (clients match `agent` events by
 * it); the session key comes back canonical (`main` is `agent:main:main`). The same
 * key again gets one answer: `in_flight` while that run goes on, else its final answer.
 */
async function agent(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const message = p.need('message');
  const { session, key } = await ensureSession(ctx, p.str('sessionKey', 'sessionId') ?? DEFAULT_SESSION_KEY, p.str('agentId'));
  const who = { key, agentId: session.agentId };
  const turn = startTurn(ctx, session.sessionId, message, p.str('idempotencyKey'));
  const start = await turn.started;
  if (start.kind === 'running') {
    turn.stop();
    return { runId: start.runId, status: 'in_flight', sessionKey: key, agentId: session.agentId };
  }
  if (start.kind === 'new') ctx.accept({ runId: start.runId, sessionKey: key, agentId: session.agentId, status: 'accepted', acceptedAt: ctx.clock.now() });
  return agentFinalAnswer(await turn.result, who);
}

/** `agent.wait`: waits for a run's end (runs that ended recently are answered at once). */
async function agentWait(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const runId = p.need('runId');
  const timeoutMs = p.int('timeoutMs', 0, 10 * 60_000) ?? 30_000;
  const o = await ctx.runs.wait(runId, timeoutMs, ctx.signal);
  if (!o) return { runId, status: 'timeout' };
  return { runId, status: o.status === 'ok' ? 'ok' : 'error', startedAt: o.startedAt, endedAt: o.endedAt, ...(o.status === 'ok' ? {} : { error: o.error || o.status }) };
}

/** chat.history, chat.send, chat.abort, agent, agent.wait. */
export const CHAT_METHODS: readonly LegacyMethod[] = [
  {
    method: 'chat.history',
    scope: 'operator.read',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const { session: s, key } = await resolveSessionKey(ctx, p.need('sessionKey', 'key'));
      if (!s) return { sessionKey: key, sessionId: '', messages: [] };
      const c = ctx.gateway.client(SessionService);
      const res = await unaryCall(c, c.getHistory, { sessionId: s.sessionId, limit: p.int('limit', 1, 10_000) ?? 0 }, ctx.call);
      return {
        sessionKey: key,
        sessionId: s.sessionId,
        messages: res.messages.map((m) => ({ id: m.messageId, role: m.role, content: [{ type: 'text', text: m.text }], text: m.text, timestamp: ms(m.tsMs), runId: m.runId || undefined, status: m.status })),
      };
    },
  },
  {
    method: 'chat.send',
    scope: 'operator.write',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const { session } = await ensureSession(ctx, p.str('sessionKey', 'key') ?? DEFAULT_SESSION_KEY);
      return sendMessage(ctx, session.sessionId, p.need('message', 'text'), p.str('idempotencyKey'));
    },
  },
  {
    method: 'chat.abort',
    scope: 'operator.write',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const runId = p.str('runId');
      const s = await findSession(ctx, p.str('sessionKey', 'key') ?? DEFAULT_SESSION_KEY);
      if (!s) return { ok: true, aborted: false, runIds: [] };
      const c = ctx.gateway.client(SessionService);
      const res = await unaryCall(c, c.abortTurn, { sessionId: s.sessionId, runId: runId ?? '' }, ctx.call);
      return { ok: true, aborted: res.aborted, runIds: res.aborted && runId ? [runId] : [] };
    },
  },
  { method: 'agent', scope: 'operator.write', handler: agent },
  { method: 'agent.wait', scope: 'operator.write', handler: agentWait },
];
