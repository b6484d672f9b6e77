/**
 * The plain-HTTP readiness endpoint a load balancer checks: `GET /readyz` on an address
 * of its own (`--health-addr`, off by default), 200 while the gateway serves with a
 * current store, 503 (with the reason) otherwise. HAProxy's check in deploy/haproxy.cfg
 * uses it. It says nothing about devices; bind it to loopback or the balancer's network.
 */
import { createServer, type Server } from 'node:http';
import { errors } from '../errors';
import type { Readiness } from './readiness';

/** A listening readiness endpoint. */
export interface ReadinessServer {
  /** host:port it listens on. */
  address: string;
  close(): Promise<void>;
}

/** Starts serving GET (and HEAD) /readyz; everything else is 404, other methods 405. */
export async function startReadinessServer(readiness: Pick<Readiness, 'notReadyBecause'>, listen: { host: string; port: number }): Promise<ReadinessServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      const text = JSON.stringify(body) + '\n';
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...extra });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if (path !== '/readyz') return reply(404, { error: 'not found: readiness is at /readyz' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    const reason = readiness.notReadyBecause();
    reply(reason ? 503 : 200, reason ? { ready: false, reason } : { ready: true });
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(errors.unavailable('BIND_FAILED', `cannot listen for health checks on ${listen.host}:${listen.port}: ${err.message}`)));
    server.listen(listen.port, listen.host, () => resolve());
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : listen.port;
  return {
    address: `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
