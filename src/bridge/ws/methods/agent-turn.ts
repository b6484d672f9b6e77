import { SessionService, type AgentOutput, type SendMessageResponse } from '../../../gen/openclaw/sessions/v1/sessions_pb';
import { callMetadata } from '../../../transport/grpc/client/gateway-connection';
import { ms } from './params';
import { readStream } from './streams';
import type { MethodContext } from './types';

/** How a turn ended (as its last output told). */
export interface TurnResult {
  runId: string;
  sessionId: string;
  status: 'ok' | 'error' | 'aborted';
  text: string;
  error?: string;
  /** Unknown for a replayed turn that ran before this request. */
  startedAt?: number;
  endedAt: number;
}

/**
 * How a send started: `new`, a turn of its own; `running` and `ended`, the request
 * named a turn the gateway already has (same idempotency key), still running or over.
 */
export interface TurnStart {
  runId: string;
  kind: 'new' | 'running' | 'ended';
}

/** A send in progress: how it started, and how the turn ended. */
export interface TurnHandle {
  started: Promise<TurnStart>;
  result: Promise<TurnResult>;
  /** Stops following the turn (the turn itself goes on: used after replaying a running one). */
  stop(): void;
}

const FINAL_PHASES = new Set(['end', 'aborted', 'error']);

/**
 * Starts an agent turn with SessionService.SendMessage on behalf of the connection's
 * principal. The legacy client's idempotency key names the run (legacy clients match
 * `agent` events by it), so the gateway's run id is that key; sending the key again
 * starts nothing and the gateway replays the turn's state. The legacy `agent`/`chat`
 * events reach clients through their event subscription; this stream only tells the
 * bridge how the turn started and ended. A new turn is aborted if the client goes away.
 */
export function startTurn(ctx: MethodContext, sessionId: string, text: string, idempotencyKey?: string): TurnHandle {
  const c = ctx.gateway.client(SessionService);
  const call = c.sendMessage({ sessionId, text, idempotencyKey: '', runId: idempotencyKey ?? '' }, callMetadata(ctx.streamCall));
  let start: TurnStart | undefined;
  let last: AgentOutput | undefined;
  let reply = '';
  let startedAt: number | undefined;
  let announce!: (s: TurnStart) => void;
  let refuse!: (err: unknown) => void;
  const started = new Promise<TurnStart>((resolve, reject) => {
    announce = resolve;
    refuse = reject;
  });
  const onOutput = (m: SendMessageResponse): void => {
    const o = m.output;
    if (!o) return;
    if (!start) {
      start = { runId: o.runId, kind: !o.replayed ? 'new' : o.phase === 'start' ? 'running' : 'ended' };
      if (start.kind === 'new') {
        startedAt = ms(o.tsMs);
        ctx.runs.start(o.runId, startedAt);
      }
      announce(start);
    }
    if (o.stream === 'assistant') reply += o.delta;
    if (FINAL_PHASES.has(o.phase)) last = o;
  };
  const result = readStream(call, ctx.signal, onOutput).then(
    () => ended(),
    (err: unknown) => {
      // A failed turn tells why in its last output before the stream fails with the same error.
      if (last && start) return ended();
      if (!start) refuse(err);
      else if (start.kind === 'new') ctx.runs.end({ runId: start.runId, status: ctx.signal.aborted ? 'aborted' : 'error', startedAt, endedAt: ctx.clock.now() });
      throw err;
    },
  );
  const ended = (): TurnResult => {
    if (!start || !last) throw new Error('the gateway ended a turn without telling how it ended');
    const status: TurnResult['status'] = last.phase === 'end' ? 'ok' : last.phase === 'aborted' ? 'aborted' : 'error';
    const r: TurnResult = { runId: start.runId, sessionId, status, text: last.text || reply, error: last.error || undefined, startedAt, endedAt: ms(last.tsMs) };
    if (start.kind === 'new') ctx.runs.end({ runId: r.runId, status, startedAt, endedAt: r.endedAt, error: r.error });
    return r;
  };
  // Only some callers await these; a refusal must not go unhandled.
  started.catch(() => undefined);
  result.catch(() => undefined);
  return { started, result, stop: () => call.cancel() };
}
