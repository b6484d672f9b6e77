/**
 * The plain-HTTP readiness endpoint a load balancer checks: `GET /readyz` on an address
 * of its own (`--health-addr`, off by default), 200 while the gateway serves with a
 * current store, 503 (with the reason) otherwise. HAProxy's check in deploy/haproxy.cfg
 * uses it. It says nothing about devices; bind it to loopback or the balancer's network.
 */
import { createServer, type Server } from 'node:http';
import { listenSideEndpoint, type SideEndpoint } from '../transport/http/side-endpoint';
import type { Readiness } from './readiness';

/** A listening readiness endpoint. */
export type ReadinessServer = SideEndpoint;

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
  return listenSideEndpoint(server, listen, 'for health checks', 5000);
}
