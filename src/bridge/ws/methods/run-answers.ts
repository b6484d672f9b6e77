import { LegacyError } from '../legacy-errors';
import type { TurnResult } from './agent-turn';

/**
 * A failed run's answer: `ok:false` with both a payload and the error, as the legacy
 * gateway answers (`{runId, status:"error", summary}` + UNAVAILABLE with the reason).
 */
export class RunFailedError extends LegacyError {
  constructor(
    readonly payload: Record<string, unknown>,
    message: string,
  ) {
    super('UNAVAILABLE', message);
    this.name = 'RunFailedError';
  }
}

/** The answer payload an error frame carries, if its error has one. */
export function errorPayloadOf(err: unknown): Record<string, unknown> | undefined {
  return err instanceof RunFailedError ? err.payload : undefined;
}

function failed(r: TurnResult): RunFailedError {
  const summary = r.error || 'agent run failed';
  return new RunFailedError({ runId: r.runId, status: 'error', summary }, summary);
}

/** The final answer of `agent` for a turn that ended (thrown as RunFailedError when it failed). */
export function agentFinalAnswer(r: TurnResult, session: { key: string; agentId: string }): Record<string, unknown> {
  if (r.status === 'error') throw failed(r);
  const meta: Record<string, unknown> = { sessionId: r.sessionId, sessionKey: session.key, agentId: session.agentId };
  if (r.startedAt !== undefined) meta.durationMs = r.endedAt - r.startedAt;
  return { runId: r.runId, status: r.status, summary: r.status === 'ok' ? 'completed' : r.status, result: { payloads: r.text ? [{ text: r.text }] : [], meta } };
}

/** The answer of `chat.send` (and `sessions.send`) for a send that named a turn that already ended. */
export function chatSendReplayAnswer(r: TurnResult): Record<string, unknown> {
  if (r.status === 'error') throw failed(r);
  return { runId: r.runId, status: r.status };
}
