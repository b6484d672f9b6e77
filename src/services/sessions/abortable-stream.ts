import { abortedError } from '../agent/agent-provider';

/**
 * Iterates a provider stream but stops as soon as `signal` aborts, even if the
 * provider ignores the signal and never yields again; the provider's iterator is
 * closed in the background.
 */
export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortedError());
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  let finished = false;
  try {
    for (;;) {
      const next = it.next();
      // If the abort wins the race, the provider may still reject later: not unhandled.
      next.catch(() => undefined);
      const r = await Promise.race([next, aborted]);
      if (r.done) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
    if (!finished && it.return) {
      Promise.resolve()
        .then(() => it.return?.())
        .catch(() => undefined);
    }
  }
}
