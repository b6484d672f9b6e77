/**
 * Bench child: the WebSocket ceiling for the bridge scenario. A bare `ws` server on
 * 127.0.0.1 that answers every `{type:"req", id}` frame with a `res` frame carrying a
 * status-sized payload: JSON parse + stringify + WS framing, nothing else.
 */
import { WebSocketServer } from 'ws';
import { childArgs, failed, ready, serve } from './ipc';

const PAYLOAD = {
  ok: true,
  ts: 0,
  version: '0.1.0',
  uptimeMs: 123456,
  startedAtMs: 1_700_000_000_000,
  devices: { active: 3, revoked: 0, pairingPending: 0 },
  connections: 1,
  cron: { jobs: 0 },
  sessions: { count: 0, recent: [] },
  trustDomain: 'openclaw-0000000000.local',
  caFingerprintSha256: 'ab:'.repeat(31) + 'ab',
};

async function main(): Promise<void> {
  childArgs<Record<string, never>>();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', () => resolve());
    wss.once('error', reject);
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as { type?: string; id?: string };
      if (f.type === 'req' && typeof f.id === 'string') ws.send(JSON.stringify({ type: 'res', id: f.id, ok: true, payload: { ...PAYLOAD, ts: Date.now() } }));
    });
  });
  const address = wss.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  serve({}, () => new Promise<void>((resolve) => wss.close(() => resolve())));
  ready({ port, url: `ws://127.0.0.1:${port}/` });
}

main().catch(failed);
