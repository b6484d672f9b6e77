/**
 * A legacy OpenClaw protocol v4 client written for the tests: ws + Ed25519 signing
 * with node:crypto, independent of the bridge's own code so it checks the wire
 * format rather than mirroring it. Frames are collected as they arrive and waited
 * for by predicate (no sleeps).
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import WebSocket from 'ws';

/** A frame as received (parsed JSON). */
export type Frame = { type: string; id?: string; ok?: boolean; payload?: any; error?: any; event?: string; seq?: number } & Record<string, unknown>;

/** A legacy device identity: raw Ed25519 key, id = hex sha256 of it. */
export interface LegacyDevice {
  id: string;
  publicKey: string;
  privateKey: KeyObject;
}

/** Makes a fresh legacy device identity. */
export function newLegacyDevice(): LegacyDevice {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  return { id: createHash('sha256').update(raw).digest('hex'), publicKey: raw.toString('base64url'), privateKey };
}

/** Connect params with sensible defaults for a CLI-like client. */
export function connectParams(over: Record<string, unknown> = {}): Record<string, any> {
  return {
    minProtocol: 4,
    maxProtocol: 4,
    client: { id: 'cli', version: '2026.9.6', platform: 'Linux', mode: 'cli' },
    role: 'operator',
    scopes: ['operator.read'],
    ...over,
  };
}

/**
 * Adds a signed device block to connect params, signing the v3 (default) or v2
 * payload exactly as legacy clients do. `tamper` lets tests break one field.
 */
export function signDevice(
  params: Record<string, any>,
  device: LegacyDevice,
  nonce: string,
  opts: { version?: 'v3' | 'v2'; signedAt?: number; signedNonce?: string; sentNonce?: string; id?: string; publicKey?: string; signWith?: KeyObject } = {},
): Record<string, any> {
  const signedAt = opts.signedAt ?? Date.now();
  const auth = params.auth ?? {};
  const token = auth.token || auth.deviceToken || auth.bootstrapToken || '';
  const id = opts.id ?? device.id;
  const fields = [id, params.client.id, params.client.mode, params.role ?? 'operator', (params.scopes ?? []).join(','), String(signedAt), token, opts.signedNonce ?? nonce];
  const text =
    (opts.version ?? 'v3') === 'v3'
      ? ['v3', ...fields, String(params.client.platform).toLowerCase(), String(params.client.deviceFamily ?? '').toLowerCase()].join('|')
      : ['v2', ...fields].join('|');
  const signature = sign(null, Buffer.from(text, 'utf8'), opts.signWith ?? device.privateKey).toString('base64url');
  return { ...params, device: { id, publicKey: opts.publicKey ?? device.publicKey, signature, signedAt, nonce: opts.sentNonce ?? nonce } };
}

/** Every client a test opened, so afterAll can close them all. */
export const openClients = new Set<LegacyClient>();

/** One legacy WebSocket connection. */
export class LegacyClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly waiters = new Set<() => void>();
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    openClients.add(this);
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        openClients.delete(this);
        resolve({ code, reason: reason.toString() });
        this.wake();
      });
    });
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      this.wake();
    });
    ws.on('error', () => undefined);
  }

  /** Opens a socket (resolves when open). */
  static open(url: string, headers?: Record<string, string>): Promise<LegacyClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers, perMessageDeflate: false });
      const client = new LegacyClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Waits for the first frame (from `from` on) that matches. */
  waitFor(match: (f: Frame) => boolean, timeoutMs = 10_000, from = 0): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const f = this.frames.slice(from).find(match);
        if (f) {
          done();
          resolve(f);
          return true;
        }
        if (this.ws.readyState === WebSocket.CLOSED) {
          done();
          reject(new Error(`socket closed before the expected frame; got ${JSON.stringify(this.frames.slice(-3))}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for a frame; last frames ${JSON.stringify(this.frames.slice(-3))}`));
      }, timeoutMs);
      const waiter = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      if (!check()) this.waiters.add(waiter);
    });
  }

  /** The challenge nonce (first frame). */
  async challenge(): Promise<string> {
    const f = await this.waitFor((x) => x.type === 'event' && x.event === 'connect.challenge');
    return f.payload.nonce as string;
  }

  /** Sends raw text or a JSON value. */
  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a request and returns its id. */
  sendRequest(method: string, params?: unknown, id = `r${this.nextId++}`): string {
    this.send(params === undefined ? { type: 'req', id, method } : { type: 'req', id, method, params });
    return id;
  }

  /** Sends a request and waits for its (first) response. */
  async request(method: string, params?: unknown, timeoutMs?: number): Promise<Frame> {
    const id = this.sendRequest(method, params);
    return this.waitFor((f) => f.type === 'res' && f.id === id, timeoutMs);
  }

  /** Waits for the n-th response to an id (run-starting methods answer twice). */
  /** Sends a request that must succeed: its payload (a refusal throws, naming the method and the error). */
  async payloadOf(method: string, params?: unknown): Promise<any> {
    const res = await this.request(method, params);
    if (!res.ok) throw new Error(`${method}: ${JSON.stringify(res.error)}`);
    return res.payload;
  }

  responses(id: string, n: number, timeoutMs?: number): Promise<Frame[]> {
    return this.waitFor((f) => f.type === 'res' && f.id === id && this.frames.filter((x) => x.type === 'res' && x.id === id).length >= n, timeoutMs).then(() =>
      this.frames.filter((x) => x.type === 'res' && x.id === id),
    );
  }

  /** Events received so far (optionally of one name). */
  events(name?: string): Frame[] {
    return this.frames.filter((f) => f.type === 'event' && (!name || f.event === name));
  }

  /** Closes the socket and waits for the close. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    const t = setTimeout(() => this.ws.terminate(), 2000);
    await this.closed;
    clearTimeout(t);
  }
}

/** Closes every client still open. */
export async function closeAllClients(): Promise<void> {
  await Promise.all([...openClients].map((c) => c.close()));
}
