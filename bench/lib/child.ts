/**
 * Parent side of the bench IPC: forks one of the bench/servers/*.js entries (a real
 * gateway, a bare grpc-js server, a ws echo server) so that load generated here does
 * not share a core with the server, waits for its `ready` message, and sends it
 * commands. Every wait is bounded; `stop()` ends the child (SIGKILL as a last resort).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { withTimeout } from '../measure';

/** Stats every bench server reports. */
export interface ServerStats {
  rss: number;
  heapUsed: number;
  cpuUserUs: number;
  cpuSystemUs: number;
}

/** A running bench server in a child process. */
export class ChildServer<Info = Record<string, unknown>> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;
  private readonly exitPromise: Promise<void>;

  private constructor(
    private readonly proc: ChildProcess,
    readonly name: string,
    readonly info: Info,
  ) {
    this.exitPromise = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.on('exit', () => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`${name} exited`));
      this.pending.clear();
    });
    proc.on('message', (raw: unknown) => {
      const msg = raw as { id?: number; ok?: boolean; result?: unknown; error?: string };
      if (typeof msg?.id !== 'number') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${name}: ${msg.error}`));
    });
  }

  /**
   * Forks `dist/bench/servers/<entry>.js` with `args` (JSON in argv) and waits until
   * it reports ready. `--expose-gc` lets it collect before RSS readings.
   */
  static async start<I = Record<string, unknown>>(entry: string, args: Record<string, unknown>, opts: { timeoutMs?: number; name?: string } = {}): Promise<ChildServer<I>> {
    const file = join(__dirname, '..', 'servers', `${entry}.js`);
    const proc = fork(file, [JSON.stringify(args)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    let stderr = '';
    proc.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    const name = opts.name ?? entry;
    const info = await withTimeout(
      new Promise<I>((resolve, reject) => {
        proc.once('message', (raw: unknown) => {
          const m = raw as { ready?: boolean; info?: I; error?: string };
          if (m.ready) resolve(m.info as I);
          else reject(new Error(`${name} failed to start: ${m.error ?? 'unknown error'}`));
        });
        proc.once('exit', (code) => reject(new Error(`${name} exited during start-up (code ${code}): ${stderr.trim()}`)));
      }),
      opts.timeoutMs ?? 20_000,
      `${name} start-up`,
    ).catch((err: Error) => {
      proc.kill('SIGKILL');
      throw err;
    });
    return new ChildServer<I>(proc, name, info);
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  /** Sends a command and waits for its answer. */
  request<T = unknown>(cmd: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ id, cmd, params });
    });
    return withTimeout(p, timeoutMs, `${this.name} ${cmd}`).finally(() => this.pending.delete(id));
  }

  /** Sends a command without waiting for the answer (the cheapest way to trigger work). */
  post(cmd: string, params: Record<string, unknown> = {}): void {
    if (!this.exited) this.proc.send({ id: this.nextId++, cmd, params });
  }

  /** Memory and CPU of the server process; with `gc`, after a full collection. */
  stats(gc = false): Promise<ServerStats> {
    return this.request<ServerStats>('stats', { gc });
  }

  /** Stops the child: asks politely, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    this.proc.send({ id: this.nextId++, cmd: 'stop' });
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }
}

/** Stops every server given, ignoring the ones already gone. */
export async function stopAll(servers: (ChildServer<unknown> | undefined)[]): Promise<void> {
  await Promise.all(servers.map((s) => s?.stop().catch(() => undefined)));
}
