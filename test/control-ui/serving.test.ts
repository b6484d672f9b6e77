/**
 * The bridge serving a Control UI bundle from its own origin (src/bridge/control-ui):
 * index.html for `/` and client routes (rewritten, CSP with the hashes of its inline
 * scripts), the bundle's files with their types, precompressed siblings, caching, the
 * bootstrap config behind a bearer token, and every way out of the root refused. The
 * bundle is made here (a small one with the real one's layout), so every byte is known.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { startBridge } from '../../src/bridge/ws';
import { DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { silentLogger } from '../../src/logging';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { LegacyClient } from '../bridge/legacy-client';
import { LEGACY_TOKEN, startBridgeFixture, type BridgeFixture } from '../bridge/fixture';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';

const SECRET = 'secret-outside-the-root-5a1b';
const INLINE_1 = 'globalThis.__zod_globalConfig = { jitless: true };';
const INLINE_2 = '\n      document.documentElement.dataset.theme = "claw";\n    ';
const INDEX = `<!doctype html>
<html data-openclaw-control-ui-build-id="build-42" lang="en">
  <head>
    <link rel="icon" type="image/svg+xml" href="./favicon.svg" />
    <link rel="manifest" href="./manifest.webmanifest" crossorigin="use-credentials" />
    <script data-cfasync="false">${INLINE_1}</script>
    <script data-cfasync="false" type="module" crossorigin src="./assets/index-Ab12.js"></script>
    <link rel="stylesheet" crossorigin href="./assets/app-Cd34.css">
  </head>
  <body><openclaw-app></openclaw-app><script>${INLINE_2}</script></body>
</html>
`;
const JS = 'export const hello = "from the bundle";\n'.repeat(50);
const BIG = Buffer.alloc(3 * 1024 * 1024, 'x');

let root: string;
let outside: string;
let f: BridgeFixture;
let base: URL;

function makeBundle(): void {
  root = makeTmpDir('control-ui-root-');
  outside = makeTmpDir('control-ui-outside-');
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  writeFileSync(join(outside, 'secret.js'), SECRET);
  writeFileSync(join(root, 'index.html'), INDEX);
  mkdirSync(join(root, 'assets', 'sub'), { recursive: true });
  writeFileSync(join(root, 'assets', 'index-Ab12.js'), JS);
  // Siblings with different content than a fresh compression would give, so the test sees which file was sent.
  writeFileSync(join(root, 'assets', 'index-Ab12.js.br'), brotliCompressSync(Buffer.from(JS + '// br\n')));
  writeFileSync(join(root, 'assets', 'index-Ab12.js.gz'), gzipSync(Buffer.from(JS + '// gz\n')));
  writeFileSync(join(root, 'assets', 'app-Cd34.css'), 'body { color: red }\n');
  writeFileSync(join(root, 'assets', 'big-Ef56.js'), BIG);
  writeFileSync(join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(root, 'manifest.webmanifest'), '{"name":"OpenClaw"}');
  writeFileSync(join(root, 'sw.js'), 'self.addEventListener("fetch", () => {});');
  mkdirSync(join(root, 'fonts'));
  writeFileSync(join(root, 'fonts', 'inter.woff2'), Buffer.from([0x77, 0x4f, 0x46, 0x32]));
  writeFileSync(join(root, 'blob.xyz'), 'unknown type');
  writeFileSync(join(root, '.env'), SECRET);
  symlinkSync(join(outside, 'secret.txt'), join(root, 'leak.txt'));
  symlinkSync(join(outside, 'secret.js'), join(root, 'assets', 'leak.js'));
  symlinkSync(outside, join(root, 'linkdir'));
  symlinkSync(join(root, 'assets', 'app-Cd34.css'), join(root, 'inside-link.css'));
}

beforeAll(async () => {
  makeBundle();
  f = await startBridgeFixture({ controlUiRoot: root });
  base = new URL(f.url.replace('ws:', 'http:'));
});
afterAll(async () => {
  await f.close();
  removeTmpDir(root);
  removeTmpDir(outside);
});

interface Got {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A request with the path exactly as given (no client-side normalization of `..`). */
function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

