import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayReadiness } from './readiness';

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * The plain HTTP side of the legacy port: `/healthz` (the process is live), `/readyz`
 * (the gateway answers the bridge; 503 while it does not), then the Control UI routes.
 * Only GET and HEAD (405 otherwise).
 */
export function httpRoutes(
  readiness: GatewayReadiness,
  isClosing: () => boolean,
  controlUi?: (req: IncomingMessage, res: ServerResponse) => boolean,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split(/[?#]/, 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      json(res, 405, { error: 'method not allowed' });
      return;
    }
    if (path === '/healthz') {
      json(res, 200, { ok: true, status: 'live' });
      return;
    }
    if (path === '/readyz') {
      if (isClosing()) {
        json(res, 503, { ready: false, reason: 'shutting down' });
        return;
      }
      readiness.check().then(
        (ready) => json(res, ready ? 200 : 503, ready ? { ready: true } : { ready: false, reason: 'gateway unreachable' }),
        () => json(res, 503, { ready: false, reason: 'gateway unreachable' }),
      );
      return;
    }
    // The legacy Control UI (or, without a root, a page on `/` that says how to serve it).
    if (controlUi?.(req, res)) return;
    if (path === '/') {
      json(res, 426, { error: 'this endpoint speaks WebSocket (OpenClaw gateway protocol v4)' });
      return;
    }
    json(res, 404, { error: 'not found' });
  };
}
