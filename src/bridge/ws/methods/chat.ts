import { SessionService } from '../../../gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { LegacyError } from '../legacy-errors';
import { startTurn } from './agent-turn';
import { ms, Params } from './params';
import { DEFAULT_SESSION_KEY, ensureSession, findSession } from './session-keys';
import type { LegacyMethod, MethodContext } from './types';

/**
 * Starts a turn and answers as soon as the gateway has started it (`chat.send`,
 * `sessions.send`): the reply streams to the client as `agent` and `chat` events.
 */
export async function sendMessage(ctx: MethodContext, sessionId: string, message: string, idempotencyKey?: string): Promise<unknown> {
  const turn = startTurn(ctx, sessionId, message, idempotencyKey);
  // The answer goes out at start; the end of the turn is only recorded (run tracker).
  turn.result.catch(() => undefined);
  const runId = await turn.runId;
  return runId ? { runId, sessionKey: sessionId, status: 'started' } : { runId, sessionKey: sessionId, status: 'in_flight' };
}

/** `agent`: answers `accepted` when the run starts, then the final result on the same id. */
async function agent(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const message = p.need('message');
  const session = await ensureSession(ctx, p.str('sessionKey', 'sessionId') ?? DEFAULT_SESSION_KEY, p.str('agentId'));
  const turn = startTurn(ctx, session.sessionId, message, p.str('idempotencyKey'));
  turn.result.catch(() => undefined);
  const runId = await turn.runId;
  ctx.accept({ runId, status: 'accepted', acceptedAt: ctx.clock.now() });
  const r = await turn.result;
  if (r.status === 'error') throw new LegacyError('UNAVAILABLE', r.error || 'agent run failed', { details: { code: 'AGENT_RUN_FAILED', runId } });
  return {
    runId,
    status: r.status,
    summary: r.status === 'ok' ? 'completed' : r.status,
    result: { payloads: r.text ? [{ text: r.text }] : [], meta: { durationMs: r.endedAt - r.startedAt, sessionId: session.sessionId, sessionKey: session.sessionId } },
  };
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
      const key = p.need('sessionKey', 'key');
      const s = await findSession(ctx, key);
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
      const session = await ensureSession(ctx, p.str('sessionKey', 'key') ?? DEFAULT_SESSION_KEY);
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
