/**
 * Invite strings (no gateway): encode/parse round trips, the strict parser's errors, and
 * the QR code a terminal gets.
 */
import { Writable } from 'node:stream';
import { GatewayError } from '../../src/errors';
import { encodeInvite, normalizeAddress, parseInvite, printInviteQr, renderQr, type Invite } from '../../src/cli/invite';

const CA = '60f0716d540036da1a7b1a4a832edf2d6b65f583309702c51f9c52da709f219a';
const TOKEN = 'ocbt_0123456789ab.AbCdEfGhIjKlMnOpQrStUvWxYz012345';

function invite(overrides: Partial<Invite> = {}): Invite {
  return { addresses: ['127.0.0.1:18790'], caFingerprint: CA, token: TOKEN, name: 'phone', ...overrides };
}

/** The GatewayError parseInvite throws for `text`. */
function refusal(text: string): GatewayError {
  try {
    parseInvite(text);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return err as GatewayError;
  }
  throw new Error(`parseInvite accepted ${text}`);
}

/** A valid invite with its query replaced. */
const withQuery = (q: string) => `openclaw+invite://v1?${q}`;
const GOOD_QUERY = `gw=127.0.0.1%3A18790&ca=${CA}&t=${TOKEN}`;

describe('encode and parse', () => {
  test('a round trip keeps every field; the string is URL-shaped and versioned', () => {
    const full = invite({ addresses: ['127.0.0.1:18790', '192.168.1.20:18790', 'gateway.example.org:443'], expiresAtMs: 1_900_000_000_000, uses: 3 });
    const text = encodeInvite(full);
    expect(text).toBe(
      `openclaw+invite://v1?gw=127.0.0.1%3A18790&gw=192.168.1.20%3A18790&gw=gateway.example.org%3A443&ca=${CA}&t=${TOKEN}&n=phone&exp=1900000000&u=3`,
    );
    expect(parseInvite(text)).toEqual(full);
  });

  test('IPv6 addresses, names with spaces, quotes and unicode survive; the string needs no shell quoting inside single quotes', () => {
    const names = ["Anna's phone", 'Küchen-Tablet ☕', '手机 1', 'a+b&c=d?e#f%g', '  padded  ', '👩‍💻 laptop'];
    for (const name of names) {
      const inv = invite({ addresses: ['[::1]:18790', '[fd00::20]:18790', '[fe80::1%eth0]:443'], name });
      const text = encodeInvite(inv);
      expect(text).not.toMatch(/[\s'"#`$\\]/);
      expect(parseInvite(text)).toEqual(inv);
    }
  });

  test('addresses are normalized, deduplicated, and kept in order', () => {
    const parsed = parseInvite(withQuery(`gw=%5B%3A%3A1%5D%3A18790&gw=LOCALHOST%3A1&gw=%5B0%3A0%3A0%3A0%3A0%3A0%3A0%3A1%5D%3A18790&gw=localhost%3A1&ca=${CA.toUpperCase()}&t=${TOKEN}`));
    expect(parsed.addresses).toEqual(['[::1]:18790', 'localhost:1', '[0:0:0:0:0:0:0:1]:18790']);
    expect(parsed.caFingerprint).toBe(CA);
    expect(parsed.name).toBeUndefined();
  });

  test('colon fingerprints (as certificateFingerprint prints them) are written as 64 hex digits', () => {
    const colons = CA.match(/../g)!.join(':');
    expect(parseInvite(encodeInvite(invite({ caFingerprint: colons }))).caFingerprint).toBe(CA);
  });

  test('unknown parameters are ignored (v1 may gain optional hints); surrounding whitespace is trimmed; the scheme is case-insensitive', () => {
    expect(parseInvite(`  \n${withQuery(`${GOOD_QUERY}&hint=xyz`)}\n`)).toEqual({ addresses: ['127.0.0.1:18790'], caFingerprint: CA, token: TOKEN });
    expect(parseInvite(`OpenClaw+Invite://v1/?${GOOD_QUERY}`).token).toBe(TOKEN);
  });

  test('encodeInvite refuses what parseInvite would refuse', () => {
    expect(() => encodeInvite(invite({ addresses: [] }))).toThrow(/missing gateway address/);
    expect(() => encodeInvite(invite({ token: 'nope' }))).toThrow(/not of the form ocbt_/);
  });

  test('normalizeAddress', () => {
    expect(normalizeAddress('192.168.1.20', 18790)).toBe('192.168.1.20:18790');
    expect(normalizeAddress('[::1]', 443)).toBe('[::1]:443');
    expect(normalizeAddress('192.168.1.20')).toBeUndefined();
    for (const bad of ['::1:18790', '[nothost]:1', '999.1.1.1:1', 'host:0', 'host:65536', 'ho st:1', 'host:port', '-host:1', '']) {
      expect({ bad, out: normalizeAddress(bad, 18790) }).toEqual({ bad, out: undefined });
    }
  });
});

describe('the strict parser says what is wrong (INVALID_ARGUMENT, INVITE_MALFORMED)', () => {
  const cases: [string, string, RegExp][] = [
    ['empty', '   ', /the invite is empty/],
    ['another scheme', `https://v1?${GOOD_QUERY}`, /scheme "https" is not openclaw\+invite/],
    ['no scheme', TOKEN, /does not start with openclaw\+invite:\/\//],
    ['a newer version', withQuery(GOOD_QUERY).replace('//v1', '//v2'), /format v2; this openclaw-cli reads v1 invites/],
    ['no version', `openclaw+invite://?${GOOD_QUERY}`, /"" is not an invite version/],
    ['no parameters', 'openclaw+invite://v1', /no parameters/],
    ['missing gateway', withQuery(`ca=${CA}&t=${TOKEN}`), /missing gateway address \("gw"\)/],
    ['empty gateway', withQuery(`gw=&ca=${CA}&t=${TOKEN}`), /missing gateway address/],
    ['bad gateway', withQuery(`gw=127.0.0.1&ca=${CA}&t=${TOKEN}`), /gateway address "127.0.0.1" is not HOST:PORT/],
    ['unbracketed IPv6', withQuery(`gw=%3A%3A1%3A18790&ca=${CA}&t=${TOKEN}`), /gateway address "::1:18790" is not HOST:PORT/],
    ['too many gateways', withQuery(`${'gw=h%3A1&'.repeat(9)}ca=${CA}&t=${TOKEN}`), /9 gateway addresses \(at most 8\)/],
    ['missing fingerprint', withQuery(`gw=h%3A1&t=${TOKEN}`), /missing CA fingerprint \("ca"\)/],
    ['short fingerprint', withQuery(`gw=h%3A1&ca=${CA.slice(2)}&t=${TOKEN}`), /is not a SHA-256 fingerprint \(64 hex digits\)/],
    ['non-hex fingerprint', withQuery(`gw=h%3A1&ca=${'zz'.repeat(32)}&t=${TOKEN}`), /is not a SHA-256 fingerprint/],
    ['two fingerprints', withQuery(`gw=h%3A1&ca=${CA}&ca=${CA}&t=${TOKEN}`), /the CA fingerprint \("ca"\) is given 2 times/],
    ['missing token', withQuery(`gw=h%3A1&ca=${CA}`), /missing bootstrap token \("t"\)/],
    ['cut token', withQuery(`gw=h%3A1&ca=${CA}&t=${TOKEN.slice(0, 20)}`), /not of the form ocbt_<id>\.<secret> \(was the invite cut short\?\)/],
    ['empty name', withQuery(`${GOOD_QUERY}&n=+`), /the device name \("n"\) is empty/],
    ['control characters in the name', withQuery(`${GOOD_QUERY}&n=a%1B%5B31mb`), /has control characters/],
    ['a long name', withQuery(`${GOOD_QUERY}&n=${'x'.repeat(65)}`), /longer than 64 characters/],
    ['bad expiry', withQuery(`${GOOD_QUERY}&exp=soon`), /expiry \("exp"\) "soon"/],
    ['bad uses', withQuery(`${GOOD_QUERY}&u=0`), /uses \("u"\) "0"/],
    ['a fragment', `${withQuery(GOOD_QUERY)}#x`, /"#" fragment/],
    ['too long', withQuery(`${GOOD_QUERY}&pad=${'x'.repeat(2100)}`), /characters long \(at most 2048\)/],
  ];
  test.each(cases)('%s', (_what, text, message) => {
    const err = refusal(text);
    expect({ code: err.code, reason: err.reason }).toEqual({ code: 'INVALID_ARGUMENT', reason: 'INVITE_MALFORMED' });
    expect(err.message).toMatch(/^invalid invite: /);
    expect(err.message).toMatch(message);
  });
});

describe('QR code', () => {
  /** A stream that collects what is written, posing as a terminal or not. */
  function sink(isTTY: boolean): Writable & { isTTY: boolean; text: () => string } {
    const chunks: string[] = [];
    const w = new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        chunks.push(chunk.toString());
        cb();
      },
    }) as Writable & { isTTY: boolean; text: () => string };
    w.isTTY = isTTY;
    w.text = () => chunks.join('');
    return w;
  }

  const text = encodeInvite(invite({ addresses: ['192.168.1.20:18790', '[fd00::20]:18790'], expiresAtMs: 1_900_000_000_000, uses: 1 }));

  test('on a terminal: half blocks, dark on an explicitly light background, as many rows as the code needs', async () => {
    const tty = sink(true);
    expect(await printInviteQr(text, tty)).toBe(true);
    const out = tty.text();
    expect(out).toMatch(/[▀▄█]/);
    expect(out).toContain('\u001b[47m'); // light background, so it scans in dark themes too
    expect(out).not.toContain(text); // the picture only; the string is printed by the command
    // Two modules per row plus a one-module border: ceil((size + 2) / 2) rows.
    const qrcode = require('qrcode') as { create(t: string, o: object): { modules: { size: number } } };
    const size = qrcode.create(text, { errorCorrectionLevel: 'L' }).modules.size;
    const rows = out.split('\n').filter((l) => /[▀▄█ ]/.test(l.replace(/\u001b\[\d+m/g, '')));
    expect(rows).toHaveLength(Math.ceil((size + 2) / 2));
    expect(await renderQr(text)).toBe(out.replace(/\n$/, ''));
  });

  test('not a terminal: nothing is printed', async () => {
    const pipe = sink(false);
    expect(await printInviteQr(text, pipe)).toBe(false);
    expect(pipe.text()).toBe('');
  });
});
