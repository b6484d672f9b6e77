/**
 * The real openclaw-node client in a Node 24 child process (openclaw-node-driver.js),
 * seen from a test: call(op) sends one command and resolves with its answer; client
 * events (pairingRequired, gateway events, ...) are collected and waited for by
 * predicate, never by sleeping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { RealClients } from './real-clients';
import { realClientEnv } from './real-client-env';

/** One line the driver printed for a client event. */
export interface DriverEvent {
  event: string;
  data: any;
}

export interface OpenclawNodeOptions {
  url: string;
  /** The shared token; leave out to connect with the stored device token alone. */
  token?: string;
  /** openclaw-node's identity file (key pair and the device token it stores). */
  identityPath: string;
  scopes?: string[];
  home: string;
}

/** A chat() call as the driver reports it. */
export interface ChatReport {
  chunks: { type: string; text: string; runId?: string }[];
  /** The `agent` request openclaw-node sent. */
  request: { id: string; params: Record<string, any> };
  /** The gateway's answers to it (accepted, then final). */
  responses: { ok: boolean; payload?: Record<string, any>; error?: Record<string, any> }[];
  /** Every `agent` event frame received during the call. */
  agentEvents: { payload: Record<string, any> }[];
}

const DRIVER = join(__dirname, 'openclaw-node-driver.js');

export class OpenclawNodeProcess {
  readonly events: DriverEvent[] = [];
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private readonly waiters = new Set<() => void>();
  private nextId = 1;
  private stderr = '';
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    let partial = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (line.trim()) this.onLine(line);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (this.stderr += d));
    this.exit = new Promise((resolve) =>
      child.on('close', (code, signal) => {
        this.exited = true;
        for (const [, p] of this.pending) p.reject(new Error(`openclaw-node driver exited (${code ?? signal}) before answering; stderr: ${this.stderr.trim()}`));
        this.pending.clear();
        this.wake();
        resolve();
      }),
    );
  }

  /** Starts the driver with the real client's settings. */
  static start(clients: RealClients, o: OpenclawNodeOptions): OpenclawNodeProcess {
    const config = { packageDir: clients.openclawNodeDir, url: o.url, token: o.token, identityPath: o.identityPath, scopes: o.scopes };
    const child = spawn(clients.node, [DRIVER, JSON.stringify(config)], { env: realClientEnv(clients, o.home), stdio: ['pipe', 'pipe', 'pipe'] });
    return new OpenclawNodeProcess(child);
  }

  private onLine(line: string): void {
    let msg: { id?: number; ok?: boolean; result?: unknown; error?: string; event?: string; data?: unknown };
    try {
      msg = JSON.parse(line);
    } catch {
      this.stderr += `(unparsed stdout) ${line}\n`;
      return;
    }
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.ok) p?.resolve(msg.result);
      else p?.reject(new Error(msg.error));
    } else if (msg.event) {
      this.events.push({ event: msg.event, data: msg.data });
      this.wake();
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Runs one driver op; rejects with the client's error message. */
  call<T = any>(op: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`openclaw-node driver has exited; stderr: ${this.stderr.trim()}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`openclaw-node ${op} did not answer within ${timeoutMs} ms; events: ${JSON.stringify(this.events.slice(-5))}`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.stdin!.write(JSON.stringify({ id, op, args }) + '\n');
    });
  }

  /** Resolves with the first client event of that name (already seen or to come) that matches. */
  waitEvent(name: string, match: (data: any) => boolean = () => true, timeoutMs = 10_000): Promise<any> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.events.find((e) => e.event === name && match(e.data));
        if (hit) {
          done();
          resolve(hit.data);
        } else if (this.exited) {
          done();
          reject(new Error(`openclaw-node driver exited before a ${name} event; stderr: ${this.stderr.trim()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${name} event from openclaw-node within ${timeoutMs} ms; events: ${JSON.stringify(this.events.map((e) => e.event))}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The gateway events (event frames) the client received so far. */
  gatewayEvents(name?: string): { event: string; payload: any }[] {
    return this.events.filter((e) => e.event === 'gateway-event' && (!name || e.data.event === name)).map((e) => e.data);
  }

  /** Disconnects and ends the process (killed if it does not end). */
  async close(): Promise<void> {
    if (this.exited) return;
    await this.call('exit', undefined, 5_000).catch(() => this.child.kill('SIGKILL'));
    await this.exit;
  }
}
