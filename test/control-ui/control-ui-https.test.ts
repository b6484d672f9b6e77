/**
 * The Control UI over `https://` from a DNS name (not localhost), as on another machine:
 * the bridge serves TLS with the gateway's server certificate (which names that host),
 * Chromium trusts that certificate (by its public key, as a browser that installed our CA
 * would) and resolves the name to 127.0.0.1 itself. The page is a secure context there,
 * so the UI creates its device identity, is let in as same-origin (the certificate names
 * the host: no allow-list needed) and lands in the approval queue; after approval it
 * connects. Plain http:// on the port gets the readable 400.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CliRunner, writeIdentity } from '../cli/cli-harness';
import { eventually } from '../helpers/eventually';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { useTmpDirs } from '../helpers/tmp';
import { ensureRealClients } from '../legacy-clients/real-clients';
import { chromiumPath, launchChromium, PageTap } from './browser';

const INSTALL_TIMEOUT_MS = 12 * 60_000;
const ARTIFACTS = resolve(__dirname, '..', '..', '..', 'test-artifacts', 'control-ui');
/** The name the browser uses; only the browser resolves it (to 127.0.0.1). */
const NAME = 'openclaw.test';

jest.setTimeout(60_000);
const tmpDir = useTmpDirs('control-ui-https-');
let t: TestGateway;
let browser: Browser;
let page: Page;
let tap: PageTap;
let origin: string;
let token: string;
let operator: CliRunner;

beforeAll(async () => {
  chromiumPath();
  const clients = await ensureRealClients();
  mkdirSync(ARTIFACTS, { recursive: true });
  t = await startTestGateway({ bridge: true, bridgeTls: true, sans: [NAME], controlUiRoot: clients.controlUiRoot });
  origin = `https://${NAME}:${new URL(t.gw.bridgeUrl!).port}`;
  token = readFileSync(t.gw.legacyTokenFile!, 'utf8').trim();
  const certs = tmpDir();
  writeIdentity(certs, t, await t.gw.registry.provision({ role: 'operator', label: 'ui-https-operator' }));
  operator = new CliRunner({ home: tmpDir(), gateway: t.address, certs });
  const leaf = new X509Certificate(readFileSync(t.gw.paths.serverCert));
  expect(leaf.checkHost(NAME)).toBe(NAME);
  const spki = createHash('sha256').update(leaf.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  browser = await launchChromium({ mapToLoopback: [NAME], trustSpki: [spki] });
  page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  tap = new PageTap(page);
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

test('the UI loads over https:// from a DNS name, is a secure context, creates its device identity and waits for approval', async () => {
  expect(t.gw.bridgeUrl).toMatch(/^wss:/);
  const res = await page.goto(`${origin}/#token=${encodeURIComponent(token)}`);
  expect(res?.status()).toBe(200);
  expect(res?.headers()['strict-transport-security']).toBe('max-age=31536000');
  expect(await page.evaluate('window.isSecureContext && !!crypto.subtle')).toBe(true);
  await page.getByText('Approve this browser').waitFor({ timeout: 20_000 });
  await page.screenshot({ path: join(ARTIFACTS, 'https-1-approve-this-browser.png') });
  const connect = tap.calls.find((c) => c.method === 'connect')!;
  // The identity made in this page (WebCrypto Ed25519), sent with the connect over wss://.
  expect(connect.params).toMatchObject({ client: { id: 'openclaw-control-ui' }, device: { id: expect.stringMatching(/^[0-9a-f]{64}$/), publicKey: expect.any(String), signature: expect.any(String) } });
  expect(connect.error).toMatchObject({ code: 'NOT_PAIRED', details: { code: 'PAIRING_REQUIRED' } });
  const audit = t.logs.audits('bridge.connect').find((a) => a.origin === origin);
  expect(audit).toMatchObject({ originCheck: 'same-origin-tls' });
});

test('approved with openclaw-cli, Connect gets hello-ok with a device token over wss://', async () => {
  const requestId = /openclaw devices approve ([0-9a-f-]{36})/.exec(await page.locator('body').innerText())![1];
  expect(await operator.ok('devices', 'approve', requestId)).toMatch(/^Approved legacy /);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  const hello = await eventually('hello-ok after Connect', () => tap.hellos[0], 20_000);
  expect(hello).toMatchObject({ type: 'hello-ok', auth: { deviceToken: expect.any(String) } });
  await page.screenshot({ path: join(ARTIFACTS, 'https-2-connected.png') });
  expect(tap.pageErrors).toEqual([]);
});

test('http:// on the TLS port gets one readable 400, not a TLS error', async () => {
  const other = await browser.newContext();
  try {
    const p = await other.newPage();
    const res = await p.goto(`http://${NAME}:${new URL(t.gw.bridgeUrl!).port}/`);
    expect(res?.status()).toBe(400);
    expect(await p.locator('body').innerText()).toMatch(/use https:\/\//);
  } finally {
    await other.close();
  }
});
