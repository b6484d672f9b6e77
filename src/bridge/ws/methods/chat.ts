import { SessionService, type ChatMessage } from '../../../gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { startTurn } from './agent-turn';
import { ms, Params } from './params';
import { agentFinalAnswer, chatSendReplayAnswer } from './run-answers';
import { modelRows } from './models';
import { loadAgents, sessionDefaults } from './session-defaults';
import { canonicalSessionKey, DEFAULT_SESSION_KEY, ensureSession, findSession, resolveSessionKey, sessionRow } from './session-keys';
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

/**
 * A stored message in the legacy transcript shape (`content` blocks, `timestamp`,
 * `__openclaw` metadata). As on the real gateway, the user message of a run carries
 * `idempotencyKey: "<runId>:user"` (the run id is the sender's idempotency key): the
 * legacy UI confirms a message it sent by finding it, else it offers to send it again.
 */
function messageRow(m: ChatMessage, seq: number): Record<string, unknown> {
  const idempotencyKey = m.role === 'user' && m.runId ? `${m.runId}:user` : undefined;
  return {
    id: m.messageId,
    role: m.role,
    content: [{ type: 'text', text: m.text }],
    text: m.text,
    timestamp: ms(m.tsMs),
    ...(m.runId ? { runId: m.runId } : {}),
    ...(idempotencyKey ? { idempotencyKey } : {}),
    status: m.status,
    ...(m.status === 'error' ? { stopReason: 'error' } : m.status === 'aborted' ? { stopReason: 'aborted' } : {}),
    __openclaw: { id: m.messageId, seq, ...(idempotencyKey ? { idempotencyKey } : m.runId ? { runId: m.runId } : {}) },
  };
}

/**
 * `chat.history` / `chat.startup {sessionKey, limit?}`: the conversation, oldest first.
 * Real gateway 2026.9.6 answers {sessionKey, sessionId, messages, pendingInputs:{items,total},
 * deltaCursor, hasMore, totalMessages, defaults:{modelProvider, model, contextTokens,
 * agentRuntime, modelSelectionTarget}, sessionInfo:{key, kind, classification, agentId,
 * isMain, ...}}; for a key without a session the same with no messages and no sessionId.
 * Inputs are never queued here (a session runs one turn, others are refused), so
 * `pendingInputs` is always empty; there is no delta cursor.
 */
async function history(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const limit = p.int('limit', 1, 10_000);
  // The UI asks whether inputs it sent are still queued; inputs are never queued here: no receipts.
  const inputRunIds = p.strings('inputRunIds');
  if (inputRunIds && inputRunIds.length > 50) p.fail('inputRunIds must have at most 50 entries');
  const receipts = inputRunIds ? { inputReceipts: [] } : {};
  const { session: s, key, agentId } = await resolveSessionKey(ctx, p.need('sessionKey', 'key'));
  const { res: agents } = await loadAgents(ctx);
  const agent = agents.agents.find((a) => a.agentId === (s?.agentId ?? agentId));
  const pendingInputs = { items: [], total: 0 };
  const defaults = sessionDefaults(agent, false);
  if (!s) {
    const isMain = key === canonicalSessionKey(DEFAULT_SESSION_KEY, agentId);
    const sessionInfo = { key, kind: 'direct', classification: isMain ? 'main' : 'direct', agentId, isMain, isBackground: false, updatedAt: null, archived: false, pinned: false, unread: false, modelSelectionLocked: true, hasActiveRun: false, activeRunIds: [] };
    return { sessionKey: key, messages: [], pendingInputs, ...receipts, hasMore: false, totalMessages: 0, defaults, sessionInfo };
  }
  const c = ctx.gateway.client(SessionService);
  const res = await unaryCall(c, c.getHistory, { sessionId: s.sessionId, limit: limit ?? 0 }, ctx.call);
  const total = s.messageCount;
  const first = Math.max(0, total - res.messages.length);
  return {
    sessionKey: key,
    sessionId: s.sessionId,
    messages: res.messages.map((m, i) => messageRow(m, first + i + 1)),
    pendingInputs,
    ...receipts,
    hasMore: first > 0,
    totalMessages: total,
    defaults,
    sessionInfo: { ...sessionRow(s, agent), activeRunIds: [] },
  };
}

/** chat.history, chat.startup, chat.metadata, chat.send, chat.abort, agent, agent.wait. */
export const CHAT_METHODS: readonly LegacyMethod[] = [
  { method: 'chat.history', scope: 'operator.read', handler: history },
  // The UI's first read of a chat: the history (its `metadata` is asked for separately, with chat.metadata).
  { method: 'chat.startup', scope: 'operator.read', handler: history },
  {
    method: 'chat.metadata',
    scope: 'operator.read',
    // Real gateway 2026.9.6: {models, commands, swarmEnabled, accountSelection, runtimeSelectionLocked}.
    // This gateway has no slash commands, swarms or account selection; its models are the agents'.
    handler: async (ctx) => {
      Params.of(ctx.method, ctx.params);
      return { models: await modelRows(ctx), commands: [], swarmEnabled: false, runtimeSelectionLocked: true };
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
