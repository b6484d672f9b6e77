/**
 * A recording WebSocket relay for tests: a real client connects to the tap, the tap
 * connects on to the bridge and passes every frame through unchanged, keeping a copy
 * of what each side sent. It shows what the real clients send (their connect params)
 * and what they were given (hello-ok), without changing either.
 */
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/** One relayed connection: the frames each side sent, parsed. */
export interface TappedConnection {
  fromClient: any[];
  fromServer: any[];
  closed?: { code: number; reason: string };
}

export class WsTap {
  readonly connections: TappedConnection[] = [];

  private constructor(
    private readonly server: WebSocketServer,
    readonly url: string,
  ) {}

  /** Listens on 127.0.0.1 (free port) and relays to `target`. */
  static async start(target: string): Promise<WsTap> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const tap = new WsTap(server, `ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('connection', (client) => tap.relay(client, target));
    return tap;
  }

  private relay(client: WebSocket, target: string): void {
    const rec: TappedConnection = { fromClient: [], fromServer: [] };
    this.connections.push(rec);
    const upstream = new WebSocket(target, { perMessageDeflate: false });
    const queued: string[] = [];
    const parse = (text: string) => {
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    };
    client.on('message', (data) => {
      const text = data.toString();
      rec.fromClient.push(parse(text));
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
      else queued.push(text);
    });
    upstream.on('open', () => {
      for (const text of queued.splice(0)) upstream.send(text);
    });
    upstream.on('message', (data) => {
      const text = data.toString();
      rec.fromServer.push(parse(text));
      if (client.readyState === WebSocket.OPEN) client.send(text);
    });
    upstream.on('close', (code, reason) => {
      rec.closed = { code, reason: reason.toString() };
      // 1005/1006 cannot be sent on: close normally instead.
      if (client.readyState === WebSocket.OPEN) client.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    });
    client.on('close', () => upstream.readyState === WebSocket.CONNECTING ? upstream.terminate() : upstream.close());
    upstream.on('error', () => client.terminate());
    client.on('error', () => upstream.terminate());
  }

  /** The connect request and its answer of every relayed connection, in order. */
  handshakes(): { connect: any; answer: any; closed?: { code: number; reason: string } }[] {
    return this.connections.map((c) => {
      const connect = c.fromClient.find((f) => f?.type === 'req' && f.method === 'connect');
      return { connect, answer: c.fromServer.find((f) => f?.type === 'res' && f.id === connect?.id), closed: c.closed };
    });
  }

  close(): Promise<void> {
    for (const c of this.server.clients) c.terminate();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
