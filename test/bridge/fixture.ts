/**
 * A real gateway (startTestGateway) and a real bridge on 127.0.0.1:0 that talks to it
 * with the gateway's `bridge` identity, plus helpers to connect legacy clients and to
 * pair a legacy device through the shared approval queue.
 */
import { startBridge, type BridgeOptions, type RunningBridge } from '../../src/bridge/ws';
import { DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { readCertsDir } from '../../src/identity';
import { createLogger } from '../../src/logging';
import { GatewayConnection, unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { LogCapture, startTestGateway, type TestGateway } from '../helpers/gateway';
import { closeAllClients, connectParams, LegacyClient, newLegacyDevice, signDevice, type Frame, type LegacyDevice } from './legacy-client';

/** The shared token the tests configure. */
export const LEGACY_TOKEN = 'test-legacy-token-0123456789';

/** The pairing-required close reason; legacy clients parse it with this expression. */
export const PAIRING_CLOSE = /pairing required: device is not approved yet \(requestId: ([^)]+)\)/;

export interface BridgeFixture {
  t: TestGateway;
  bridge: RunningBridge;
  url: string;
  /** The bridge's log lines (audits). */
  logs: LogCapture;
  /** The gateway connection the bridge uses. */
  gateway: GatewayConnection;
  /** Opens a client and completes the handshake with these params (device signing via `sign`). */
  connect(params: Record<string, any>, sign?: (params: Record<string, any>, nonce: string) => Record<string, any>): Promise<{ client: LegacyClient; hello: Frame }>;
  /** A connected token-only client. */
  tokenClient(scopes?: string[]): Promise<LegacyClient>;
  /** Pairs a legacy device (signed + shared token: NOT_PAIRED, then the operator approves over gRPC) and returns it. */
  pairDevice(scopes: string[], role?: string): Promise<LegacyDevice>;
  /** A client of a legacy device, signed, with the shared token unless `extra.auth` says otherwise. */
  deviceClient(device: LegacyDevice, scopes: string[], extra?: Record<string, unknown>): Promise<{ client: LegacyClient; hello: Frame }>;
  close(): Promise<void>;
}

/**
 * Starts gateway + bridge. `calls` is how the bridge reaches the gateway: `in-process`
 * (default, as the gateway's built-in bridge: unary calls through the gateway's in-process
 * endpoint, streams over mTLS) or `network` (as a bridge in its own process: everything over
 * mTLS). Both present the bridge certificate; the outcomes must be the same.
 */
export async function startBridgeFixture(opts: Partial<Omit<BridgeOptions, 'gateway' | 'log'>> & { calls?: 'in-process' | 'network' } = {}): Promise<BridgeFixture> {
  const { calls = 'in-process', ...bridgeOpts } = opts;
  const t = await startTestGateway();
  const certs = readCertsDir(t.gw.identities.bridge);
  const gateway = new GatewayConnection(t.address, { caPem: certs.caPem, keyPem: certs.keyPem, certPem: certs.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
  if (calls === 'in-process') gateway.useLocalCalls(t.gw.localCalls);
  const logs = new LogCapture();
  const bridge = await startBridge({ host: '127.0.0.1', port: 0, gateway, legacyToken: LEGACY_TOKEN, log: createLogger({ level: 'debug', destination: logs }), ...bridgeOpts });
  const url = bridge.url;
  const cli = t.connect('cli');

  const connect: BridgeFixture['connect'] = async (params, sign) => {
    const client = await LegacyClient.open(url);
    const nonce = await client.challenge();
    const res = await client.request('connect', sign ? sign(params, nonce) : params);
    return { client, hello: res };
  };

  const pairDevice = async (scopes: string[], role = 'operator'): Promise<LegacyDevice> => {
    const device = newLegacyDevice();
    const { client, hello } = await connect(connectParams({ scopes, role, auth: { token: LEGACY_TOKEN } }), (p, n) => signDevice(p, device, n));
    if (hello.ok || hello.error.code !== 'NOT_PAIRED') throw new Error(`expected NOT_PAIRED, got ${JSON.stringify(hello)}`);
    const closed = await client.closed;
    const requestId = PAIRING_CLOSE.exec(closed.reason)![1];
    const d = cli.client(DeviceService);
    await unaryCall(d, d.approvePairing, { requestId });
    return device;
  };

  return {
    t,
    bridge,
    url,
    logs,
    gateway,
    connect,
    tokenClient: async (scopes = ['operator.read']) => {
      const { client, hello } = await connect(connectParams({ scopes, auth: { token: LEGACY_TOKEN } }));
      if (!hello.ok) throw new Error(`token connect failed: ${JSON.stringify(hello.error)}`);
      return client;
    },
    pairDevice,
    deviceClient: (device, scopes, extra = {}) => connect(connectParams({ scopes, auth: { token: LEGACY_TOKEN }, ...extra }), (p, n) => signDevice(p, device, n)),
    close: async () => {
      await closeAllClients();
      await bridge.close('test done');
      gateway.close();
      await t.close();
    },
  };
}
