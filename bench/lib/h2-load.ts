/**
 * A minimal gRPC unary client on node:http2 (one TLS session, many concurrent
 * streams, pre-encoded request). It costs the load generator far less per call than a
 * grpc-js client, so with it the server, not the client, is the bottleneck: used for
 * the "server-bound" unary figures. Only what a unary call needs: a length-prefixed
 * request, the response body, grpc-status from trailers (or trailers-only headers).
 */
import * as http2 from 'node:http2';
import type { ClientTls } from '../../src/transport/grpc/client/gateway-connection';
import { withTimeout } from '../measure';

/** One HTTP/2 session speaking just enough gRPC for unary calls. */
export class RawGrpcClient {
  private constructor(private readonly session: http2.ClientHttp2Session) {}

  /** Connects with mutual TLS to host:port. */
  static async connect(address: string, tls: ClientTls): Promise<RawGrpcClient> {
    const session = http2.connect(`https://${address}`, { ca: tls.caPem, key: tls.keyPem, cert: tls.certPem });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        session.once('connect', () => resolve());
        session.once('error', reject);
      }),
      5000,
      `HTTP/2 connect to ${address}`,
    );
    session.on('error', () => undefined);
    return new RawGrpcClient(session);
  }

  /** Frames a serialized message (gRPC length prefix, uncompressed). */
  static frame(message: Uint8Array): Buffer {
    const b = Buffer.allocUnsafe(5 + message.length);
    b[0] = 0;
    b.writeUInt32BE(message.length, 1);
    b.set(message, 5);
    return b;
  }

  /** One unary call with a pre-framed request; resolves with the response bytes (framed). */
  unary(path: string, framed: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const req = this.session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      req.on('response', (h) => {
        if (h['grpc-status'] !== undefined) {
          status = String(h['grpc-status']);
          message = String(h['grpc-message'] ?? '');
        }
      });
      req.on('trailers', (t) => {
        status = String(t['grpc-status']);
        message = String(t['grpc-message'] ?? '');
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => (status === '0' ? resolve(Buffer.concat(chunks)) : reject(new Error(`${path}: grpc-status ${status ?? 'missing'} ${decodeURIComponent(message)}`))));
      req.on('error', reject);
      req.end(framed);
    });
  }

  close(): void {
    this.session.close();
  }
}
