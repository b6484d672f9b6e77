/**
 * The legacy port's listening socket: plain HTTP/WebSocket, or TLS (`https://`,
 * `wss://`) with a certificate that can change while connections stay up.
 *
 * With TLS, a small front reads the first byte of each connection: a TLS handshake goes
 * on to the HTTPS server; anything else (someone typed `http://` or `ws://`) gets one
 * plain `400` saying to use `https://`/`wss://`, instead of a TLS error the user cannot
 * read. TLS 1.2 is the oldest version accepted; every HTTPS answer carries HSTS.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { BridgeTlsSource } from './tls-source';

/** The oldest TLS version the legacy port accepts. */
export const MIN_TLS_VERSION = 'TLSv1.2';
/** HSTS on every HTTPS answer: browsers that saw it once use https:// for a year. */
export const HSTS = 'max-age=31536000';
/** First byte of a TLS record carrying a handshake (a ClientHello). */
const TLS_HANDSHAKE = 0x16;
/** How long a new connection may take to send its first byte. */
const FIRST_BYTE_TIMEOUT_MS = 10_000;
const PLAIN_ON_TLS_PORT =
  'This port speaks TLS: use https:// (or wss:// for WebSocket clients) instead of http:// (or ws://).\n';

/** A listening legacy port. */
export interface BridgeListener {
  /** The HTTP(S) server: requests and WebSocket upgrades arrive here. */
  readonly server: HttpServer | HttpsServer;
  /** `ws` or `wss`. */
  readonly scheme: 'ws' | 'wss';
  /** Listens; resolves with the port (0 picks a free one). */
  listen(port: number, host: string): Promise<number>;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A plain HTTP/WebSocket port. */
function plainListener(handler: Handler): BridgeListener {
  const server = createHttpServer(handler);
  return {
    server,
    scheme: 'ws',
    listen: (port, host) => listenOn(server, port, host),
    close: () => closeHttp(server),
  };
}

/** A TLS port with a certificate from `tls` (reloaded on every change it announces). */
function tlsListener(handler: Handler, tls: BridgeTlsSource, onTlsError?: (err: Error) => void): BridgeListener {
  const context = () => ({ cert: tls.current().cert, key: tls.current().key, minVersion: MIN_TLS_VERSION } as const);
  const server = createHttpsServer({ ...context() }, (req, res) => {
    res.setHeader('strict-transport-security', HSTS);
    handler(req, res);
  });
  const unsubscribe = tls.onChange(() => server.setSecureContext(context()));
  server.on('tlsClientError', (err) => onTlsError?.(err));
  const waiting = new Set<Socket>();
  const front: NetServer = createNetServer((socket) => {
    waiting.add(socket);
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.once('close', () => waiting.delete(socket));
    socket.once('data', (chunk: Buffer) => {
      waiting.delete(socket);
      socket.setTimeout(0);
      socket.pause();
      if (chunk[0] === TLS_HANDSHAKE) {
        socket.unshift(chunk);
        server.emit('connection', socket);
        return;
      }
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(PLAIN_ON_TLS_PORT)}\r\n\r\n${PLAIN_ON_TLS_PORT}`,
      );
    });
  });
  return {
    server,
    scheme: 'wss',
    listen: (port, host) => listenOn(front, port, host),
    close: async () => {
      unsubscribe();
      // Sockets handed to the HTTPS server still count as the front's: close both at once,
      // so idle keep-alive connections are cut instead of waited for.
      const frontClosed = new Promise<void>((resolve) => front.close(() => resolve()));
      for (const s of waiting) s.destroy();
      await Promise.all([frontClosed, closeHttp(server)]);
    },
  };
}

/** The listener for the bridge: TLS when a certificate source is given. */
export function createBridgeListener(handler: Handler, tls?: BridgeTlsSource, onTlsError?: (err: Error) => void): BridgeListener {
  return tls ? tlsListener(handler, tls, onTlsError) : plainListener(handler);
}

function listenOn(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

function closeHttp(server: HttpServer | HttpsServer): Promise<void> {
  return new Promise<void>((resolve) => {
    // Not yet listening (the front listens for a TLS port): close() calls back with an error; done either way.
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
