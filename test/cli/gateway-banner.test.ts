/**
 * What `openclaw-gateway start` says about the legacy shared token. With its built-in
 * bridge the banner names the token's file (created once, 0600). Without it (`--no-bridge`,
 * as the compose gateway service runs, beside a bridge service with a token of its own) the
 * gateway has no shared token: it creates no file and names none, so nobody takes a token
 * that no bridge accepts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, startNode } from '../helpers/processes';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';

let root: string;

beforeAll(() => {
  root = makeTmpDir('banner-');
});
afterAll(() => {
  removeTmpDir(root);
});

async function banner(stateDir: string, extra: string[]): Promise<string> {
  const child = startNode(BIN.gateway, ['start', '--state-dir', stateDir, '--grpc-port', '0', '--no-worker', '--log-level', 'warn', ...extra]);
  try {
    await child.waitFor(/Try:\s+openclaw-cli status/);
    return child.output();
  } finally {
    await child.kill();
  }
}

test('without the built-in bridge: no legacy token file is created and the banner names none', async () => {
  const stateDir = join(root, 'no-bridge');
  const out = await banner(stateDir, ['--no-bridge']);
  expect(out).toMatch(/legacy WS:\s+\(bridge not running\)/);
  expect(out).not.toMatch(/legacy token/);
  expect(existsSync(join(stateDir, 'legacy-token'))).toBe(false);
});

test('with the built-in bridge: the banner names the token file, created 0600 and kept across starts', async () => {
  const stateDir = join(root, 'bridge');
  const file = join(stateDir, 'legacy-token');
  const out = await banner(stateDir, ['--bridge-port', '0']);
  expect(out).toContain(`legacy token:    ${file}`);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const token = readFileSync(file, 'utf8');
  expect(token.trim()).toMatch(/^[A-Za-z0-9_-]{32}$/);
  await banner(stateDir, ['--bridge-port', '0']);
  expect(readFileSync(file, 'utf8')).toBe(token);
});
