/**
 * The child side of the bench IPC: a bench server process (forked by bench/lib/child.ts)
 * announces itself with `ready(info)` and answers `{id, cmd, params}` requests from
 * the parent with `{id, ok, result | error}`. The parent going away ends the child.
 */

/** A command handler of a bench server. */
export type Handlers = Record<string, (params: Record<string, unknown>) => unknown>;

interface Request {
  id: number;
  cmd: string;
  params?: Record<string, unknown>;
}

function send(msg: unknown): void {
  if (process.send) process.send(msg);
}

/** The JSON argument the parent passed (argv[2]). */
export function childArgs<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}

function statsHandler(params: Record<string, unknown>) {
  if (params.gc) collectGarbage();
  return processStats();
}

/** Serves the parent's commands (`stats {gc?}` is built in); `stop` is always handled (runs `onStop`, then exits). */
export function serve(handlers: Handlers, onStop: () => Promise<void> | void): void {
  process.on('message', (raw: unknown) => {
    const req = raw as Request;
    if (!req || typeof req.id !== 'number') return;
    const reply = (ok: boolean, payload: unknown) => send(ok ? { id: req.id, ok, result: payload } : { id: req.id, ok, error: payload });
    if (req.cmd === 'stop') {
      Promise.resolve()
        .then(onStop)
        .then(
          () => reply(true, null),
          (err: Error) => reply(false, err.message),
        )
        .finally(() => setTimeout(() => process.exit(0), 20));
      return;
    }
    const h = handlers[req.cmd] ?? (req.cmd === 'stats' ? statsHandler : undefined);
    if (!h) {
      reply(false, `unknown command ${req.cmd}`);
      return;
    }
    Promise.resolve()
      .then(() => h(req.params ?? {}))
      .then(
        (result) => reply(true, result ?? null),
        (err: Error) => reply(false, err?.stack ?? String(err)),
      );
  });
  // Never outlive the harness (e.g. when it is killed mid-run).
  process.on('disconnect', () => process.exit(0));
}

/** Tells the parent the server is up. */
export function ready(info: Record<string, unknown>): void {
  send({ ready: true, info });
}

/** Tells the parent start-up failed, and exits. */
export function failed(err: unknown): void {
  send({ ready: false, error: (err as Error)?.stack ?? String(err) });
  setTimeout(() => process.exit(1), 20);
}

/** Memory and CPU of this process (for server-side figures). */
export function processStats(): { rss: number; heapUsed: number; cpuUserUs: number; cpuSystemUs: number } {
  const m = process.memoryUsage();
  const c = process.cpuUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, cpuUserUs: c.user, cpuSystemUs: c.system };
}

/** Runs a full GC when the process was started with --expose-gc (RSS figures). */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
}
