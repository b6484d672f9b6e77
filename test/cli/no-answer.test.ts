/**
 * A gateway address where something accepts the connection and never answers: the CLI
 * says so when its deadline passes and then exits at once (it used to stay alive for
 * minutes with a channel still trying to connect).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { runNode } from '../helpers/run-cli';
import { BIN } from '../helpers/processes';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

let t: TestGateway;
let hole: Server;
const sockets: Socket[] = [];

beforeAll(async () => {
  t = await startTestGateway();
  hole = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => hole.close(() => resolve()));
  await t.close();
});

test('no answer: "did not answer in time", then the process ends right away (exit 3)', async () => {
  const port = (hole.address() as { port: number }).port;
  const started = Date.now();
  const r = await runNode(BIN.cli, ['--gateway', `127.0.0.1:${port}`, '--certs', join(t.stateDir, 'identities', 'cli'), 'health']);
  const took = Date.now() - started;
  expect(r.stderr).toContain(`the gateway at 127.0.0.1:${port} did not answer in time`);
  expect(r.code).not.toBe(0);
  // The unary deadline is 20 s; the process must not outlive the message by more than a moment.
  expect(took).toBeLessThan(26_000);
}, 40_000);