describe('index.html for / and every client route', () => {
  test.each(['/', '/index.html', '/automations', '/chat/agent:main:main', '/settings/devices', '/chat/', '/usage?range=7d'])('%s', async (path) => {
    const r = await get(path, { Accept: 'text/html' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.headers.vary).toBe('Accept-Encoding');
    const html = r.body.toString();
    expect(html).toContain('<html data-openclaw-control-ui-base-path="" data-openclaw-terminal-enabled="false" data-openclaw-control-ui-build-id="build-42" lang="en">');
    expect(html).toContain('src="/assets/index-Ab12.js"');
    expect(html).toContain('href="/assets/app-Cd34.css"');
    expect(html).toContain('href="/favicon.svg?v=build-42"');
    expect(html).toContain('href="/manifest.webmanifest?v=build-42"');
    expect(html).not.toContain('"./');
  });

  test('headers: the real security set, and a CSP that allows exactly the inline scripts served', async () => {
    const r = await get('/');
    const html = r.body.toString();
    expect(html).toContain(INLINE_1);
    expect(r.headers).toMatchObject({
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'permissions-policy': 'camera=(self), microphone=*, geolocation=*, clipboard-write=*',
    });
    const host = `${base.hostname}`;
    expect(r.headers['content-security-policy']).toBe(
      "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; frame-src 'self' http: https:; " +
        `script-src 'self' ${sha256(INLINE_1)} ${sha256(INLINE_2)}; ` +
        "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; img-src 'self' data: blob: https:; media-src 'self' data: blob:; " +
        "font-src 'self' https://fonts.gstatic.com; worker-src 'self'; " +
        `connect-src 'self' ws: wss: data: https://api.openai.com https://tweakcn.com http://${host}:* https://${host}:*`,
    );
  });

  test('compressed when the browser accepts it (brotli first), the same page', async () => {
    const plain = (await get('/')).body;
    const br = await get('/', { 'Accept-Encoding': 'gzip, deflate, br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(br.body)).toEqual(plain);
    const gz = await get('/', { 'Accept-Encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body)).toEqual(plain);
    expect((await get('/', { 'Accept-Encoding': 'br;q=0, gzip;q=0' })).headers['content-encoding']).toBeUndefined();
  });

  test('HEAD: the headers without the body', async () => {
    const r = await get('/automations', {}, 'HEAD');
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(0);
    expect(Number(r.headers['content-length'])).toBe((await get('/automations')).body.length);
  });
});

describe('files of the bundle', () => {
  test('a hashed asset: its type, cached for a year, the precompressed sibling the browser accepts', async () => {
    const identity = await get('/assets/index-Ab12.js');
    expect(identity.status).toBe(200);
    expect(identity.headers).toMatchObject({ 'content-type': 'application/javascript; charset=utf-8', 'cache-control': 'public, max-age=31536000, immutable', vary: 'Accept-Encoding', 'x-content-type-options': 'nosniff' });
    expect(identity.headers['content-encoding']).toBeUndefined();
    expect(identity.body.toString()).toBe(JS);
    expect(identity.headers['content-security-policy']).toContain("script-src 'self';");

    const br = await get('/assets/index-Ab12.js', { 'Accept-Encoding': 'gzip, br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(br.body).toString()).toBe(JS + '// br\n');
    expect(Number(br.headers['content-length'])).toBe(br.body.length);

    const gz = await get('/assets/index-Ab12.js', { 'Accept-Encoding': 'br;q=0, gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).toString()).toBe(JS + '// gz\n');
  });

  test('no sibling: the file itself, whatever is accepted', async () => {
    const r = await get('/assets/app-Cd34.css', { 'Accept-Encoding': 'br, gzip' });
    expect(r.headers).toMatchObject({ 'content-type': 'text/css; charset=utf-8', vary: 'Accept-Encoding' });
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.body.toString()).toBe('body { color: red }\n');
  });

  test('a large file is streamed whole', async () => {
    const r = await get('/assets/big-Ef56.js');
    expect(r.body.equals(BIG)).toBe(true);
    expect(Number(r.headers['content-length'])).toBe(BIG.length);
  });

  test('root files: cached for good only when asked with the build id (never the service worker)', async () => {
    expect((await get('/favicon.svg?v=build-42')).headers).toMatchObject({ 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=31536000, immutable' });
    expect((await get('/favicon.svg')).headers['cache-control']).toBe('no-cache');
    expect((await get('/favicon.svg?v=other-build')).headers['cache-control']).toBe('no-cache');
    expect((await get('/sw.js?v=build-42')).headers).toMatchObject({ 'content-type': 'application/javascript; charset=utf-8', 'cache-control': 'no-cache' });
    expect((await get('/manifest.webmanifest')).headers['content-type']).toBe('application/manifest+json; charset=utf-8');
    expect((await get('/fonts/inter.woff2')).headers['content-type']).toBe('font/woff2');
    expect((await get('/blob.xyz')).headers['content-type']).toBe('application/octet-stream');
    // A link that stays inside the root is followed.
    expect((await get('/inside-link.css')).body.toString()).toBe('body { color: red }\n');
  });

  test('If-Modified-Since: 304 without a body', async () => {
    const first = await get('/favicon.svg');
    const again = await get('/favicon.svg', { 'If-Modified-Since': first.headers['last-modified']! });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect((await get('/favicon.svg', { 'If-Modified-Since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status).toBe(200);
  });

  test.each([
    ['a missing asset', '/assets/nope-1234.js', {}],
    ['a precompressed sibling asked for directly', '/assets/index-Ab12.js.br', {}],
    ['an API path', '/api/users/gateway-owner/avatar', { Accept: 'text/html' }],
    ['the legacy namespace', '/__openclaw__/catalog-icon/x', { Accept: 'text/html' }],
    ['a fetch that takes no HTML', '/automations', { Accept: 'image/avif,image/webp,*/*;q=0' }],
    ['a hidden file', '/.env', {}],
  ])('404 for %s', async (_what, path, headers) => {
    const r = await get(path, headers as Record<string, string>);
    expect(r.status).toBe(404);
    expect(r.body.toString()).not.toContain(SECRET);
    expect(r.headers['x-frame-options']).toBe('DENY');
  });
});

describe('never outside the root', () => {
  test.each([
    ['..', '/../outside/secret.txt', 400],
    ['.. inside', '/assets/../../secret.txt', 400],
    ['encoded ..', '/%2e%2e/secret.txt', 400],
    ['mixed-case encoded ..', '/%2E%2e/%2e%2E/etc/passwd', 400],
    ['encoded slash', '/assets/..%2f..%2fsecret.txt', 400],
    ['backslash', '/assets\\..\\..\\secret.txt', 400],
    ['encoded backslash', '/assets/%5c..%5csecret.txt', 400],
    ['NUL', '/index.html%00.js', 400],
    ['empty segment', '/assets//index-Ab12.js', 400],
    ['malformed escape', '/%zz', 400],
    ['. segment', '/./index.html', 400],
    ['absolute-form URL', 'http://evil.example/secret.txt', 400],
    ['a symlink to a file outside', '/leak.txt', 404],
    ['a symlinked asset outside', '/assets/leak.js', 404],
    ['a symlinked folder outside', '/linkdir/secret.txt', 404],
    ['over-long path', `/${'a'.repeat(3000)}`, 414],
  ])('%s', async (_what, path, status) => {
    const r = await get(path, { Accept: 'text/html' });
    expect(r.status).toBe(status);
    expect(r.body.toString()).not.toContain(SECRET);
  });

  test('methods other than GET and HEAD: 405 with Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const r = await get('/', {}, method);
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
    }
    expect((await get('/control-ui-config.json', { Authorization: `Bearer ${LEGACY_TOKEN}` }, 'POST')).status).toBe(405);
  });

  test('the bridge\'s own routes are unchanged: /healthz, /readyz, the WebSocket on /', async () => {
    expect((await get('/healthz')).body.toString()).toBe('{"ok":true,"status":"live"}');
    expect((await get('/readyz')).status).toBe(200);
    const c = await LegacyClient.open(f.url);
    expect(await c.challenge()).toEqual(expect.any(String));
    await c.close();
  });
});

describe('bootstrap config', () => {
  const PATHS = ['/control-ui-config.json', '/__openclaw/control-ui-config.json', '/__openclaw__/control-ui-config.json'];

  test.each(PATHS)('%s: 401 with the real body without a valid bearer token', async (path) => {
    for (const headers of [{} as Record<string, string>, { Authorization: 'Bearer wrong-token' }, { Authorization: `Basic ${Buffer.from(`x:${LEGACY_TOKEN}`).toString('base64')}` }, { Authorization: LEGACY_TOKEN }]) {
      const r = await get(path, headers);
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body.toString())).toEqual({ error: { message: 'Unauthorized', type: 'unauthorized' } });
    }
    expect(f.logs.audits('bridge.controlUi.config').filter((l) => l.allowed === false).length).toBeGreaterThanOrEqual(4);
  });

  test.each(PATHS)('%s: the real shape with the shared token', async (path) => {
    const r = await get(path, { Authorization: `Bearer ${LEGACY_TOKEN}` });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(r.body.toString())).toEqual({
      basePath: '',
      assistantName: 'Assistant',
      assistantAvatar: 'A',
      assistantAvatarSource: null,
      assistantAvatarStatus: null,
      assistantAvatarReason: null,
      assistantAgentId: 'main',
      serverVersion: expect.any(String),
      embedSandbox: 'scripts',
      allowExternalEmbedUrls: false,
      automaticallyFetchFavicons: true,
      communityInvite: true,
      terminalEnabled: false,
      cliAgentsEnabled: false,
      pluginAssetsRequireAuth: true,
      pluginFrameGrants: [],
    });
    expect(f.logs.audits('bridge.controlUi.config').pop()).toMatchObject({ allowed: true, reason: 'shared-token' });
  });

  test('a device token this bridge handed out is accepted until it is revoked', async () => {
    const device = await f.pairDevice(['operator.read']);
    const { client, hello } = await f.deviceClient(device, ['operator.read']);
    const deviceToken = hello.payload.auth.deviceToken as string;
    expect(deviceToken).toEqual(expect.any(String));
    await client.close();
    expect((await get('/control-ui-config.json', { Authorization: `Bearer ${deviceToken}` })).status).toBe(200);
    expect(f.logs.audits('bridge.controlUi.config').pop()).toMatchObject({ allowed: true, reason: 'device-token', deviceId: device.id });

    const d = f.t.connect('cli').client(DeviceService);
    await unaryCall(d, d.revokeLegacyDeviceToken, { deviceId: device.id, role: 'operator' });
    expect((await get('/control-ui-config.json', { Authorization: `Bearer ${deviceToken}` })).status).toBe(401);
    expect(f.logs.audits('bridge.controlUi.config').pop()).toMatchObject({ allowed: false, reason: 'bearer token not accepted' });
  });
});

describe('configuration', () => {
  test('a root that is not a Control UI bundle fails the start, naming what to point at', async () => {
    const empty = makeTmpDir('control-ui-empty-');
    try {
      const start = (dir: string) => startBridge({ port: 0, gateway: f.gateway, legacyToken: LEGACY_TOKEN, log: silentLogger(), controlUiRoot: dir });
      await expect(start(join(empty, 'missing'))).rejects.toThrow(/control UI root .*missing is not a readable folder .*: point it at the dist\/control-ui folder of an installed openclaw npm package/);
      await expect(start(empty)).rejects.toThrow(/control UI root .* has no index.html: point it at the dist\/control-ui folder/);
      await expect(start(join(root, 'favicon.svg'))).rejects.toThrow(/is not a readable folder \(not a directory\)/);
    } finally {
      removeTmpDir(empty);
    }
  });
});
