/**
 * The real `openclaw` CLI (npm, Node 24) against our bridge over `wss://`, trusting our
 * CA the way a Node client is told to (`NODE_EXTRA_CA_CERTS` pointing at the CA
 * certificate that `certs-tools ca-export` writes), and refusing the connection when it
 * does not trust it.
 */
import { outcome } from './real-cli';
import { useLegacyClientsSuite } from './suite';

const s = useLegacyClientsSuite({ bridgeTls: true });

test('the bridge serves wss://', () => {
  expect(s.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
});

test('with NODE_EXTRA_CA_CERTS set to our CA, the real CLI calls health over wss:// and exits 0', async () => {
  const r = await s.realCli().json(['gateway', 'call', 'health', '--url', s.url, '--token', s.token], { NODE_EXTRA_CA_CERTS: s.t.gw.paths.caCert });
  expect(outcome(r)).toMatchObject({ code: 0, json: { ok: true } });
});

test('without trusting our CA, the real CLI fails on the certificate and does not get in', async () => {
  const connectsBefore = s.t.logs.audits('bridge.connect').length;
  const r = await s.realCli().json(['gateway', 'call', 'health', '--url', s.url, '--token', s.token]);
  expect(r.code).not.toBe(0);
  expect(`${r.stdout}\n${r.stderr}`).toMatch(/self[- ]signed|unable to (get|verify)|certificate/i);
  // Not even a connect reached the bridge: the token was never sent to a server the client could not verify.
  expect(s.t.logs.audits('bridge.connect').length).toBe(connectsBefore);
});
