/**
 * Token-only writes under the default `bridge.tokenOnlyScopes` (only operator.read): the
 * real gateway's `FORBIDDEN "missing scope: X"` shape, with how to get the scope. Runs
 * the gateway as `openclaw-gateway start` does (the bridge in process, reading the
 * runtime config), and runs the widening command exactly as the message prints it, with
 * the real openclaw-cli process: afterwards the same write works.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveGatewayConfig } from '../../src/config/gateway-config';
import { startGateway, type RunningGateway } from '../../src/gateway/gateway-app';
import { silentLogger } from '../../src/logging';
import { CliRunner } from '../cli/cli-harness';
import { closeAllClients, connectParams, LegacyClient, newLegacyDevice, signDevice } from './legacy-client';

let dir: string;
let gw: RunningGateway;
let token: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ocgw-token-only-'));
  gw = await startGateway(resolveGatewayConfig({ stateDir: dir, grpcHost: '127.0.0.1', grpcPort: 0, bridgePort: 0, bridge: true, worker: false }, {}), { log: silentLogger() });
  token = readFileSync(gw.legacyTokenFile!, 'utf8').trim();
});
afterAll(async () => {
  await closeAllClients();
  await gw.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function tokenOnly(): Promise<LegacyClient> {
  const c = await LegacyClient.open(gw.bridgeUrl!);
  await c.challenge();
  const hello = await c.request('connect', connectParams({ scopes: ['operator.read', 'operator.write', 'operator.admin'], auth: { token } }));
  expect(hello.ok).toBe(true);
  return c;
}

const ADD = { name: 'nightly', schedule: { kind: 'every', everyMs: 3600_000 }, payload: { kind: 'systemEvent', text: 'x' } };

test('a token-only write is refused with the real shape, and the message says how to get the scope; its command works as printed', async () => {
  const c = await tokenOnly();
  const refused = await c.request('cron.add', ADD);
  // Real: FORBIDDEN "missing scope: operator.admin" {code:"MISSING_SCOPE", missingScope, requiredScopes}. Ours adds the way out.
  expect(refused.error).toEqual({
    code: 'FORBIDDEN',
    message:
      'missing scope: operator.admin (this connection uses the shared token, which gets only bridge.tokenOnlyScopes: operator.read. ' +
      'To get operator.admin, connect with a device identity and approve it (openclaw-cli devices approve <requestId>), ' +
      `or widen the policy: openclaw-cli gateway-config patch '{"bridge":{"tokenOnlyScopes":["operator.read","operator.admin"]}}')`,
    details: { code: 'MISSING_SCOPE', missingScope: 'operator.admin', requiredScopes: ['operator.admin'] },
  });
  await c.close();

  // The operator runs the printed command (the gateway's own CLI identity).
  const [, json] = /openclaw-cli gateway-config patch '([^']+)'/.exec(refused.error.message as string)!;
  const cli = new CliRunner({ home: join(dir, 'home'), gateway: gw.grpcAddress, certs: gw.identities.cli });
  await cli.ok('gateway-config', 'patch', json);

  // The next token-only connection may write.
  const again = await tokenOnly();
  const added = await again.request('cron.add', ADD);
  expect(added).toMatchObject({ ok: true, payload: { name: 'nightly' } });
  await again.close();
});

test('a paired device missing a scope gets the plain legacy message (it asks for an upgrade by connecting with more)', async () => {
  const device = newLegacyDevice();
  const c = await LegacyClient.open(gw.bridgeUrl!);
  const nonce = await c.challenge();
  const ask = await c.request('connect', signDevice(connectParams({ scopes: ['operator.read'], auth: { token } }), device, nonce));
  expect(ask.error.details.reason).toBe('not-paired');
  const cli = new CliRunner({ home: join(dir, 'home'), gateway: gw.grpcAddress, certs: gw.identities.cli });
  await cli.ok('devices', 'approve', ask.error.details.requestId);
  const d = await LegacyClient.open(gw.bridgeUrl!);
  const n2 = await d.challenge();
  expect((await d.request('connect', signDevice(connectParams({ scopes: ['operator.read'], auth: { token } }), device, n2))).ok).toBe(true);
  expect((await d.request('config.patch', { raw: '{}' })).error).toEqual({
    code: 'FORBIDDEN',
    message: 'missing scope: operator.admin',
    details: { code: 'MISSING_SCOPE', missingScope: 'operator.admin', requiredScopes: ['operator.admin'] },
  });
  await d.close();
});
