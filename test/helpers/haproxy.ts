/**
 * The project's HAProxy configuration (deploy/haproxy.cfg, the load balancer of the HA
 * compose file) run for real in front of gateway replicas: `haproxy` from the system
 * (Debian's package; `.ci/run` installs it when missing), in the foreground, bound to
 * a free loopback port, with the replicas' gRPC addresses and readiness ports (their
 * `--health-addr`, which the balancer checks) passed the way the compose file passes
 * them (environment variables).
 */
import { execFileSync } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { startProcess, type Child } from './processes';

/** deploy/haproxy.cfg of this checkout (tests run from dist/test/helpers). */
export const HAPROXY_CFG = join(__dirname, '..', '..', '..', 'deploy', 'haproxy.cfg');

/** A running load balancer. */
export interface TestHaproxy {
  /** Where clients connect: 127.0.0.1:<port>. */
  address: string;
  child: Child;
  stop(): Promise<void>;
}

function haproxyBinary(): string {
  for (const candidate of ['haproxy', '/usr/sbin/haproxy']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error('haproxy is not installed (Debian: apt-get install haproxy; .ci/run installs it)');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A replica as the balancer sees it: its gRPC address (host:port) and the port of its GET /readyz. */
export interface BalancedReplica {
  address: string;
  checkPort: number;
}

/** Starts HAProxy with deploy/haproxy.cfg in front of two replicas. */
export async function startHaproxy(replicas: [BalancedReplica, BalancedReplica]): Promise<TestHaproxy> {
  const bin = haproxyBinary();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    // -db: stay in the foreground (the test owns the process); -W is not needed.
    const child = startProcess(bin, ['-db', '-f', HAPROXY_CFG], {
      OPENCLAW_LB_BIND: address,
      OPENCLAW_REPLICA_1: replicas[0].address,
      OPENCLAW_REPLICA_2: replicas[1].address,
      OPENCLAW_REPLICA_1_CHECK_PORT: String(replicas[0].checkPort),
      OPENCLAW_REPLICA_2_CHECK_PORT: String(replicas[1].checkPort),
    });
    try {
      // It prints nothing when it is up: ready once its port accepts a connection.
      await acceptsConnections(port, child, 10_000);
      return { address, child, stop: async () => void (await child.kill()) };
    } catch (err) {
      await child.kill();
      if (attempt < 3 && /cannot bind|Address already in use/i.test(child.output())) continue;
      throw err;
    }
  }
}

/** Resolves once 127.0.0.1:port accepts a TCP connection; rejects if `child` exits or time runs out. */
async function acceptsConnections(port: number, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`haproxy exited: ${child.output().trim()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`haproxy did not listen on ${port} within ${timeoutMs} ms: ${child.output().trim()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
