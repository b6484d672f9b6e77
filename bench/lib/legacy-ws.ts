/**
 * A legacy OpenClaw protocol v4 client for the bridge scenario: WebSocket text frames,
 * the `connect.challenge` / `connect` handshake with the shared token (as the legacy
 * CLI sends on loopback), then `req`/`res` frames matched by id. With
 * `handshake: false` it talks to the bare ws echo server (same frames, no handshake).
 */
import WebSocket from 'ws';
import { withTimeout } from '../measure';

interface Pending {
  resolve: (payload: unknown) => void;
  reject: (err: Error) => void;
}

/** One legacy WebSocket connection. */
export class LegacyWsClient {
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private challenge?: () => void;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData) => this.onFrame(data.toString()));
    ws.on('close', (code: number, reason: Buffer) => {
      for (const p of this.pending.values()) p.reject(new Error(`connection closed (${code} ${reason.toString()})`));
      this.pending.clear();
    });
  }

  /** Opens `url`; with a token, waits for the challenge and performs the legacy handshake. */
  static async connect(url: string, opts: { token?: string; handshake: boolean; timeoutMs?: number; scopes?: string[] }): Promise<LegacyWsClient> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const client = new LegacyWsClient(ws);
    const challenged = new Promise<void>((resolve) => (client.challenge = resolve));
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }),
      timeoutMs,
      `WebSocket open ${url}`,
    );
    ws.on('error', () => undefined);
    if (!opts.handshake) return client;
    // The server speaks first; a client without a device may go on without the nonce.
    await withTimeout(challenged, 1000, 'connect.challenge').catch(() => undefined);
    const hello = (await client.request('connect', {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: 'cli', version: 'bench', platform: process.platform, mode: 'cli' },
      role: 'operator',
      scopes: opts.scopes ?? ['operator.read'],
      auth: { token: opts.token ?? '' },
    })) as { type?: string };
    if (hello?.type !== 'hello-ok') throw new Error(`unexpected handshake answer: ${JSON.stringify(hello).slice(0, 200)}`);
    return client;
  }

  private onFrame(text: string): void {
    let f: { type?: string; id?: string; ok?: boolean; payload?: unknown; error?: { code?: string; message?: string }; event?: string };
    try {
      f = JSON.parse(text) as typeof f;
    } catch {
      return;
    }
    if (f.type === 'event') {
      if (f.event === 'connect.challenge') this.challenge?.();
      return;
    }
    if (f.type !== 'res' || typeof f.id !== 'string') return;
    const p = this.pending.get(f.id);
    if (!p) return;
    this.pending.delete(f.id);
    if (f.ok) p.resolve(f.payload);
    else p.reject(new Error(`${f.error?.code ?? 'ERROR'}: ${f.error?.message ?? 'request failed'}`));
  }

  /** One request; resolves with the response payload. */
  request(method: string, params?: unknown): Promise<unknown> {
    const id = String(this.nextId++);
    return new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify(params === undefined ? { type: 'req', id, method } : { type: 'req', id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}
