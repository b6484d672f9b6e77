/**
 * The legacy WebSocket bridge: `status` request/response round trips over one legacy
 * connection (shared-token handshake, as the legacy CLI does on loopback) through the
 * bridge of a real `openclaw-gateway start` (child process; the bridge calls the
 * gateway's GetStatus with its bridge certificate on behalf of the token principal),
 * against the same call direct over gRPC (GetStatus with the cli certificate, same
 * gateway process), and against a bare `ws` echo server as the WebSocket ceiling.
 * 1 and 16 requests in flight; phases alternate in rounds.
 *
 * Skipped with a note when the bridge is not there: no bridge server code in the build,
 * or `openclaw-gateway start --bridge-port P` does not answer the legacy handshake.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { ChildServer, stopAll } from '../lib/child';
import { provisionedStateDir } from '../lib/fixture';
import { spawnGateway, type GatewayProcess } from '../lib/gateway-process';
import { connectTo, identityTls } from '../lib/grpc';
import { freePort } from '../lib/ports';
import { LegacyWsClient } from '../lib/legacy-ws';
import { measureClosedLoop, median, round, sleep, type Measurement } from '../measure';
import { ComponentMissing, type Figure, type Scenario, type ScenarioOptions, type ScenarioResult } from '../types';

const MAX_OVERHEAD = 2;

/** Whether the build has WebSocket server code under src/bridge/ws. */
function bridgeServerBuilt(): boolean {
  const dir = join(__dirname, '..', '..', 'src', 'bridge', 'ws');
  if (!existsSync(dir)) return false;
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.js'));
  return files.some((f) => /WebSocketServer|startBridge/.test(readFileSync(join(dir, f), 'utf8')));
}

async function connectBridge(url: string, token: string, deadlineMs: number): Promise<LegacyWsClient> {
  let last: unknown;
  while (Date.now() < deadlineMs) {
    try {
      return await LegacyWsClient.connect(url, { token, handshake: true, timeoutMs: 3000 });
    } catch (err) {
      last = err;
      await sleep(100);
    }
  }
  throw new ComponentMissing(`the bridge did not complete the legacy handshake on ${url} (${(last as Error)?.message ?? 'no answer'})`);
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  if (!bridgeServerBuilt()) throw new ComponentMissing('no WebSocket bridge server in the build (src/bridge/ws has no startBridge / WebSocketServer yet)');
  const phaseMs = opts.quick ? 300 : 2000;
  const warmMs = opts.quick ? 200 : 2000;
  const rounds = opts.quick ? 1 : 3;
  const stateDir = await provisionedStateDir();
  const token = randomBytes(24).toString('base64url');
  const bridgePort = await freePort();
  let gw: GatewayProcess | undefined;
  let echo: ChildServer<{ url: string }> | undefined;
  const clients: { close(): void }[] = [];
  try {
    gw = await spawnGateway(['--state-dir', stateDir, '--grpc-port', '0', '--bridge-port', String(bridgePort), '--no-worker'], { env: { OPENCLAW_GATEWAY_TOKEN: token } });
    const bridge = await connectBridge(`ws://127.0.0.1:${bridgePort}/`, token, Date.now() + 5000);
    clients.push(bridge);
    try {
      await bridge.request('status');
    } catch (err) {
      throw new ComponentMissing(`the bridge answered the handshake but not "status": ${(err as Error).message}`);
    }
    echo = await ChildServer.start<{ url: string }>('ws-echo-server', {}, { name: 'ws echo' });
    const echoClient = await LegacyWsClient.connect(echo.info.url, { handshake: false });
    clients.push(echoClient);
    const direct = connectTo(gw.grpcAddress, identityTls(join(stateDir, 'identities', 'cli')));
    clients.push(direct);
    const g = direct.client(GatewayService);

    const paths = {
      bridge: () => bridge.request('status'),
      direct: () => unaryCall(g, g.getStatus, {}),
      echo: () => echoClient.request('status'),
    };
    type Path = keyof typeof paths;
    for (const p of Object.keys(paths) as Path[]) await measureClosedLoop(paths[p], { concurrency: 8, durationMs: warmMs });
    const res: Record<string, Measurement[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (const inFlight of [1, 16]) {
        const order = (r % 2 === 0 ? ['bridge', 'direct', 'echo'] : ['echo', 'direct', 'bridge']) as Path[];
        for (const p of order) (res[`${p} ${inFlight}`] ??= []).push(await measureClosedLoop(paths[p], { concurrency: inFlight, durationMs: phaseMs }));
      }
    }
    const s = (k: string) => ({ ops: median(res[k].map((m) => m.opsPerSec)), p50: median(res[k].map((m) => m.p50)), p99: median(res[k].map((m) => m.p99)) });
    const figures: Figure[] = [];
    const notes: string[] = [];
    for (const inFlight of [1, 16]) {
      const b = s(`bridge ${inFlight}`);
      const d = s(`direct ${inFlight}`);
      const e = s(`echo ${inFlight}`);
      const ratio = b.ops / d.ops;
      figures.push({
        name: `legacy "status" through the bridge, ${inFlight} in flight`,
        unit: 'round trips/s',
        value: round(b.ops, 0),
        p50: round(b.p50, 3),
        p99: round(b.p99, 3),
        baseline: { name: 'GetStatus direct over gRPC', value: round(d.ops, 0) },
        ratio: round(ratio, 2),
        target: `adds <= ${MAX_OVERHEAD}x over direct gRPC (ratio >= ${1 / MAX_OVERHEAD})`,
        met: ratio >= 1 / MAX_OVERHEAD,
      });
      figures.push({
        name: `bare ws echo (WebSocket ceiling), ${inFlight} in flight`,
        unit: 'round trips/s',
        value: round(e.ops, 0),
        p50: round(e.p50, 3),
        p99: round(e.p99, 3),
        baseline: { name: 'bridge', value: round(b.ops, 0) },
        ratio: round(e.ops / b.ops, 2),
      });
      notes.push(`${inFlight} in flight: direct gRPC GetStatus p50 ${d.p50.toFixed(3)} ms, p99 ${d.p99.toFixed(3)} ms, ${d.ops.toFixed(0)}/s`);
    }
    notes.push(`one connection per path; ${warmMs} ms warm-up each; ${rounds} round(s) of ${phaseMs} ms per phase; the gateway runs with its bridge in one process (openclaw-gateway start --no-worker), the load from this process`);
    return { scenario: 'bridge', figures, notes };
  } finally {
    for (const c of clients) c.close();
    await stopAll([echo]);
    await gw?.stop();
  }
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'bridge',
  description: 'legacy WS req/res round trips through the bridge vs the same call direct over gRPC, and a bare ws echo',
  run,
};
