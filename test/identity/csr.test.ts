/**
 * verifyCsr accepts well-formed RSA CSRs (from openssl and from createCsr) with a
 * valid proof of possession, and refuses everything else with a precise reason.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCsr, MAX_CSR_BYTES, verificationCode, verifyCsr } from '../../src/identity/csr';
import { generateRsaKeyPair } from '../../src/identity/keys';
import { ErrorCode, GatewayError } from '../../src/errors';
import { openssl, opensslOk } from '../helpers/openssl';
import { useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-csr-');
let dir: string;

function spkiSha256(keyPem: string): string {
  return createHash('sha256').update(createPublicKey(keyPem).export({ type: 'spki', format: 'der' })).digest('hex');
}

/** Makes a CSR with `openssl req`; returns the CSR and key PEMs. */
function opensslCsr(name: string, keyArgs: string[], subject = `/CN=${name}`, extra: string[] = []): { csr: string; key: string } {
  const keyFile = join(dir, `${name}.key`);
  const csrFile = join(dir, `${name}.csr`);
  opensslOk(['req', '-new', ...keyArgs, '-nodes', '-keyout', keyFile, '-subj', subject, '-out', csrFile, ...extra]);
  return { csr: readFileSync(csrFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function toPem(der: Buffer, label = 'CERTIFICATE REQUEST'): string {
  const b64 = der.toString('base64').match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The GatewayError verifyCsr throws for `pem` (fails the test if it does not throw one). */
function rejection(pem: string): GatewayError {
  try {
    verifyCsr(pem);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return err as GatewayError;
  }
  throw new Error('verifyCsr accepted the input');
}

let rsa: { csr: string; key: string };

beforeAll(() => {
  dir = tmp();
  rsa = opensslCsr('openssl-rsa', ['-newkey', 'rsa:2048'], '/O=Example/CN=kitchen-node');
});

describe('accepted CSRs', () => {
  it('accepts an RSA-2048 CSR made by openssl: device id = sha256(SPKI of its key), CN from the subject', () => {
    const v = verifyCsr(rsa.csr);
    expect(v.deviceId).toBe(spkiSha256(rsa.key));
    expect(v.commonName).toBe('kitchen-node');
    expect(v.keyBits).toBe(2048);
    expect(spkiSha256(v.publicKeyPem)).toBe(v.deviceId);
  });

  it('accepts a CSR from createCsr, which openssl also verifies', () => {
    const keys = generateRsaKeyPair(2048);
    const pem = createCsr({ ...keys, label: 'living-room tablet' });
    const v = verifyCsr(pem);
    expect(v.deviceId).toBe(spkiSha256(keys.publicKeyPem));
    expect(v.commonName).toBe('living-room tablet');
    const r = openssl(['req', '-in', '-', '-noout', '-verify'], { input: pem });
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/verify OK/i);
  });

  it('accepts a non-ASCII CN from openssl (UTF8String) and reads it back', () => {
    const u = opensslCsr('utf8-cn', ['-newkey', 'rsa:2048'], '/CN=Jörg’s 日本 phone', ['-utf8']);
    expect(verifyCsr(u.csr).commonName).toBe('Jörg’s 日本 phone');
  });

  // KNOWN BUG (src/identity/csr.ts createCsr): the CN is written as a PrintableString
  // of Latin-1 bytes, so any non-ASCII label gives a CSR verifyCsr refuses as
  // CSR_MALFORMED. Fix: add `valueTagClass: forge.asn1.Type.UTF8` to the commonName
  // attribute. Remove `.failing` once fixed.
  it('round-trips a non-ASCII label through createCsr and verifyCsr', () => {
    const keys = generateRsaKeyPair(2048);
    expect(verifyCsr(createCsr({ ...keys, label: 'Jörg’s phone' })).commonName).toBe('Jörg’s phone');
  });

  it('accepts SHA-384 and SHA-512 signatures and a PEM with surrounding text', () => {
    const s384 = opensslCsr('sha384', ['-newkey', 'rsa:2048'], '/CN=s384', ['-sha384']);
    expect(verifyCsr(s384.csr).deviceId).toBe(spkiSha256(s384.key));
    const s512 = opensslCsr('sha512', ['-newkey', 'rsa:2048'], '/CN=s512', ['-sha512']);
    expect(verifyCsr(`some preamble\n${s512.csr}\ntrailer\n`).commonName).toBe('s512');
  });
});

describe('refused CSRs', () => {
  it.each([
    ['empty input', '', 'CSR_MISSING'],
    ['garbage text', 'this is not a certificate request', 'CSR_MALFORMED'],
    ['a PEM block of the wrong type', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'CSR_MALFORMED'],
    ['a CSR block whose body is not DER', '-----BEGIN CERTIFICATE REQUEST-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE REQUEST-----\n', 'CSR_MALFORMED'],
  ])('refuses %s (%s)', (_what, input, reason) => {
    const err = rejection(input);
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.reason).toBe(reason);
  });

  it('refuses a PEM cut in the middle (no END line)', () => {
    const err = rejection(rsa.csr.slice(0, Math.floor(rsa.csr.length / 2)));
    expect(err.reason).toBe('CSR_MALFORMED');
  });

  it('refuses truncated DER re-encoded as a valid PEM', () => {
    const der = pemBody(rsa.csr);
    for (const keep of [der.length - 1, der.length - 40, Math.floor(der.length / 2), 10, 1]) {
      const err = rejection(toPem(der.subarray(0, keep)));
      expect(err.reason).toBe('CSR_MALFORMED');
    }
  });

  it('refuses a CSR whose signature bytes were flipped (no proof of possession)', () => {
    // The signature BIT STRING is the last element of the DER: flip its final bytes.
    const der = Buffer.from(pemBody(rsa.csr));
    for (let i = der.length - 8; i < der.length; i++) der[i] ^= 0xff;
    const err = rejection(toPem(der));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.reason).toBe('CSR_SIGNATURE_INVALID');
    // Sanity: the untampered bytes are accepted, so the flip is what failed.
    expect(verifyCsr(toPem(pemBody(rsa.csr))).commonName).toBe('kitchen-node');
  });

  it('refuses a CSR whose signed content was altered (subject changed after signing)', () => {
    const der = Buffer.from(pemBody(rsa.csr));
    const at = der.indexOf(Buffer.from('kitchen-node'));
    expect(at).toBeGreaterThan(0);
    der.write('KITCHEN', at, 'latin1');
    expect(rejection(toPem(der)).reason).toBe('CSR_SIGNATURE_INVALID');
  });

  it('refuses an EC P-256 CSR with CSR_KEY_TYPE naming the curve', () => {
    const ec = opensslCsr('ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const err = rejection(ec.csr);
    expect(err.reason).toBe('CSR_KEY_TYPE');
    expect(err.message).toContain('EC (prime256v1)');
  });

  it('refuses an Ed25519 CSR with CSR_KEY_TYPE', () => {
    const ed = opensslCsr('ed25519', ['-newkey', 'ed25519']);
    const err = rejection(ed.csr);
    expect(err.reason).toBe('CSR_KEY_TYPE');
    expect(err.message).toContain('ED25519');
  });

  it('refuses an RSA-1024 CSR with CSR_KEY_SIZE', () => {
    const small = opensslCsr('rsa1024', ['-newkey', 'rsa:1024']);
    const err = rejection(small.csr);
    expect(err.reason).toBe('CSR_KEY_SIZE');
    expect(err.message).toContain('RSA-1024');
  });

  it('refuses a SHA-1 signed CSR with CSR_SIGNATURE_ALGORITHM', () => {
    const sha1 = opensslCsr('sha1', ['-newkey', 'rsa:2048'], '/CN=sha1', ['-sha1']);
    expect(rejection(sha1.csr).reason).toBe('CSR_SIGNATURE_ALGORITHM');
  });

  it('refuses input over the size limit before parsing it, even around a valid CSR', () => {
    expect(rejection('A'.repeat(MAX_CSR_BYTES + 1)).reason).toBe('CSR_TOO_LARGE');
    const padded = rsa.csr + '\n' + '#'.repeat(MAX_CSR_BYTES);
    expect(rejection(padded).reason).toBe('CSR_TOO_LARGE');
  });
});

describe('verificationCode', () => {
  const ALPHABET = /^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{4}-[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{4}$/;

  it('has known values for fixed ids', () => {
    expect(verificationCode('00'.repeat(32))).toBe('2222-2222');
    expect(verificationCode('ff'.repeat(32))).toBe('ZZZZ-ZZZZ');
    expect(verificationCode('0001020304050607' + '00'.repeat(24))).toBe('2345-6789');
    expect(verificationCode('08090a0b0c0d0e0f' + '00'.repeat(24))).toBe('ABCD-EFGH');
  });

  it('is stable for a key, XXXX-XXXX from the unambiguous alphabet, and differs between keys', () => {
    const a = verifyCsr(rsa.csr).deviceId;
    const b = verifyCsr(createCsr({ ...generateRsaKeyPair(2048), label: 'b' })).deviceId;
    expect(verificationCode(a)).toBe(verificationCode(a));
    expect(verificationCode(a)).toMatch(ALPHABET);
    expect(verificationCode(b)).toMatch(ALPHABET);
    expect(verificationCode(a)).not.toBe(verificationCode(b));
  });
});
