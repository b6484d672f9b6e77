import { BuiltinProvider, BUILTIN_MODEL, builtinReply } from '../../../src/services/agent/builtin-provider';
import { caught } from '../helpers';

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const d of it) out.push(d);
  return out;
}

const user = (content: string) => [{ role: 'user' as const, content }];

describe('BuiltinProvider', () => {
  it('streams a deterministic echo reply in several deltas', async () => {
    const p = new BuiltinProvider();
    const deltas = await collect(p.stream({ model: BUILTIN_MODEL, messages: user('hello big world'), signal: new AbortController().signal }));
    expect(deltas).toEqual(['Echo:', ' hello', ' big', ' world', ' (3 words)']);
    expect(deltas.join('')).toBe(builtinReply(user('hello big world')));
    expect(p.models()).toEqual([BUILTIN_MODEL]);
    expect(p.id).toBe('builtin');
  });

  it('answers the last user message and counts one word in the singular', async () => {
    const p = new BuiltinProvider();
    const messages = [
      { role: 'user' as const, content: 'first' },
      { role: 'assistant' as const, content: 'Echo: first (1 word)' },
      { role: 'user' as const, content: 'second' },
    ];
    const deltas = await collect(p.stream({ model: BUILTIN_MODEL, messages, signal: new AbortController().signal }));
    expect(deltas.join('')).toBe('Echo: second (1 word)');
    expect(deltas.length).toBeGreaterThanOrEqual(3);
  });

  it('says so when there is no user message', async () => {
    const deltas = await collect(new BuiltinProvider().stream({ model: BUILTIN_MODEL, messages: [], signal: new AbortController().signal }));
    expect(deltas.join('')).toBe('Echo: (nothing) (0 words)');
  });

  it('stops with ABORTED when the signal aborts between deltas', async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    const err = await caught(async () => {
      for await (const d of new BuiltinProvider().stream({ model: BUILTIN_MODEL, messages: user('a b c d e'), signal: ac.signal })) {
        seen.push(d);
        ac.abort();
      }
    });
    expect(err.reason).toBe('ABORTED');
    expect(err.code).toBe('CANCELLED');
    expect(seen).toEqual(['Echo:']);
  });

  it('refuses to start on an aborted signal', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await caught(() => collect(new BuiltinProvider().stream({ model: BUILTIN_MODEL, messages: user('x'), signal: ac.signal })));
    expect(err.reason).toBe('ABORTED');
  });

  it('cuts a per-delta delay short on abort (no waiting for the timer)', async () => {
    const ac = new AbortController();
    const p = new BuiltinProvider({ deltaDelayMs: 60_000 });
    const started = Date.now();
    const pending = caught(() => collect(p.stream({ model: BUILTIN_MODEL, messages: user('slow'), signal: ac.signal })));
    setImmediate(() => ac.abort());
    const err = await pending;
    expect(err.reason).toBe('ABORTED');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
