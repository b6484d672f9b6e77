/**
 * The real `openclaw` CLI (npm, Node 24) with the shared token against our bridge under
 * the default policy: token-only clients may read (bridge.tokenOnlyScopes =
 * ["operator.read"]). On a loopback URL with a token the CLI sends no device, so every
 * call here is a token-only handshake. Shapes are those the real gateway 2026.9.6 prints.
 */
import { outcome } from './real-cli';
import { useLegacyClientsSuite } from './suite';

const s = useLegacyClientsSuite();
const flags = () => ['--url', s.url, '--token', s.token];

test('gateway call health: exit 0 and the health object', async () => {
  const r = await s.realCli().json(['gateway', 'call', 'health', ...flags()]);
  expect(outcome(r)).toMatchObject({
    code: 0,
    json: { ok: true, ts: expect.any(Number), durationMs: expect.any(Number), channels: {}, channelOrder: [], channelLabels: {}, heartbeatSeconds: expect.any(Number), sessions: { count: expect.any(Number), recent: expect.any(Array) } },
  });
});

test('gateway call status: exit 0 and a status object', async () => {
  const r = await s.realCli().json(['gateway', 'call', 'status', ...flags()]);
  expect(r.code).toBe(0);
  expect(r.json).toEqual(expect.any(Object));
  expect(r.json.ok).not.toBe(false);
  expect(r.json.error).toBeUndefined();
});

test('models list (the published model catalog it requires is advertised): exit 0 and the gateway\'s models', async () => {
  const r = await s.realCli().json(['models', 'list'], { OPENCLAW_GATEWAY_URL: s.url, OPENCLAW_GATEWAY_TOKEN: s.token });
  expect(outcome(r)).toMatchObject({ code: 0, json: { count: 1, models: [{ key: 'builtin/builtin-echo', name: 'builtin-echo', input: 'text', contextWindow: null, local: true, available: true, tags: [] }] } });
});

test('cron list (URL and token from the environment): exit 0 and an empty first page', async () => {
  const r = await s.realCli().json(['cron', 'list'], { OPENCLAW_GATEWAY_URL: s.url, OPENCLAW_GATEWAY_TOKEN: s.token });
  expect(outcome(r)).toMatchObject({ code: 0, json: { jobs: [], total: 0, offset: 0, limit: 200, hasMore: false, nextOffset: null } });
});

test('gateway call of an unknown method as a read-only caller: FORBIDDEN, missing operator.admin', async () => {
  // The CLI asks every scope for a method it does not know; the default policy gives read only.
  const r = await s.realCli().json(['gateway', 'call', 'no.such.method', ...flags()]);
  expect(outcome(r)).toMatchObject({
    code: 1,
    json: {
      ok: false,
      error: {
        type: 'gateway_request_error',
        code: 'FORBIDDEN',
        message: expect.stringMatching(/^missing scope: operator\.admin\b/),
        details: { code: 'MISSING_SCOPE', missingScope: 'operator.admin', requiredScopes: ['operator.admin'] },
      },
    },
  });
});

test('cron add with the token only is refused with a message that says how to get the scope', async () => {
  const cli = s.realCli();
  const r = await cli.json(['cron', 'add', '--name', 'nightly', '--every', '1h', '--message', 'hello', ...flags()]);
  expect(outcome(r)).toMatchObject({ code: 1, json: { ok: false, error: { message: expect.stringMatching(/^missing scope: operator\.admin\b/) } } });
  // The CLI shows only the message: it must name a way out (pair the device, or widen bridge.tokenOnlyScopes).
  const hint = String(r.json.error.message).replace(/^missing scope: operator\.admin/, '');
  expect(hint).toMatch(/bridge\.tokenOnlyScopes|\bpair/i);
  const list = await cli.json(['cron', 'list', ...flags()]);
  expect(outcome(list)).toMatchObject({ code: 0, json: { jobs: [], total: 0 } });
});
