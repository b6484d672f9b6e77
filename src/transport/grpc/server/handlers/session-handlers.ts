import type { SessionService as SessionDesc } from '../../../../gen/openclaw/sessions/v1/sessions_pb';
import type { AgentCatalog } from '../../../../services/agent/agent-catalog';
import type { SessionInfo, SessionService, ChatMessage } from '../../../../services/sessions/session-service';
import type { ServiceImpl } from '../../service-definition';
import { serverStream, unary, type HandlerContext } from '../handler-kit';

function sessionToProto(s: SessionInfo) {
  return {
    sessionId: s.sessionId,
    label: s.label,
    agentId: s.agentId,
    createdAtMs: BigInt(s.createdAtMs),
    updatedAtMs: BigInt(s.updatedAtMs),
    messageCount: s.messageCount,
    busy: s.busy,
    key: s.key,
  };
}

function messageToProto(m: ChatMessage) {
  return { messageId: m.messageId, role: m.role, text: m.text, tsMs: BigInt(m.tsMs), runId: m.runId, status: m.status };
}

/** SessionService: sessions, transcripts and streamed agent turns. */
export function sessionHandlers(ctx: HandlerContext, sessions: SessionService, agents: () => AgentCatalog): ServiceImpl<typeof SessionDesc> {
  return {
    createSession: unary(ctx, async (req) => {
      const input = { label: req.label || undefined, agentId: req.agentId || undefined };
      if (!req.key) return { session: sessionToProto(await sessions.create(input)), created: true };
      const { session, created } = await sessions.createWithKey(req.key, input);
      return { session: sessionToProto(session), created };
    }),
    listSessions: unary(ctx, () => ({ sessions: sessions.list().map(sessionToProto) })),
    describeSession: unary(ctx, (req) => ({ session: sessionToProto(sessions.describe(req.sessionId)) })),
    deleteSession: unary(ctx, async (req) => ({ deleted: await sessions.delete(req.sessionId) })),
    getHistory: unary(ctx, (req) => ({ messages: sessions.history(req.sessionId, req.limit).map(messageToProto) })),
    sendMessage: serverStream(ctx, async (req, _caller, sink) => {
      // Set once this stream's own turn started (a replay of an earlier turn leaves it empty).
      let runId = '';
      const turn = sessions.send(req.sessionId, req.text, {
        idempotencyKey: req.idempotencyKey || undefined,
        runId: req.runId || undefined,
        onOutput: (o) => {
          if (!o.replayed) runId = o.runId;
          sink.write({ output: { ...o, seq: o.seq, tsMs: BigInt(o.tsMs) } });
        },
      });
      // A client that goes away aborts its turn, so a dead stream does not hold the session busy
      // (a stream that only replays an earlier turn leaves that turn alone).
      void sink.closed.then((why) => {
        if (why === 'cancelled' && runId) void sessions.abort(req.sessionId, runId).catch(() => undefined);
      });
      await turn;
      sink.end();
    }),
    abortTurn: unary(ctx, async (req) => ({ aborted: await sessions.abort(req.sessionId, req.runId || undefined) })),
    listAgents: unary(ctx, () => {
      const catalog = agents();
      return { agents: catalog.list().map((a) => ({ agentId: a.agentId, name: a.name, provider: a.provider, model: a.model })), defaultAgentId: catalog.defaultAgentId };
    }),
    listModels: unary(ctx, () => ({ models: agents().models().map((m) => ({ modelId: m.modelId, provider: m.provider })) })),
  };
}
