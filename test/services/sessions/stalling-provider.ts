import { BuiltinProvider } from '../../../src/services/agent/builtin-provider';
import type { AgentProvider, ProviderStreamRequest } from '../../../src/services/agent/agent-provider';

/**
 * The built-in echo, except that a turn whose message says "stall" never yields and
 * ignores the abort signal: such a turn ends only through the session's own abort.
 */
export class StallingProvider implements AgentProvider {
  readonly id = 'stalling';
  private readonly echo = new BuiltinProvider();
  models(): string[] {
    return ['stalling-1'];
  }
  stream(req: ProviderStreamRequest): AsyncIterable<string> {
    if (req.messages.at(-1)?.content.includes('stall')) {
      return { [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<string>>(() => undefined) }) };
    }
    return this.echo.stream(req);
  }
}
