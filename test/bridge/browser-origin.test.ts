/**
 * The bridge's browser origin policy (origin-policy.ts): which `Origin` headers may open
 * a WebSocket, what a refused page gets (the real gateway's CONTROL_UI_ORIGIN_NOT_ALLOWED,
 * close 1008, naming our setting), the allow-list read at each upgrade, and the audit
 * line of every decision. Clients that send no Origin are not affected.
 */
import { checkOrigin } from '../../src/bridge/ws/origin-policy';
import { connectParams, LegacyClient } from './legacy-client';
import { LEGACY_TOKEN, startBridgeFixture, type BridgeFixture } from './fixture';

const MESSAGE = 'origin not allowed (open the Control UI from the gateway host or allow it in bridge.controlUi.allowedOrigins)';
const UI_CLIENT = { id: 'openclaw-control-ui', version: '2026.9.6', platform: 'Linux x86_64', mode: 'webchat' };

let f: BridgeFixture;
let allowed: string[] = [];
let hostPort: string;
beforeAll(async () => {
  f = await startBridgeFixture({ allowedOrigins: () => allowed });
  hostPort = new URL(f.url).host;
});
afterAll(async () => {
  await f.close();
});

/** The last `bridge.connect` audit line of a page of this origin. */
function lastConnectAudit(origin: string): Record<string, unknown> | undefined {
  return f.logs.audits('bridge.connect').filter((l) => l.origin === origin).pop();
}

/** Opens a socket with these upgrade headers and sends a connect with the shared token. */
async function connectWith(headers: Record<string, string>): Promise<{ res: Record<string, any>; client: LegacyClient }> {
  const client = await LegacyClient.open(f.url, headers);
  await client.challenge();
  const res = await client.request('connect', connectParams({ client: UI_CLIENT, auth: { token: LEGACY_TOKEN } }));
  return { res, client };
}

async function expectRefused(headers: Record<string, string>, reason = 'origin not allowed'): Promise<void> {
  const { res, client } = await connectWith(headers);
  expect(res.ok).toBe(false);
  expect(res.error).toEqual({ code: 'INVALID_REQUEST', message: MESSAGE, details: { code: 'CONTROL_UI_ORIGIN_NOT_ALLOWED', reason } });
  expect(await client.closed).toEqual({ code: 1008, reason: MESSAGE });
}

async function expectAllowed(headers: Record<string, string>): Promise<void> {
  const { res, client } = await connectWith(headers);
  expect(res).toMatchObject({ ok: true, payload: { type: 'hello-ok' } });
  await client.close();
}

test('the page of the bridge itself (Origin host = Host, an IP address) is let in, and audited as same-origin', async () => {
  await expectAllowed({ Origin: `http://${hostPort}` });
  const line = lastConnectAudit(`http://${hostPort}`);
  expect(line).toMatchObject({ allowed: true, origin: `http://${hostPort}`, originCheck: 'same-origin', clientId: 'openclaw-control-ui', clientMode: 'webchat' });
});

test('a loopback page of another port (a UI dev server) is let in from a loopback connection', async () => {
  await expectAllowed({ Origin: 'http://localhost:5173' });
  expect(lastConnectAudit('http://localhost:5173')).toMatchObject({ allowed: true, originCheck: 'loopback' });
});

test('a foreign origin is refused with the real error, whatever the credentials, and the refusal is audited', async () => {
  await expectRefused({ Origin: 'https://evil.example' });
  expect(lastConnectAudit('https://evil.example')).toMatchObject({
    allowed: false,
    originCheck: 'origin not allowed',
    reason: 'CONTROL_UI_ORIGIN_NOT_ALLOWED',
    clientId: 'openclaw-control-ui',
  });
});

test('a DNS name is not trusted as same-origin (DNS rebinding): Origin and Host both gateway.test are refused until listed', async () => {
  const name = `gateway.test:${new URL(f.url).port}`;
  await expectRefused({ Origin: `http://${name}`, Host: name });
  allowed = [`http://${name}`];
  try {
    await expectAllowed({ Origin: `http://${name}`, Host: name });
    expect(lastConnectAudit(`http://${name}`)).toMatchObject({ allowed: true, originCheck: 'allowlist' });
  } finally {
    allowed = [];
  }
});

test('bridge.controlUi.allowedOrigins is read at each upgrade: a listed origin gets in, and is refused again once removed', async () => {
  allowed = ['https://ui.example'];
  await expectAllowed({ Origin: 'https://ui.example' });
  allowed = [];
  await expectRefused({ Origin: 'https://ui.example' });
});

test('malformed and opaque origins are refused as invalid', async () => {
  await expectRefused({ Origin: 'null' }, 'origin missing or invalid');
  await expectRefused({ Origin: `http://${hostPort}/path` }, 'origin missing or invalid');
  await expectRefused({ Origin: 'not a url' }, 'origin missing or invalid');
  await expectRefused({ Origin: `file://${hostPort}` }, 'origin missing or invalid');
});

test('clients without an Origin header (CLIs, node clients) are not affected', async () => {
  await expectAllowed({});
  expect(f.logs.audits('bridge.connect').at(-1)).not.toHaveProperty('origin');
});

describe('checkOrigin (the decision alone)', () => {
  test.each([
    ['no Origin', {}, '10.0.0.9', [], { allowed: true, matchedBy: 'no-origin' }],
    ['same-origin IPv4 from afar', { origin: 'http://192.168.1.5:18789', host: '192.168.1.5:18789' }, '192.168.1.7', [], { allowed: true, matchedBy: 'same-origin' }],
    ['same-origin IPv6', { origin: 'http://[::1]:18789', host: '[::1]:18789' }, '::1', [], { allowed: true, matchedBy: 'same-origin' }],
    ['same-origin localhost', { origin: 'http://localhost:18789', host: 'localhost:18789' }, '10.0.0.9', [], { allowed: true, matchedBy: 'same-origin' }],
    ['same host, other port', { origin: 'http://192.168.1.5:8080', host: '192.168.1.5:18789' }, '192.168.1.7', [], { allowed: false, reason: 'origin not allowed' }],
    ['same-origin DNS name', { origin: 'http://gw.example:18789', host: 'gw.example:18789' }, '192.168.1.7', [], { allowed: false, reason: 'origin not allowed' }],
    ['listed DNS name', { origin: 'http://gw.example:18789', host: 'gw.example:18789' }, '192.168.1.7', ['http://gw.example:18789'], { allowed: true, matchedBy: 'allowlist' }],
    ['listed with another scheme', { origin: 'https://gw.example:18789', host: 'gw.example:18789' }, '192.168.1.7', ['http://gw.example:18789'], { allowed: false, reason: 'origin not allowed' }],
    ['loopback page from loopback', { origin: 'http://127.0.0.1:5173', host: '127.0.0.1:18789' }, '::ffff:127.0.0.1', [], { allowed: true, matchedBy: 'loopback' }],
    ['loopback page from another machine', { origin: 'http://localhost:5173', host: '192.168.1.5:18789' }, '192.168.1.7', [], { allowed: false, reason: 'origin not allowed' }],
    ['opaque origin', { origin: 'null', host: '127.0.0.1:18789' }, '127.0.0.1', [], { allowed: false, reason: 'origin missing or invalid' }],
    ['origin with credentials', { origin: 'http://u:p@127.0.0.1:18789', host: '127.0.0.1:18789' }, '127.0.0.1', [], { allowed: false, reason: 'origin missing or invalid' }],
  ] as const)('%s', (_name, headers, remote, list, expected) => {
    expect(checkOrigin(headers, remote, list)).toEqual(expected);
  });
});
