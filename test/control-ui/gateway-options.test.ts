/**
 * How an operator turns the Control UI on: `--control-ui-root DIR` on `openclaw-gateway
 * start` (or OPENCLAW_CONTROL_UI_ROOT; the flag wins), a wrong folder failing the start
 * with a clear message, and the one clear line the browser test gives when Chromium is
 * missing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveGatewayConfig } from '../../src/config/gateway-config';
import { BIN, startNode } from '../helpers/processes';
import { useTmpDirs } from '../helpers/tmp';
import { chromiumPath, INSTALL_CHROMIUM } from './browser';

const tmpDir = useTmpDirs('control-ui-options-');

test('resolveGatewayConfig: flag, else OPENCLAW_CONTROL_UI_ROOT, else none', () => {
  expect(resolveGatewayConfig({ controlUiRoot: '/flag' }, { OPENCLAW_CONTROL_UI_ROOT: '/env' }).controlUiRoot).toBe('/flag');
  expect(resolveGatewayConfig({}, { OPENCLAW_CONTROL_UI_ROOT: '/env' }).controlUiRoot).toBe('/env');
  expect(resolveGatewayConfig({}, { OPENCLAW_CONTROL_UI_ROOT: '' }).controlUiRoot).toBeUndefined();
  expect(resolveGatewayConfig({}, {}).controlUiRoot).toBeUndefined();
});

async function startGateway(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = startNode(BIN.gateway, ['start', '--state-dir', tmpDir(), '--grpc-port', '0', '--bridge-port', '0', '--no-worker', '--log-level', 'info', ...args], env);
  return child;
}

test.each([
  ['--control-ui-root', (dir: string) => ({ args: ['--control-ui-root', dir], env: {} })],
  ['OPENCLAW_CONTROL_UI_ROOT', (dir: string) => ({ args: [], env: { OPENCLAW_CONTROL_UI_ROOT: dir } })],
])('openclaw-gateway start with %s serves the bundle on the bridge port', async (_how, given) => {
  const root = tmpDir();
  writeFileSync(join(root, 'index.html'), '<!doctype html><html lang="en"><head><title>bundle made by the test</title></head></html>');
  const { args, env } = given(root);
  const child = await startGateway(args, env);
  try {
    const [, url] = await child.waitFor(/"url":"ws:\/\/([^"]+)\/"[^\n]*legacy WebSocket bridge listening/);
    const page = await fetch(`http://${url}/automations`, { headers: { Accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('bundle made by the test');
  } finally {
    await child.kill();
  }
});

test('a folder without index.html: the start fails with one clear message', async () => {
  const child = await startGateway(['--control-ui-root', tmpDir()]);
  expect(await child.exited).not.toBe(0);
  expect(child.output()).toMatch(/control UI root .* has no index.html: point it at the dist\/control-ui folder of an installed openclaw npm package/);
});

test('openclaw-gateway bridge --allowed-origins refuses what is not a browser origin', async () => {
  const child = startNode(BIN.gateway, ['bridge', '--gateway', '127.0.0.1:1', '--certs', tmpDir(), '--allowed-origins', 'https://ui.example,https://UI.example/app'], { OPENCLAW_GATEWAY_TOKEN: 'a-token' });
  expect(await child.exited).not.toBe(0);
  expect(child.output()).toContain('--allowed-origins: "https://UI.example/app" is not a browser origin (http(s)://host[:port] in lower case, without a path)');
});

test('no Chromium: one line that says how to install it', () => {
  expect(() => chromiumPath({ PATH: tmpDir() })).toThrow(`the Control UI browser test needs Chromium, which is not installed (no chromium on PATH): ${INSTALL_CHROMIUM}`);
  expect(() => chromiumPath({ CHROMIUM_PATH: join(tmpDir(), 'chromium') })).toThrow(/CHROMIUM_PATH=.* is not executable\): install it with "apt-get install chromium"/);
  expect(chromiumPath({ CHROMIUM_PATH: process.execPath })).toBe(process.execPath);
});
