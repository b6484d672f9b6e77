/**
 * The real `openclaw` CLI as a paired device. Without a token it signs every connect
 * with its own device key (kept in its HOME); our bridge then asks for pairing like for
 * any device, an operator approves with our `openclaw-cli devices approve`, and the CLI
 * keeps the device token it is given and reconnects with it (device proof + device token,
 * no shared secret). A recording tap between the CLI and the bridge shows the frames.
 */
import { until } from '../helpers/until';
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

test('real CLI without a token: pairing required, approved with openclaw-cli, then it reconnects with its device token', async () => {
  const cli = s.realCli();
  // Pointed at the gateway by its config, with no token: it signs with its device key.
  cli.writeConfig({ gateway: { mode: 'remote', remote: { url: tap.url }, auth: { mode: 'none' } } });

  const first = await cli.json(['cron', 'list']);
  expect(outcome(first)).toMatchObject({ code: 1, json: { ok: false, error: { message: expect.stringMatching(/pairing required \(requestId: [^)]+\)/) } } });
  const requestId = /requestId: ([^)]+)\)/.exec(first.json.error.message)![1];
  const [h1] = tap.handshakes();
  expect(h1.connect.params).toMatchObject({ client: { id: 'cli', mode: 'cli' }, role: 'operator', scopes: ['operator.read'], device: { id: expect.stringMatching(/^[0-9a-f]{64}$/), signature: expect.any(String) } });
  expect(h1.connect.params.auth).toBeUndefined();
  const deviceId = h1.connect.params.device.id as string;
  expect(h1.answer).toMatchObject({ ok: false, error: { code: 'NOT_PAIRED', details: { code: 'PAIRING_REQUIRED', reason: 'not-paired', requestId, deviceId } } });
  await until('the tap sees the bridge close the socket', () => tap.handshakes()[0].closed);
  expect(tap.handshakes()[0].closed).toEqual({ code: 1008, reason: `pairing required: device is not approved yet (requestId: ${requestId})` });

  // The operator finds it in the one approval queue and approves it with our CLI.
  const listed = await s.ours.json<{ pending: { requestId: string; deviceId: string }[] }>('devices', 'list');
  expect(listed.pending).toEqual(expect.arrayContaining([expect.objectContaining({ requestId, deviceId })]));
  const approved = await s.ours.json<{ device: Record<string, unknown> }>('devices', 'approve', requestId);
  expect(approved.device).toMatchObject({ deviceId, role: 'operator', scopes: ['operator.read'] });

  const second = await cli.json(['cron', 'list']);
  expect(outcome(second)).toMatchObject({ code: 0, json: { jobs: [], total: 0 } });
  const h2 = tap.handshakes()[1];
  expect(h2.answer).toMatchObject({ ok: true, payload: { type: 'hello-ok', auth: { role: 'operator', scopes: ['operator.read'], deviceToken: expect.any(String) } } });
  const deviceToken = h2.answer.payload.auth.deviceToken as string;

  // The next run sends the device token it stored with its device proof, nothing else,
  // and is let in by that token, which stays the same until rotated.
  const third = await cli.json(['cron', 'list']);
  expect(outcome(third)).toMatchObject({ code: 0, json: { jobs: [], total: 0 } });
  const h3 = tap.handshakes()[2];
  expect(h3.connect.params.auth).toEqual({ deviceToken });
  expect(h3.connect.params.device.id).toBe(deviceId);
  expect(h3.answer).toMatchObject({ ok: true, payload: { auth: { method: 'device-token', role: 'operator', deviceToken } } });
});
