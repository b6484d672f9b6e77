/**
 * The gRPC port behind a TCP load balancer that speaks the PROXY protocol
 * (`--proxy-protocol`): this front accepts the balancer's connections, reads the PROXY
 * header, and relays the rest of the stream (TLS and all) to the gRPC server listening
 * on a loopback port of its own. It remembers which relay connection carries which
 * client, so the gateway's peer address (rate budgets per address, audit lines,
 * pairing requests) is the device's, not the balancer's. A connection without a valid
 * header is closed (accepting both would let anyone name any address), except a TLS
 * connection from this host's loopback (the container's own health check, local tools):
 * it is relayed as it is, with its loopback address. Only enable this where the port is
 * reachable through the balancer alone: a header is believed as sent.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../../logging';
import { parseProxyHeader, ProxyHeaderError, type ProxySource } from './proxy-protocol';

/** How long a connection may take to send its header. */
const HEADER_TIMEOUT_MS = 5000;
/** First byte of a TLS record carrying a handshake (a ClientHello). */
const TLS_HANDSHAKE = 0x16;

function isLoopback(address: string | undefined): boolean {
  return !!address && (address === '::1' || /^(::ffff:)?127\./.test(address));
}

/** A listening front. */
export class ProxyFront {
  private readonly server: Server;
  /** Local port of a relay connection to the gRPC server -> the client it carries. */
  private readonly clients = new Map<number, ProxySource>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly internalPort: number,
    private readonly log: Logger,
  ) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Listens on host:port (0: a free one) and relays to 127.0.0.1:internalPort; resolves with the port. */
  static async listen(host: string, port: number, internalPort: number, log: Logger): Promise<{ front: ProxyFront; port: number }> {
    const front = new ProxyFront(internalPort, log);
    await new Promise<void>((resolve, reject) => {
      front.server.once('error', reject);
      front.server.listen(port, host, () => {
        front.server.off('error', reject);
        resolve();
      });
    });
    return { front, port: (front.server.address() as { port: number }).port };
  }

  /**
   * The client behind a grpc-js peer string of a relayed connection
   * ("127.0.0.1:<relay port>"), in grpc-js's own format ("addr:port", IPv6 unbracketed);
   * the peer itself for anything else (the balancer's LOCAL connections, or a peer
   * this front does not know).
   */
  peerOf(peer: string): string {
    const m = /^(?:127\.0\.0\.1|::ffff:127\.0\.0\.1):(\d+)$/.exec(peer);
    const client = m ? this.clients.get(Number(m[1])) : undefined;
    return client ? `${client.address}:${client.port}` : peer;
  }

  /** Stops accepting and cuts every relayed connection. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setTimeout(HEADER_TIMEOUT_MS, () => {
      this.log.warn({ from: `${socket.remoteAddress}:${socket.remotePort}` }, 'no PROXY protocol header in time; connection closed');
      socket.destroy();
    });
    let pending = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending[0] === TLS_HANDSHAKE && isLoopback(socket.remoteAddress)) {
        socket.off('data', onData);
        socket.setTimeout(0);
        socket.pause();
        this.relay(socket, undefined, pending);
        return;
      }
      let header;
      try {
        header = parseProxyHeader(pending);
      } catch (err) {
        const reason = err instanceof ProxyHeaderError ? err.message : String(err);
        this.log.warn({ from: `${socket.remoteAddress}:${socket.remotePort}`, reason }, 'connection without a valid PROXY protocol header closed (the gRPC port expects one from the load balancer: --proxy-protocol)');
        socket.destroy();
        return;
      }
      if (!header) return;
      socket.off('data', onData);
      socket.setTimeout(0);
      socket.pause();
      this.relay(socket, header.source, pending.subarray(header.length));
    };
    socket.on('data', onData);
  }

  private relay(client: Socket, source: ProxySource | undefined, rest: Buffer): void {
    const upstream = connect({ host: '127.0.0.1', port: this.internalPort });
    this.sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    let localPort: number | undefined;
    upstream.once('connect', () => {
      localPort = upstream.localPort;
      // Known before the gRPC server reads a byte of this connection.
      if (source && localPort !== undefined) this.clients.set(localPort, source);
      if (rest.length > 0) upstream.write(rest);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    const done = () => {
      if (localPort !== undefined && this.clients.get(localPort) === source) this.clients.delete(localPort);
      this.sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    upstream.once('close', done);
    client.once('close', done);
  }
}
