/**
 * Invites end to end, with a real gateway and the real CLI binary: `devices invite` on the
 * operator's side, `pair --invite` on a machine that has nothing but the string. Approval
 * is immediate; a used, expired, malformed or tampered invite is refused in one line
 * and leaves nothing behind.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_SCOPES } from '../../src/identity';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { useTmpDirs } from '../helpers/tmp';
import { cliFor, type CliRunner } from './cli-harness';

const tmp = useTmpDirs('openclaw-cli-invite-');
let t: TestGateway;
let operator: CliRunner;
/** Added to the gateway's clock (the expiry test moves it past a token's TTL). */
let offsetMs = 0;

interface InviteJson {
  invite: string;
  tokenId: string;
  expiresAt: string;
  usesLeft: number;
  role: string;
  scopes: string[];
  addresses: string[];
  caFingerprint: string;
}

beforeAll(async () => {
  t = await startTestGateway({ clock: { now: () => Date.now() + offsetMs } });
  operator = cliFor(t, tmp());
});
afterAll(async () => {
  await t.close();
});

/** A CLI on another machine: no certificates, no gateway address, only what the invite says. */
function newDevice(): CliRunner {
  return operator.with({ home: tmp(), certs: undefined, gateway: undefined });
}

async function invite(...args: string[]): Promise<InviteJson> {
  return operator.json<InviteJson>('devices', 'invite', ...args);
}

test('devices invite --json: the shape, the defaults (1 use, 10 minutes, operator with read and write only)', async () => {
  const before = Date.now();
  const res = await invite('--name', 'phone');
  expect(Object.keys(res).sort()).toEqual(['addresses', 'caFingerprint', 'expiresAt', 'invite', 'role', 'scopes', 'tokenId', 'usesLeft']);
  expect(res).toMatchObject({
    tokenId: expect.stringMatching(/^[0-9a-f]{12}$/),
    usesLeft: 1,
    role: 'operator',
    scopes: ['operator.read', 'operator.write'],
    addresses: [t.address],
    caFingerprint: t.gw.caFingerprint,
  });
  const ttl = Date.parse(res.expiresAt) - before;
  expect(ttl).toBeGreaterThan(9 * 60_000);
  expect(ttl).toBeLessThanOrEqual(10 * 60_000 + 1000);
  expect(res.invite).toMatch(new RegExp(`^openclaw\\+invite://v1\\?gw=127\\.0\\.0\\.1%3A${t.gw.grpcPort}&ca=${t.gw.caFingerprint.replace(/:/g, '')}&t=ocbt_${res.tokenId}\\.[A-Za-z0-9_-]+&n=phone&exp=\\d+&u=1$`));

  // The token behind it is an ordinary bootstrap token, listed (never with its secret) and revocable.
  const tokens = await operator.json<{ tokens: { tokenId: string; label: string; usesLeft: number }[] }>('tokens', 'list');
  expect(tokens.tokens.find((x) => x.tokenId === res.tokenId)).toMatchObject({ label: 'phone', usesLeft: 1 });

  const custom = await invite('--name', 'lan', '--role', 'backend', '--scopes', 'operator.read', '--ttl', '2h', '--uses', '3', '--address', '192.168.1.20:18790', '--address', '[fd00::20]');
  expect(custom).toMatchObject({ role: 'backend', scopes: ['operator.read'], usesLeft: 3, addresses: ['192.168.1.20:18790', `[fd00::20]:${t.gw.grpcPort}`] });
  expect(custom.invite).toContain('gw=192.168.1.20%3A18790&gw=%5Bfd00%3A%3A20%5D%3A');

  // Other roles get their role's defaults; more than read/write for an operator only when asked for.
  expect(await invite('--name', 'svc', '--role', 'backend')).toMatchObject({ role: 'backend', scopes: [...DEFAULT_SCOPES.backend] });
  expect(await invite('--name', 'sensor', '--role', 'node')).toMatchObject({ role: 'node', scopes: [...DEFAULT_SCOPES.node] });
  expect(await invite('--name', 'admin', '--scopes', 'operator.admin')).toMatchObject({ role: 'operator', scopes: ['operator.admin'] });
  expect((await operator.fails('devices', 'invite', '--name', 'relay', '--role', 'bridge')).line).toContain('cannot grant role bridge');
  const help = (await operator.ok('devices', 'invite', '--help')).replace(/\s+/g, ' '); // help wraps at the terminal width
  expect(help).toContain("--scopes <list> comma-separated scopes (default: operator.read,operator.write for an operator, the role's defaults for other roles)");
});

