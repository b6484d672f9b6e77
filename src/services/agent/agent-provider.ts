import { ErrorCode, GatewayError } from '../../errors';

/** Who wrote a message in the conversation handed to a provider. */
export type ProviderRole = 'system' | 'user' | 'assistant';

/** One message of the conversation handed to a provider. */
export interface ProviderMessage {
  role: ProviderRole;
  content: string;
}

/** One completion request: the model, the conversation so far, and the turn's abort signal. */
export interface ProviderStreamRequest {
  model: string;
  messages: ProviderMessage[];
  /** Aborting it ends the stream with a GatewayError of reason `ABORTED`. */
  signal: AbortSignal;
}

/**
 * A source of assistant text. Sessions only see this interface, so the built-in echo
 * model and any OpenAI-compatible server are interchangeable per agent.
 */
export interface AgentProvider {
  /** Provider name as used in config (`builtin`, `openai`, ...). */
  readonly id: string;
  /** Models this provider serves. */
  models(): string[];
  /** Yields text deltas of the assistant reply; throws GatewayError on failure or abort. */
  stream(req: ProviderStreamRequest): AsyncIterable<string>;
}

/** The error every provider throws when the turn's signal is aborted, so callers branch on one reason. */
export function abortedError(): GatewayError {
  return new GatewayError(ErrorCode.Cancelled, 'ABORTED', 'the agent turn was aborted');
}

/** True for the error `abortedError()` builds (or any GatewayError with reason ABORTED). */
export function isAbortedError(err: unknown): boolean {
  return err instanceof GatewayError && err.reason === 'ABORTED';
}
