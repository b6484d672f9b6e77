/**
 * The logger's redaction: credentials never reach a log line, whether they sit at the
 * top of a log object or inside it (a connect's auth block, a gRPC request). Audit lines
 * about device tokens name the device and the decision, never the token.
 */
import { createLogger, audit } from '../../src/logging';
import { Writable } from 'node:stream';

function capture(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, log: createLogger({ level: 'debug', destination }) };
}

test('tokens, passwords and secrets are redacted at the top and inside objects', () => {
  const { lines, log } = capture();
  const secrets = ['device-token-AAAA', 'bootstrap-BBBB', 'shared-CCCC', 'password-DDDD', 'request-secret-EEEE', 'nested-FFFF', 'legacy-GGGG'];
  log.info({ deviceToken: secrets[0], bootstrapToken: secrets[1], token: secrets[2], password: secrets[3], requestSecret: secrets[4] }, 'top');
  log.info({ params: { auth: { token: secrets[2], deviceToken: secrets[0], password: secrets[3] } } }, 'connect params');
  log.info({ req: { deviceToken: secrets[0], legacyToken: secrets[6] }, call: { request: { token: secrets[5] } } }, 'nested');
  audit(log, 'legacy.device-token', { deviceId: 'd1', role: 'operator', allowed: false, reason: 'device-token-mismatch' });
  const all = lines.join('\n');
  for (const s of secrets) expect([s, all.includes(s)]).toEqual([s, false]);
  // 5 at the top, 3 in the auth block, 3 nested.
  expect(all.split('[redacted]').length - 1).toBe(11);
  expect(JSON.parse(lines[3])).toMatchObject({ audit: true, event: 'legacy.device-token', deviceId: 'd1', allowed: false, reason: 'device-token-mismatch' });
});
