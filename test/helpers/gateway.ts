import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { resolveGatewayConfig } from '../../src/config/gateway-config';
import { startGateway, type RunningGateway } from '../../src/gateway/gateway-app';
import { readCertsDir } from '../../src/identity';
import { GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import type { Clock } from '../../src/clock';
import type { AnonymousBudgets } from '../../src/transport/grpc/server/authz-table';

/** Log lines a test gateway wrote, parsed. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    for (const l of chunk.toString().split('\n')) if (l.trim()) this.lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  }
  audits(event?: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.audit === true && (!event || l.event === event));
  }
}

/** A real gateway on 127.0.0.1 port 0 with a fresh state dir, and helpers to connect to it. */
export interface TestGateway {
  gw: RunningGateway;
  stateDir: string;
  logs: LogCapture;
  address: string;
  /** A connection with one of the gateway's local identities (cli = operator, worker = backend, bridge). */
  connect(identity: 'cli' | 'worker' | 'bridge'): GatewayConnection;
  /** A connection from a certificate folder. */
  connectDir(dir: string): GatewayConnection;
  /** A connection with only the CA (no client certificate). */
  anonymous(): GatewayConnection;
  close(): Promise<void>;
}

/** Starts a test gateway. */
/**
 * Budgets for calls without a certificate wide enough for a test file that pairs and
 * renews many devices from 127.0.0.1; the real ones are tested with `realLimits`.
 */
const WIDE_BUDGETS: AnonymousBudgets = {
  pairing: { perAddress: { capacity: 100_000, perMinute: 100_000 }, global: { capacity: 100_000, perMinute: 100_000 } },
  renewal: { perAddress: { capacity: 100_000, perMinute: 100_000 }, global: { capacity: 100_000, perMinute: 100_000 } },
  probe: { perAddress: { capacity: 100_000, perMinute: 100_000 }, global: { capacity: 100_000, perMinute: 100_000 } },
};

/** `bridge: true` also runs the legacy WebSocket bridge in-process on a free port (`gw.bridgeUrl`). */
export async function startTestGateway(
  opts: {
    clock?: Clock;
    stateDir?: string;
    realLimits?: boolean;
    grpcHost?: string;
    metricsAddr?: string;
    healthAddr?: string;
    databaseUrl?: string;
    proxyProtocol?: boolean;
    bridge?: boolean;
    /** The bridge serves the legacy Control UI from this folder (with `bridge: true`). */
    controlUiRoot?: string;
  } = {},
): Promise<TestGateway> {
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'ocgw-'));
  const logs = new LogCapture();
  // grpcHost '::' listens dual-stack; `address` is then its IPv4 loopback side.
  const config = resolveGatewayConfig(
    {
      stateDir,
      grpcHost: opts.grpcHost ?? '127.0.0.1',
      grpcPort: 0,
      bridge: opts.bridge ?? false,
      bridgePort: 0,
      worker: false,
      logLevel: 'debug',
      metricsAddr: opts.metricsAddr,
      healthAddr: opts.healthAddr,
      databaseUrl: opts.databaseUrl,
      proxyProtocol: opts.proxyProtocol,
      controlUiRoot: opts.controlUiRoot,
    },
    {},
  );
  const gw = await startGateway(config, { clock: opts.clock, logDestination: logs, anonymousBudgets: opts.realLimits ? undefined : WIDE_BUDGETS });
  const address = `127.0.0.1:${gw.grpcPort}`;
  const conns: GatewayConnection[] = [];
  const track = (c: GatewayConnection) => {
    conns.push(c);
    return c;
  };
  const connectDir = (dir: string) => {
    const c = readCertsDir(dir);
    return track(new GatewayConnection(address, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem }, { 'grpc.use_local_subchannel_pool': 1 }));
  };
  return {
    gw,
    stateDir,
    logs,
    address,
    connect: (identity) => connectDir(gw.identities[identity]),
    connectDir,
    anonymous: () => track(new GatewayConnection(address, { caPem: gw.registry.ca.certPem }, { 'grpc.use_local_subchannel_pool': 1 })),
    close: async () => {
      for (const c of conns) c.close();
      await gw.stop();
      if (!opts.stateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
