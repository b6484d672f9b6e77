/**
 * A small plain-HTTP endpoint on an address of its own (readiness for load balancers,
 * metrics for Prometheus): short request timeouts, one clear error when the address is
 * taken, and a close that cuts open connections instead of waiting for them.
 */
import type { Server } from 'node:http';
import { errors } from '../../errors';

/** A listening side endpoint. */
export interface SideEndpoint {
  /** host:port it listens on. */
  address: string;
  close(): Promise<void>;
}

/** Listens with `server` on `listen` (port 0: a free one); `what` names it in the error ("for metrics"). */
export async function listenSideEndpoint(server: Server, listen: { host: string; port: number }, what: string, timeoutMs: number): Promise<SideEndpoint> {
  server.headersTimeout = timeoutMs;
  server.requestTimeout = timeoutMs;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(errors.unavailable('BIND_FAILED', `cannot listen ${what} on ${listen.host}:${listen.port}: ${err.message}`)));
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