test('devices invite: human output (no QR code when stdout is not a terminal) and usage errors', async () => {
  const out = await operator.ok('devices', 'invite', '--name', 'kitchen tablet', '--ttl', '15m');
  const text = /^(openclaw\+invite:\/\/\S+)$/m.exec(out)![1];
  expect(out).toMatch(/^Invite for "kitchen tablet" \(operator\), 1 use, expires \S+ \(in 1[45]m/);
  expect(out).toContain(`openclaw-cli pair --invite '${text}' --out <dir>`);
  expect(out).toContain('is reachable from this machine only');
  expect(out).not.toMatch(/[▀▄█]/);

  expect((await operator.fails('devices', 'invite')).code).toBe(2);
  expect((await operator.fails('devices', 'invite', '--name', 'x', '--address', 'not an address')).line).toContain('--address: "not an address" is not HOST:PORT');
  expect((await operator.fails('devices', 'invite', '--name', 'x', '--ttl', '10s')).line).toContain('token TTL must be from 1 minute to 30 days');
  expect((await operator.fails('devices', 'invite', '--name', 'x', '--role', 'king')).code).toBe(2);
  expect((await operator.fails('devices', 'invite', '--name', 'x', '--uses', '0')).line).toContain('--uses: an invite must admit at least 1 device');
  expect((await operator.fails('devices', 'invite', '--name', 'x'.repeat(65))).line).toContain('--name: the device name is longer than 64 characters');
});

test('pair --invite: approved at once, no operator; the folder works with what the invite allowed; P-256 by default', async () => {
  const { invite: text, tokenId } = await invite('--name', 'Anna’s phone', '--scopes', 'operator.read,operator.write');
  const out = join(tmp(), 'phone');
  const device = newDevice();
  const r = await device.run('pair', '--invite', text, '--out', out);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/^Approved: device [0-9a-f]{64} \(operator, scopes operator\.read, operator\.write\)/);
  expect(r.stdout).toContain('Wrote key.pem (ECDSA P-256, 0600)');
  expect(r.stdout).not.toContain('Waiting for approval');

  const meta = JSON.parse(readFileSync(join(out, 'identity.json'), 'utf8')) as Record<string, unknown>;
  expect(meta).toMatchObject({ label: 'Anna’s phone', role: 'operator', scopes: ['operator.read', 'operator.write'], keyType: 'p256', gateway: t.address, caFingerprint: t.gw.caFingerprint });
  const key = new X509Certificate(readFileSync(join(out, 'cert.pem'))).publicKey;
  expect({ type: key.asymmetricKeyType, curve: key.asymmetricKeyDetails?.namedCurve }).toEqual({ type: 'ec', curve: 'prime256v1' });

  // The folder finds the gateway by itself (identity.json) and is what the invite allowed.
  const me = await device.with({ certs: out }).json<{ device: Record<string, unknown> }>('whoami');
  expect(me.device).toMatchObject({ label: 'Anna’s phone', role: 'operator', scopes: ['operator.read', 'operator.write'], source: 'bootstrap', status: 'active' });
  expect(await device.with({ certs: out }).ok('whoami')).toMatch(/^scopes: +operator\.read, operator\.write$/m);

  const tokens = await operator.json<{ tokens: { tokenId: string; usesLeft: number }[] }>('tokens', 'list');
  expect(tokens.tokens.find((x) => x.tokenId === tokenId)?.usesLeft).toBe(0);
});

test('pair --invite - reads the invite from standard input (not argv); empty or endless input is refused', async () => {
  const { invite: text } = await invite('--name', 'piped', '--uses', '3');
  const out = join(tmp(), 'piped');
  const r = await newDevice().with({ input: `\n  ${text}\r\nignored second line\n` }).run('--json', 'pair', '--invite', '-', '--out', out);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(r.stdout.trim())).toMatchObject({ state: 'APPROVED', role: 'operator', scopes: ['operator.read', 'operator.write'], gateway: t.address });
  expect(JSON.parse(readFileSync(join(out, 'identity.json'), 'utf8'))).toMatchObject({ label: 'piped' });
  // No line break at the end is fine too.
  expect((await newDevice().with({ input: text }).run('pair', '--invite', '-', '--out', join(tmp(), 'no-newline'))).code).toBe(0);

  const base = tmp();
  const empty = await newDevice().fails('pair', '--invite', '-', '--out', join(base, 'empty'));
  expect({ code: empty.code, line: empty.line }).toEqual({ code: 2, line: expect.stringContaining('invalid invite: standard input is empty') });
  const endless = await newDevice().with({ input: 'x'.repeat(100_000) }).fails('pair', '--invite', '-', '--out', join(base, 'endless'));
  expect(endless.line).toContain('standard input has more than 2048 characters before its first line break');
  const garbage = await newDevice().with({ input: 'not an invite\n' }).fails('pair', '--invite', '-', '--out', join(base, 'garbage'));
  expect(garbage.line).toContain('invalid invite: it does not start with openclaw+invite://');
  const mixed = await newDevice().with({ input: `${text}\n` }).fails('pair', '--invite', '-', '--token', 'ocbt_x', '--out', join(base, 'mixed'));
  expect(mixed.line).toContain('drop --token');
  for (const dir of ['empty', 'endless', 'garbage', 'mixed']) expect(existsSync(join(base, dir))).toBe(false);

  const help = (await newDevice().ok('pair', '--help')).replace(/\s+/g, ' '); // help wraps at the terminal width
  expect(help).toContain('"-" reads it from standard input');
  expect(help).toContain('--key-type <type> key to make: rsa | p256 | p384 | ed25519 (default: "p256")');
});

