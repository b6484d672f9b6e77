/**
 * The real openclaw-node client (npm, Node 24) with the identity of a device that was paired
 * through the real OpenClaw 2026.9.6 gateway's approval flow, after the import: it
 * reconnects through our bridge with its stored device token alone (no shared token, no
 * pairing prompt), gets its approved scopes, and keeps the same token.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importOpenclaw } from '../../src/import/openclaw/import-openclaw';
import { silentLogger } from '../../src/logging';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { useTmpDirs } from '../helpers/tmp';
import { OpenclawNodeProcess } from '../legacy-clients/openclaw-node-process';
import { ensureRealClients, type RealClients } from '../legacy-clients/real-clients';
import { copyOpenclawState, fixtureClient } from './openclaw-fixture';

const tmp = useTmpDirs('import-openclaw-node-');
const laptop = fixtureClient().devices.find((d) => d.displayName === 'fixture-laptop')!;
let clients: RealClients;
let gw: TestGateway;
const nodes: OpenclawNodeProcess[] = [];

beforeAll(async () => {
  clients = await ensureRealClients();
  const stateDir = tmp();
  await importOpenclaw({ from: copyOpenclawState(tmp()), stateDir, log: silentLogger() });
  gw = await startTestGateway({ stateDir, bridge: true });
}, 300_000);
afterAll(async () => {
  for (const n of nodes) await n.close();
  await gw?.close();
});

/** openclaw-node's identity file (its own format) holding the device's key and its device token. */
function identityFile(dir: string, deviceToken: string): string {
  const path = join(dir, 'device-identity.json');
  const publicKeyPem = createPublicKey(laptop.privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(path, JSON.stringify({ version: 1, deviceId: laptop.deviceId, publicKeyPem, privateKeyPem: laptop.privateKeyPem, deviceToken }, null, 2) + '\n', { mode: 0o600 });
  return path;
}

test('openclaw-node reconnects with the imported device token alone and keeps it', async () => {
  const home = tmp();
  const identityPath = identityFile(home, laptop.deviceToken);
  const node = OpenclawNodeProcess.start(clients, { url: gw.gw.bridgeUrl!, identityPath, home, scopes: laptop.scopes });
  nodes.push(node);
  const hello = await node.call('connect');
  expect(hello).toMatchObject({ type: 'hello-ok', auth: { method: 'device-token', role: 'operator', deviceToken: laptop.deviceToken } });
  expect([...hello.auth.scopes].sort()).toEqual(['operator.read', 'operator.write']);
  expect(await node.call('health')).toMatchObject({ ok: true });
  expect(JSON.parse(readFileSync(identityPath, 'utf8')).deviceToken).toBe(laptop.deviceToken);
  await node.close();
}, 60_000);

test('a wrong stored token is refused (openclaw-node then drops it, as against the real gateway)', async () => {
  const home = tmp();
  const identityPath = identityFile(home, `${laptop.deviceToken.slice(0, -2)}xx`);
  const node = OpenclawNodeProcess.start(clients, { url: gw.gw.bridgeUrl!, identityPath, home, scopes: laptop.scopes });
  nodes.push(node);
  await expect(node.call('connect')).rejects.toThrow();
  expect(JSON.parse(readFileSync(identityPath, 'utf8')).deviceToken).toBeUndefined();
  await node.close();
}, 60_000);
