/**
 * sessions list|create|describe|history|delete, chat send|abort.
 *
 * --json prints the RPC response as protobuf JSON: list -> ListSessionsResponse,
 * create/describe -> { session }, history -> GetHistoryResponse, delete -> { deleted },
 * chat abort -> { aborted }; `chat send` prints one AgentOutput object per line as it
 * arrives (NDJSON).
 */
import { randomUUID } from 'node:crypto';
import {
  AbortTurnResponseSchema,
  AgentOutputSchema,
  CreateSessionResponseSchema,
  DeleteSessionResponseSchema,
  DescribeSessionResponseSchema,
  GetHistoryResponseSchema,
  ListSessionsResponseSchema,
  SessionService,
  type Session,
} from '../gen/openclaw/sessions/v1/sessions_pb';
import { ErrorCode, errors, GatewayError } from '../errors';
import type { CliContext } from './cli-context';
import { isoTime, relativeTime } from './output';
import { wholeNumber } from './args';
import { protoJson } from './proto-json';

function sessionFields(ctx: CliContext, s: Session): string {
  return ctx.out.fields([
    ['session', s.sessionId],
    ['label', s.label || '-'],
    ['agent', s.agentId || '(default)'],
    ['messages', String(s.messageCount)],
    ['busy', s.busy ? 'yes (a turn is running)' : 'no'],
    ['created', isoTime(s.createdAtMs)],
    ['updated', isoTime(s.updatedAtMs)],
  ]);
}

/** `sessions list` */
export async function sessionsList(ctx: CliContext): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(SessionService.method.listSessions, {});
  const now = ctx.now();
  ctx.out.result(
    () => protoJson(ListSessionsResponseSchema, res),
    () =>
      ctx.out.table(
        ['ID', 'LABEL', 'AGENT', 'MESSAGES', 'BUSY', 'UPDATED'],
        res.sessions.map((s) => [s.sessionId, s.label || '-', s.agentId || '(default)', String(s.messageCount), s.busy ? 'yes' : 'no', relativeTime(s.updatedAtMs, now)]),
        'No sessions. Start one with "openclaw-cli sessions create --label <label>".',
      ),
  );
}

/** `sessions create` */
export async function sessionsCreate(ctx: CliContext, o: { label?: string; agent?: string }): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(SessionService.method.createSession, { label: o.label ?? '', agentId: o.agent ?? '' });
  ctx.out.result(
    () => protoJson(CreateSessionResponseSchema, res),
    () => `Created session ${res.session?.sessionId}${res.session?.label ? ` "${res.session.label}"` : ''}; talk to it with "openclaw-cli chat send ${res.session?.sessionId} <text>"`,
  );
}

/** `sessions describe <id>` */
export async function sessionsDescribe(ctx: CliContext, sessionId: string): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(SessionService.method.describeSession, { sessionId });
  ctx.out.result(
    () => protoJson(DescribeSessionResponseSchema, res),
    () => (res.session ? sessionFields(ctx, res.session) : `No session ${sessionId}.`),
  );
}

/** `sessions history <id>` */
export async function sessionsHistory(ctx: CliContext, sessionId: string, o: { limit?: string }): Promise<void> {
  const limit = wholeNumber(o.limit, '--limit') ?? 0;
  const conn = await ctx.connect();
  const res = await conn.unary(SessionService.method.getHistory, { sessionId, limit });
  ctx.out.result(
    () => protoJson(GetHistoryResponseSchema, res),
    () =>
      res.messages.length === 0
        ? `No messages in session ${sessionId}.`
        : res.messages
            .map((m) => `${ctx.out.paint('dim', isoTime(m.tsMs))} ${ctx.out.paint('bold', m.role)}${m.status && m.status !== 'ok' ? ` [${m.status}]` : ''}: ${m.text}`)
            .join('\n'),
  );
}

/** `sessions delete <id>` */
export async function sessionsDelete(ctx: CliContext, sessionId: string): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(SessionService.method.deleteSession, { sessionId });
  if (!res.deleted) throw errors.notFound('SESSION_NOT_FOUND', `no session ${sessionId}`);
  ctx.out.result(
    () => protoJson(DeleteSessionResponseSchema, res),
    () => `Deleted session ${sessionId}`,
  );
}

/**
 * `chat send <session> <text>`: streams the agent's reply as it arrives. Ctrl-C aborts
 * the turn on the gateway (AbortTurn) before exiting.
 */
export async function chatSend(ctx: CliContext, sessionId: string, text: string): Promise<void> {
  const conn = await ctx.connect();
  const stream = conn.serverStream(SessionService.method.sendMessage, { sessionId, text, idempotencyKey: randomUUID() });
  let runId = '';
  let printed = false;
  let atLineStart = true;
  let interrupted = false;
  const stopInterrupt = ctx.runtime.onInterrupt?.(() => {
    interrupted = true;
    // Abort on the gateway, then stop reading; the turn ends as "aborted".
    void conn.unary(SessionService.method.abortTurn, { sessionId, runId }, { timeoutMs: 3000 }).catch(() => undefined).finally(() => stream.cancel());
  });
  try {
    for await (const chunk of stream) {
      const o = chunk.output;
      if (!o) continue;
      runId ||= o.runId;
      if (ctx.out.json) {
        ctx.out.record(protoJson(AgentOutputSchema, o));
      } else if (o.stream === 'assistant' && o.delta) {
        ctx.out.raw(o.delta);
        printed = true;
        atLineStart = o.delta.endsWith('\n');
      } else if (o.phase === 'end' && !printed && o.text) {
        ctx.out.raw(o.text);
        printed = true;
        atLineStart = o.text.endsWith('\n');
      }
      if (o.stream === 'error' || o.phase === 'error') {
        if (!ctx.out.json && !atLineStart) ctx.out.raw('\n');
        throw new GatewayError(ErrorCode.Internal, 'AGENT_ERROR', `the agent failed: ${o.error || 'unknown error'} (session ${sessionId}, run ${o.runId})`);
      }
      if (o.phase === 'aborted') {
        if (!ctx.out.json && !atLineStart) ctx.out.raw('\n');
        throw errors.precondition('TURN_ABORTED', `the turn was aborted (session ${sessionId}, run ${o.runId})`);
      }
      if (o.phase === 'end') break;
    }
  } finally {
    stopInterrupt?.();
  }
  if (interrupted) throw new GatewayError(ErrorCode.Cancelled, 'INTERRUPTED', `interrupted; asked the gateway to abort run ${runId || '(not started)'}`);
  if (!ctx.out.json && printed && !atLineStart) ctx.out.raw('\n');
}

/** `chat abort <session>` */
export async function chatAbort(ctx: CliContext, sessionId: string, o: { run?: string }): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(SessionService.method.abortTurn, { sessionId, runId: o.run ?? '' });
  ctx.out.result(
    () => protoJson(AbortTurnResponseSchema, res),
    () => (res.aborted ? `Aborted the running turn of session ${sessionId}` : `No turn was running in session ${sessionId}`),
  );
}