test('the same invite a second time is refused in one line and writes nothing', async () => {
  const { invite: text } = await invite('--name', 'once');
  const first = await newDevice().run('--json', 'pair', '--invite', text, '--out', join(tmp(), 'first'));
  expect(first.code).toBe(0);
  expect(JSON.parse(first.stdout.trim())).toMatchObject({ state: 'APPROVED', role: 'operator', keyType: 'p256', gateway: t.address });

  const again = join(tmp(), 'nested', 'again');
  const r = await newDevice().fails('pair', '--invite', text, '--out', again);
  expect(r.code).toBe(4);
  expect(r.line).toBe('openclaw-cli: error: this invite was already used (1 of 1 uses); ask for a new one with "openclaw-cli devices invite"');
  expect(r.stdout).toBe('');
  expect(existsSync(again)).toBe(false);
});

test('a revoked invite is refused', async () => {
  const res = await invite('--name', 'cancelled');
  await operator.ok('tokens', 'revoke', res.tokenId);
  const r = await newDevice().fails('pair', '--invite', res.invite, '--out', join(tmp(), 'cancelled'));
  expect(r.line).toContain('this invite was cancelled (its token was revoked)');
});

test('a malformed invite fails with INVITE_MALFORMED before any network call', async () => {
  // A listener that counts connections: the malformed invite names it as its gateway.
  let connections = 0;
  const server: Server = createServer((s) => {
    connections += 1;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const base = `openclaw+invite://v1?gw=127.0.0.1%3A${port}&ca=${'ab'.repeat(32)}&t=ocbt_0123456789ab.AbCdEfGhIjKlMnOpQrStUvWx`;
    const out = join(tmp(), 'malformed');
    for (const [text, message] of [
      [base.replace('ca=ab', 'ca=zz'), 'is not a SHA-256 fingerprint'],
      [base.replace('v1', 'v9'), 'format v9'],
      [base.replace(/&t=[^&]+/, ''), 'missing bootstrap token'],
      [base.replace('openclaw+invite', 'openclaw'), 'scheme "openclaw" is not openclaw+invite'],
    ] as const) {
      const r = await newDevice().fails('pair', '--invite', text, '--out', out);
      expect({ code: r.code, line: r.line }).toEqual({ code: 2, line: expect.stringContaining(`openclaw-cli: error: invalid invite: `) });
      expect(r.line).toContain(message);
    }
    expect(connections).toBe(0);
    expect(existsSync(out)).toBe(false);
  } finally {
    server.close();
  }
});

test('a tampered CA fingerprint in the invite makes pair refuse the gateway', async () => {
  const { invite: text, tokenId } = await invite('--name', 'tampered');
  const fp = t.gw.caFingerprint.replace(/:/g, '');
  const forged = text.replace(`ca=${fp}`, `ca=${fp.slice(0, 63)}${fp.endsWith('0') ? '1' : '0'}`);
  expect(forged).not.toBe(text);
  const out = join(tmp(), 'tampered');
  const r = await newDevice().fails('pair', '--invite', forged, '--out', out);
  expect(r.code).toBe(4);
  expect(r.line).toContain(`the gateway at ${t.address} does not present a CA with fingerprint`);
  expect(r.line).toContain('refusing to trust it');
  expect(existsSync(out)).toBe(false);
  // The token was never presented: the untampered invite still works.
  const tokens = await operator.json<{ tokens: { tokenId: string; usesLeft: number }[] }>('tokens', 'list');
  expect(tokens.tokens.find((x) => x.tokenId === tokenId)?.usesLeft).toBe(1);
  expect((await newDevice().run('pair', '--invite', text, '--out', join(tmp(), 'untampered'))).code).toBe(0);
});

test('the invite\'s addresses are tried in order; an explicit --gateway replaces them', async () => {
  // Port 1 on loopback refuses at once: the next address is used.
  const { invite: text } = await invite('--name', 'multi', '--uses', '2', '--address', '127.0.0.1:1', '--address', t.address);
  const out = join(tmp(), 'multi');
  const r = await newDevice().run('--json', 'pair', '--invite', text, '--out', out);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(r.stdout.trim())).toMatchObject({ state: 'APPROVED', gateway: t.address });

  const { invite: dead } = await invite('--name', 'elsewhere', '--address', '127.0.0.1:1');
  const unreachable = await newDevice().fails('pair', '--invite', dead, '--out', join(tmp(), 'dead'));
  expect(unreachable.code).toBe(3);
  const viaFlag = await newDevice().run('--gateway', t.address, '--json', 'pair', '--invite', dead, '--out', join(tmp(), 'flag'));
  expect({ code: viaFlag.code, stderr: viaFlag.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(viaFlag.stdout.trim())).toMatchObject({ state: 'APPROVED', gateway: t.address });
});

test('--key-type picks the key; --invite does not mix with --ca-fingerprint or --token', async () => {
  const { invite: text } = await invite('--name', 'ed', '--uses', '2');
  const out = join(tmp(), 'ed');
  const r = await newDevice().run('--json', 'pair', '--invite', text, '--out', out, '--key-type', 'ed25519');
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout.trim())).toMatchObject({ keyType: 'ed25519' });
  expect(new X509Certificate(readFileSync(join(out, 'cert.pem'))).publicKey.asymmetricKeyType).toBe('ed25519');

  const badKey = await newDevice().fails('pair', '--invite', text, '--out', join(tmp(), 'dsa'), '--key-type', 'dsa');
  expect(badKey.code).toBe(2);
  expect(badKey.line).toContain('unknown key type "dsa" (allowed: rsa, p256, p384, ed25519)');

  const withFp = await newDevice().fails('pair', '--invite', text, '--ca-fingerprint', t.gw.caFingerprint, '--out', join(tmp(), 'x'));
  expect(withFp.code).toBe(2);
  expect(withFp.line).toContain('--invite already carries the CA fingerprint and the bootstrap token; drop --ca-fingerprint');
  const withToken = await newDevice().fails('pair', '--invite', text, '--token', 'ocbt_x', '--out', join(tmp(), 'x'));
  expect(withToken.code).toBe(2);
  expect(withToken.line).toContain('drop --token');
  const neither = await newDevice().fails('pair', '--out', join(tmp(), 'x'));
  expect(neither.code).toBe(2);
  expect(neither.line).toContain('pair needs --ca-fingerprint <sha256>');
  expect(neither.line).toContain('or --invite <string>');
});

