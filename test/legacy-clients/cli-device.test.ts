/**
 * The real `openclaw` CLI with no token: it signs its connect with its own device key
 * (kept in its HOME) and sends no credential. The real gateway 2026.9.6 answers that with
 * `AUTH_TOKEN_MISSING` ("unauthorized: gateway token missing (...)", close 1008): a device
 * signature alone is never a credential, and no pairing request is made. Ours answers the
 * same, and the CLI prints the message (which says where the token is). A recording tap
 * between the CLI and the bridge shows the frames. (The device-token flow of a paired
 * device is driven with openclaw-node: openclaw-node-pairing.test.ts.)
 */
import { eventually } from '../helpers/eventually';
import { outcome } from './real-cli';
import { useLegacyClientsSuite } from './suite';
import { WsTap } from './ws-tap';

const s = useLegacyClientsSuite();
let tap: WsTap;
beforeAll(async () => {
  tap = await WsTap.start(s.url);
});
afterAll(async () => {
  await tap?.close();
});

test('real CLI without a token: refused as the real gateway refuses it (token missing), no pairing request made', async () => {
  const cli = s.realCli();
  cli.writeConfig({ gateway: { mode: 'remote', remote: { url: tap.url }, auth: { mode: 'none' } } });
  const pendingBefore = (await s.ours.json<{ pending: unknown[] }>('devices', 'list')).pending.length;

  const first = await cli.json(['cron', 'list']);
  expect(outcome(first)).toMatchObject({ code: 1, json: { ok: false, error: { message: expect.stringMatching(/^unauthorized: gateway token missing \(.*legacy-token.*\)$/) } } });
  const [h1] = tap.handshakes();
  expect(h1.connect.params).toMatchObject({ client: { id: 'cli', mode: 'cli' }, role: 'operator', scopes: ['operator.read'], device: { id: expect.stringMatching(/^[0-9a-f]{64}$/), signature: expect.any(String) } });
  expect(h1.connect.params.auth).toBeUndefined();
  expect(h1.answer).toMatchObject({
    ok: false,
    error: { code: 'INVALID_REQUEST', details: { code: 'AUTH_TOKEN_MISSING', authReason: 'token_missing', canRetryWithDeviceToken: false, recommendedNextStep: 'update_auth_configuration' } },
  });
  await eventually('the tap sees the bridge close the socket', () => tap.handshakes()[0].closed);
  expect(tap.handshakes()[0].closed?.code).toBe(1008);
  expect((await s.ours.json<{ pending: unknown[] }>('devices', 'list')).pending).toHaveLength(pendingBefore);
});
