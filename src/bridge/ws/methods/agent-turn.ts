import { SessionService, type SendMessageResponse } from '../../../gen/openclaw/sessions/v1/sessions_pb';
import { callMetadata } from '../../../transport/grpc/client/gateway-connection';
import { ms } from './params';
import { readStream } from './streams';
import type { MethodContext } from './types';

/** How a turn ended. `in_flight`: a retry with the same idempotency key of a turn still running elsewhere. */
export interface TurnResult {
  runId: string;
  sessionId: string;
  status: 'ok' | 'error' | 'aborted' | 'in_flight';
  text: string;
  error?: string;
  startedAt: number;
  endedAt: number;
}

/** A running turn: its run id once the gateway started it, and its result at the end. */
export interface TurnHandle {
  runId: Promise<string>;
  result: Promise<TurnResult>;
}

/**
 * Starts an agent turn with SessionService.SendMessage on behalf of the connection's
 * principal. The legacy `agent`/`chat` events reach clients through their event
 * subscription (the gateway publishes them); this stream only tells the bridge the
 * run id and how the turn ended. The turn is aborted if the client goes away.
 */
export function startTurn(ctx: MethodContext, sessionId: string, text: string, idempotencyKey?: string): TurnHandle {
  const c = ctx.gateway.client(SessionService);
  const call = c.sendMessage({ sessionId, text, idempotencyKey: idempotencyKey ?? '' }, callMetadata(ctx.streamCall));
  let runId = '';
  let reply = '';
  let status: TurnResult['status'] = 'ok';
  let error: string | undefined;
  let startedAt = ctx.clock.now();
  let announce!: (id: string) => void;
  let refuse!: (err: unknown) => void;
  const runIdPromise = new Promise<string>((resolve, reject) => {
    announce = resolve;
    refuse = reject;
  });
  const onOutput = (m: SendMessageResponse): void => {
    const o = m.output;
    if (!o) return;
    if (!runId) {
      runId = o.runId;
      startedAt = ms(o.tsMs);
      ctx.runs.start(runId, startedAt);
      announce(runId);
    }
    if (o.stream === 'assistant') reply += o.delta;
    else if (o.stream === 'error' || o.phase === 'error') {
      status = 'error';
      error = o.error;
    } else if (o.phase === 'end' || o.phase === 'aborted') {
      status = o.phase === 'end' ? 'ok' : 'aborted';
      reply = o.text || reply;
    }
  };
  const result = readStream(call, ctx.signal, onOutput).then(
    () => {
      if (!runId) {
        announce('');
        status = 'in_flight';
      }
      const r: TurnResult = { runId, sessionId, status, text: reply, error, startedAt, endedAt: ctx.clock.now() };
      if (runId && status !== 'in_flight') ctx.runs.end({ runId, status: status === 'ok' ? 'ok' : status === 'aborted' ? 'aborted' : 'error', startedAt, endedAt: r.endedAt, error });
      return r;
    },
    (err: unknown) => {
      if (!runId) refuse(err);
      else ctx.runs.end({ runId, status: ctx.signal.aborted ? 'aborted' : 'error', startedAt, endedAt: ctx.clock.now(), error });
      throw err;
    },
  );
  // The run id promise is only awaited by some callers; a refusal must not go unhandled.
  runIdPromise.catch(() => undefined);
  return { runId: runIdPromise, result };
}