test('the QR package is loaded only when a QR code is printed', async () => {
  const preload = join(tmp(), 'list-modules.js');
  writeFileSync(preload, "process.on('exit', () => require('fs').writeFileSync(process.env.MODULES_OUT, JSON.stringify(Object.keys(require.cache))));\n");
  const modulesOf = async (...args: string[]) => {
    const out = join(tmp(), 'modules.json');
    await operator.with({ env: { NODE_OPTIONS: `--require ${preload}`, MODULES_OUT: out } }).ok(...args);
    return JSON.parse(readFileSync(out, 'utf8')) as string[];
  };
  const inviteMods = await modulesOf('devices', 'invite', '--name', 'modules');
  expect(inviteMods.some((m) => m.includes('/cli/invite'))).toBe(true);
  expect(inviteMods.some((m) => m.includes('/qrcode/'))).toBe(false);
  const listMods = await modulesOf('devices', 'list');
  expect(listMods.some((m) => m.includes('/qrcode/'))).toBe(false);
});

// Last in this file: it moves the gateway clock forward (never back: the rate limiters
// and the event log expect time to go on).
test('an expired invite is refused with its expiry time', async () => {
  // 1 minute is the shortest TTL the gateway accepts; its clock is then moved past it.
  const res = await invite('--name', 'late', '--ttl', '1m');
  offsetMs = 2 * 60_000;
  const out = join(tmp(), 'late');
  const r = await newDevice().fails('pair', '--invite', res.invite, '--out', out);
  expect(r.line).toBe(`openclaw-cli: error: this invite expired at ${res.expiresAt}; ask for a new one with "openclaw-cli devices invite"`);
  expect(r.code).not.toBe(0);
  expect(existsSync(out)).toBe(false);
});
