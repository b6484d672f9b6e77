/**
 * The plain-HTTP endpoint Prometheus scrapes: GET /metrics on an address of its own
 * (`--metrics-addr`, off by default). It serves counters and gauges only (no device
 * ids, no secrets); bind it to loopback or a monitoring network.
 */
import { createServer, type Server } from 'node:http';
import { listenSideEndpoint, type SideEndpoint } from '../transport/http/side-endpoint';
import type { GatewayMetrics } from './gateway-metrics';

/** A listening metrics endpoint. */
export type MetricsServer = SideEndpoint;

/** Starts serving GET /metrics (and HEAD); everything else is 404, other methods 405. */
export async function startMetricsServer(metrics: GatewayMetrics, listen: { host: string; port: number }): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    metrics.scrape().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`),
    );
  });
  return listenSideEndpoint(server, listen, 'for metrics', 10_000);
}
