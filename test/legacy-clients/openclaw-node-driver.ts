/**
 * Child process that drives the real `openclaw-node` client (npm, run with Node 24 by
 * the legacy-clients tests; it needs Node >= 22 for the global WebSocket). The test
 * writes one JSON command per line on stdin and reads one JSON line per answer or
 * client event on stdout:
 *
 *   in:  {"id":1,"op":"connect"}          ops: connect, disconnect, health, request, chat, identity, exit
 *   out: {"id":1,"ok":true,"result":...}  or {"id":1,"ok":false,"error":"<message>"}
 *   out: {"event":"pairingRequired","data":{...}}   (also "connected", "disconnected", "error", "gateway-event")
 *
 * Usage: node openclaw-node-driver.js '<config json>'
 *   config: { packageDir, url, token?, identityPath, scopes? }  (packageDir holds node_modules/openclaw-node)
 */
import type { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

interface DriverConfig {
  packageDir: string;
  url: string;
  token?: string;
  identityPath: string;
  scopes?: string[];
}

type Frame = { type: string; id?: string; method?: string; params?: Record<string, unknown>; ok?: boolean; payload?: Record<string, unknown>; event?: string };

/** The part of openclaw-node's OpenClawClient the driver uses. */
interface OpenClawClient extends EventEmitter {
  connect(): Promise<unknown>;
  disconnect(): Promise<void>;
  health(): Promise<unknown>;
  request(method: string, params?: unknown): Promise<{ payload?: unknown }>;
  chat(message: string, options?: Record<string, unknown>): AsyncIterable<{ type: string; text: string; runId?: string }>;
  send(frame: Frame): void;
}

const config = JSON.parse(process.argv[2] ?? '{}') as DriverConfig;
const load = createRequire(join(config.packageDir, 'node_modules', 'driver.js'));
const { OpenClawClient: Client } = load('openclaw-node') as { OpenClawClient: new (o: Record<string, unknown>) => OpenClawClient };

const out = (line: Record<string, unknown>) => process.stdout.write(JSON.stringify(line) + '\n');

const client = new Client({
  url: config.url,
  ...(config.token ? { token: config.token } : {}),
  deviceIdentityPath: config.identityPath,
  autoReconnect: false,
  ...(config.scopes ? { scopes: config.scopes } : {}),
});

// What the client sends and receives, to report the frames of one chat() call.
const sent: Frame[] = [];
const received: Frame[] = [];
const send = client.send.bind(client);
client.send = (frame: Frame) => {
  sent.push(frame);
  send(frame);
};
client.on('_raw', (frame: Frame) => received.push(frame));
client.on('pairingRequired', (data: unknown) => out({ event: 'pairingRequired', data }));
client.on('connected', (hello: unknown) => out({ event: 'connected', data: hello }));
client.on('disconnected', (data: unknown) => out({ event: 'disconnected', data }));
client.on('error', (err: Error) => out({ event: 'error', data: { message: err.message } }));
client.on('event', (frame: Frame) => out({ event: 'gateway-event', data: frame }));

async function chat(message: string, options: Record<string, unknown>) {
  const firstSent = sent.length;
  const firstReceived = received.length;
  const chunks: unknown[] = [];
  for await (const chunk of client.chat(message, options)) chunks.push(chunk);
  const request = sent.slice(firstSent).find((f) => f.method === 'agent');
  const frames = received.slice(firstReceived);
  return {
    chunks,
    request,
    responses: frames.filter((f) => f.type === 'res' && f.id === request?.id),
    agentEvents: frames.filter((f) => f.type === 'event' && f.event === 'agent'),
  };
}

async function run(op: string, args: Record<string, any>): Promise<unknown> {
  switch (op) {
    case 'connect':
      return client.connect();
    case 'disconnect':
      await client.disconnect();
      return null;
    case 'health':
      return client.health();
    case 'request':
      return (await client.request(args.method, args.params ?? {})).payload;
    case 'chat':
      return chat(args.message, args.options ?? {});
    case 'identity':
      return existsSync(config.identityPath) ? JSON.parse(readFileSync(config.identityPath, 'utf8')) : null;
    default:
      throw new Error(`unknown driver op ${op}`);
  }
}

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (!line.trim()) return;
  const { id, op, args } = JSON.parse(line) as { id: number; op: string; args?: Record<string, unknown> };
  if (op === 'exit') {
    void client.disconnect().finally(() => process.stdout.write(JSON.stringify({ id, ok: true, result: null }) + '\n', () => process.exit(0)));
    return;
  }
  run(op, args ?? {}).then(
    (result) => out({ id, ok: true, result: result ?? null }),
    (err: unknown) => out({ id, ok: false, error: (err as Error)?.message ?? String(err) }),
  );
});
input.on('close', () => process.exit(0));
