/**
 * The real `openclaw` CLI with the shared token after an operator widened
 * bridge.tokenOnlyScopes to every operator scope (with our `openclaw-cli gateway-config
 * patch`): writes and admin calls work, as on the real gateway where a token-only CLI gets
 * the scopes it asks for. Shapes are those the real gateway 2026.9.6 prints.
 */
import { outcome } from './real-cli';
import { useLegacyClientsSuite } from './suite';

const s = useLegacyClientsSuite();
const flags = () => ['--url', s.url, '--token', s.token];

beforeAll(async () => {
  await s.widenTokenOnlyScopes();
});

test('gateway call of an unknown method as an admin caller: INVALID_REQUEST unknown method', async () => {
  const r = await s.realCli().json(['gateway', 'call', 'no.such.method', ...flags()]);
  expect(outcome(r)).toEqual({
    code: 1,
    json: { ok: false, error: { type: 'gateway_request_error', code: 'INVALID_REQUEST', message: 'unknown method: no.such.method', retryable: false } },
  });
});

test('cron add, list, rm: the job is created, listed and removed', async () => {
  const cli = s.realCli();
  const added = await cli.json(['cron', 'add', '--name', 'nightly', '--every', '1h', '--message', 'hello', ...flags()]);
  expect(outcome(added)).toMatchObject({
    code: 0,
    json: {
      id: expect.any(String),
      name: 'nightly',
      enabled: true,
      createdAtMs: expect.any(Number),
      updatedAtMs: expect.any(Number),
      schedule: { kind: 'every', everyMs: 3_600_000 },
      sessionTarget: 'isolated',
      wakeMode: 'now',
      payload: { kind: 'agentTurn', message: 'hello' },
      state: { nextRunAtMs: expect.any(Number) },
    },
  });
  const id = added.json.id as string;

  const listed = await cli.json(['cron', 'list', ...flags()]);
  expect(outcome(listed)).toMatchObject({ code: 0, json: { total: 1, hasMore: false, jobs: [expect.objectContaining({ id, name: 'nightly', enabled: true })] } });

  // Our own CLI (gRPC) sees the same job.
  const ours = await s.ours.json<{ jobs: { jobId: string; name: string }[] }>('cron', 'list');
  expect(ours.jobs).toEqual([expect.objectContaining({ jobId: id, name: 'nightly' })]);

  const removed = await cli.json(['cron', 'rm', id, ...flags()]);
  expect(outcome(removed)).toEqual({ code: 0, json: { ok: true, removed: true } });
  const after = await cli.json(['cron', 'list', ...flags()]);
  expect(outcome(after)).toMatchObject({ code: 0, json: { jobs: [], total: 0 } });
});

test('devices list: exit 0 with the pending and paired lists', async () => {
  const r = await s.realCli().json(['devices', 'list', ...flags()]);
  expect(outcome(r)).toMatchObject({ code: 0, json: { pending: expect.any(Array), paired: expect.any(Array) } });
});
