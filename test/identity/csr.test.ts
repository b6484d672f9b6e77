/**
 * verifyCsr accepts well-formed CSRs for RSA, EC P-256/P-384 and Ed25519 keys (from
 * openssl and from createCsr) with a valid proof of possession, and refuses
 * everything else with a precise reason: other curves and sizes, mismatched or
 * unsupported signature algorithms, and DER that is not strictly DER.
 */
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCsr, MAX_CSR_BYTES, verificationCode, verifyCsr } from '../../src/identity/csr';
import { generateKeyPair, generateRsaKeyPair, KEY_TYPES, type KeyType } from '../../src/identity/keys';
import { ErrorCode, GatewayError } from '../../src/errors';
import { openssl, opensslOk } from '../helpers/openssl';
import { useTmpDirs } from '../helpers/tmp';
import { decodeDer, encodeDer, nodeAt, oidNode, pemBody, toPem, type DerNode } from './der-tree';

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

/** openssl arguments that make a new key of each type. */
const OPENSSL_KEY_ARGS: Record<KeyType, string[]> = {
  rsa: ['-newkey', 'rsa:2048'],
  p256: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  ed25519: ['-newkey', 'ed25519'],
};
const KEY_BITS: Record<KeyType, number> = { rsa: 2048, p256: 256, p384: 384, ed25519: 256 };
/** The signature algorithm openssl prints for what createCsr signs with. */
const SIG_ALG_NAME: Record<KeyType, string> = { rsa: 'sha256WithRSAEncryption', p256: 'ecdsa-with-SHA256', p384: 'ecdsa-with-SHA384', ed25519: 'ED25519' };

/** A CSR whose DER tree was changed by `edit` (after checking the untouched tree re-encodes to the same bytes). */
function edited(pem: string, edit: (root: DerNode) => void): string {
  const der = pemBody(pem);
  const root = decodeDer(der);
  expect(encodeDer(root)).toEqual(der);
  edit(root);
  return toPem(encodeDer(root));
}

/** The last byte of the signature flipped: still well-formed DER, but no longer a valid signature. */
function flipSignature(pem: string): string {
  return edited(pem, (root) => {
    const sig = nodeAt(root, [2]).content!;
    sig[sig.length - 1] ^= 0x01;
  });
}

describe.each(KEY_TYPES.map((t) => [t]))('key type %s', (type) => {
  let keys: ReturnType<typeof generateKeyPair>;
  let pem: string;

  beforeAll(() => {
    keys = generateKeyPair(type);
    pem = createCsr({ privateKeyPem: keys.privateKeyPem, label: `Jörg’s ${type} 日本` });
  });

  it('round-trips createCsr -> verifyCsr: key type, bits, device id = sha256(SPKI), label', () => {
    const v = verifyCsr(pem);
    expect(v.keyType).toBe(type);
    expect(v.keyBits).toBe(KEY_BITS[type]);
    expect(v.deviceId).toBe(spkiSha256(keys.publicKeyPem));
    expect(spkiSha256(v.publicKeyPem)).toBe(v.deviceId);
    expect(v.commonName).toBe(`Jörg’s ${type} 日本`);
    // The public key may be given explicitly with the same result.
    expect(verifyCsr(createCsr({ ...keys, label: 'x' })).deviceId).toBe(v.deviceId);
  });

  it('is accepted by `openssl req -verify`, with the expected signature algorithm', () => {
    const r = openssl(['req', '-in', '-', '-noout', '-verify'], { input: pem });
    expect(r.stdout + r.stderr).toMatch(/verify OK/i);
    expect(r.status).toBe(0);
    const text = opensslOk(['req', '-in', '-', '-noout', '-text'], { input: pem });
    expect(text).toContain(`Signature Algorithm: ${SIG_ALG_NAME[type]}`);
  });

  it('accepts a CSR made by `openssl req` for the same key type', () => {
    const o = opensslCsr(`openssl-${type}`, OPENSSL_KEY_ARGS[type], `/O=Example/CN=made-by-openssl-${type}`);
    const v = verifyCsr(o.csr);
    expect(v).toMatchObject({ keyType: type, keyBits: KEY_BITS[type], commonName: `made-by-openssl-${type}` });
    expect(v.deviceId).toBe(spkiSha256(o.key));
  });

  it('refuses it once a signature byte is flipped (CSR_SIGNATURE_INVALID)', () => {
    expect(rejection(flipSignature(pem)).reason).toBe('CSR_SIGNATURE_INVALID');
  });

  it('refuses it with a trailing byte after the outer SEQUENCE (CSR_MALFORMED)', () => {
    const err = rejection(toPem(Buffer.concat([pemBody(pem), Buffer.from([0])])));
    expect(err.reason).toBe('CSR_MALFORMED');
    expect(err.message).toBe('CSR is not a well-formed PKCS#10 request: 1 trailing byte(s) after the outer SEQUENCE');
  });
});

describe('other keys and sizes', () => {
  it.each([
    ['P-521', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'], 'EC (secp521r1)'],
    ['secp256k1', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], 'EC (secp256k1)'],
    ['Ed448', ['-newkey', 'ed448'], 'ED448'],
  ])('refuses %s with CSR_KEY_TYPE naming it', (name, args, described) => {
    const err = rejection(opensslCsr(`refused-${name}`, args).csr);
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.reason).toBe('CSR_KEY_TYPE');
    expect(err.message).toBe(`CSR key is ${described}: supported are RSA (2048-8192 bits), EC P-256, EC P-384 and Ed25519`);
  });

  /** A CSR for an RSA public key of `bits` whose modulus is random (not a real key: the size check comes first). */
  function oversizedRsaCsr(bits: number): string {
    const n = randomBytes(bits / 8);
    n[0] |= 0x80;
    n[n.length - 1] |= 0x01;
    const publicKeyPem = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' }, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    return createCsr({ privateKeyPem: generateRsaKeyPair(2048).privateKeyPem, publicKeyPem, label: 'big' });
  }

  it('refuses RSA moduli above 8192 bits with CSR_KEY_SIZE, and lets 8192 through to the signature check', () => {
    for (const bits of [8200, 16384]) {
      const err = rejection(oversizedRsaCsr(bits));
      expect(err.reason).toBe('CSR_KEY_SIZE');
      expect(err.message).toBe(`CSR key is RSA-${bits}: RSA keys must be 2048 to 8192 bits`);
    }
    // 8192 bits passes the size check; this fabricated key then fails on its signature.
    expect(rejection(oversizedRsaCsr(8192)).reason).toBe('CSR_SIGNATURE_INVALID');
  });

  it('refuses an EC key with a compressed point (CSR_KEY_TYPE) though openssl verifies its signature', () => {
    const keyFile = join(dir, 'compressed.key');
    writeFileSync(keyFile, generateKeyPair('p256').privateKeyPem);
    const compressedPub = opensslOk(['ec', '-in', keyFile, '-pubout', '-conv_form', 'compressed']);
    expect(createPublicKey(compressedPub).export({ type: 'spki', format: 'der' }).length).toBe(59);
    const pem = createCsr({ privateKeyPem: readFileSync(keyFile, 'utf8'), publicKeyPem: compressedPub, label: 'compressed' });
    expect(openssl(['req', '-in', '-', '-noout', '-verify'], { input: pem }).status).toBe(0);
    const err = rejection(pem);
    expect(err.reason).toBe('CSR_KEY_TYPE');
    expect(err.message).toMatch(/not in the standard SubjectPublicKeyInfo form/);
  });
});

describe('signature algorithms', () => {
  const RSA_SHA256 = '1.2.840.113549.1.1.11';
  const ECDSA_SHA256 = '1.2.840.10045.4.3.2';
  const ED25519 = '1.3.101.112';
  const NULL: DerNode = { tag: 0x05, content: Buffer.alloc(0) };
  /** The CSR with its signatureAlgorithm replaced (it is outside the signed part). */
  const withSigAlg = (pem: string, oid: string, params?: DerNode) =>
    edited(pem, (root) => {
      root.children![1] = { tag: 0x30, children: params ? [oidNode(oid), params] : [oidNode(oid)] };
    });

  it.each<[KeyType, string, DerNode | undefined, string]>([
    ['p256', RSA_SHA256, NULL, 'CSR is signed with sha256WithRSAEncryption, which does not match its ECDSA P-256 key (use ecdsa-with-SHA256 for this ECDSA P-256 key)'],
    ['rsa', ECDSA_SHA256, undefined, 'CSR is signed with ecdsa-with-SHA256, which does not match its RSA key (use sha256WithRSAEncryption for this RSA key)'],
    ['ed25519', ECDSA_SHA256, undefined, 'CSR is signed with ecdsa-with-SHA256, which does not match its Ed25519 key (use Ed25519 for this Ed25519 key)'],
    ['p384', ED25519, undefined, 'CSR is signed with Ed25519, which does not match its ECDSA P-384 key (use ecdsa-with-SHA384 for this ECDSA P-384 key)'],
  ])('refuses a %s key with a %s signature algorithm (CSR_SIGNATURE_ALGORITHM)', (type, oid, params, message) => {
    const pem = createCsr({ privateKeyPem: generateKeyPair(type).privateKeyPem, label: 'mismatch' });
    const err = rejection(withSigAlg(pem, oid, params));
    expect(err.reason).toBe('CSR_SIGNATURE_ALGORITHM');
    expect(err.message).toBe(message);
  });

  it('requires absent parameters for ECDSA and Ed25519, and NULL or absent for RSA (RFC 4055)', () => {
    const ec = createCsr({ privateKeyPem: generateKeyPair('p256').privateKeyPem, label: 'p' });
    expect(rejection(withSigAlg(ec, ECDSA_SHA256, NULL)).message).toBe('CSR signature algorithm ecdsa-with-SHA256 must have no parameters');
    const ed = createCsr({ privateKeyPem: generateKeyPair('ed25519').privateKeyPem, label: 'e' });
    expect(rejection(withSigAlg(ed, ED25519, NULL)).reason).toBe('CSR_SIGNATURE_ALGORITHM');
    // The algorithm identifier is not signed, so RSA without parameters still verifies.
    expect(verifyCsr(withSigAlg(rsa.csr, RSA_SHA256)).commonName).toBe('kitchen-node');
    const odd = rejection(withSigAlg(rsa.csr, RSA_SHA256, { tag: 0x04, content: Buffer.alloc(0) }));
    expect(odd.message).toBe('CSR signature algorithm sha256WithRSAEncryption must have NULL or no parameters');
  });

  it('accepts ecdsa-with-SHA384 on a P-256 key and ecdsa-with-SHA256 on a P-384 key (openssl -sha384 / -sha256)', () => {
    expect(verifyCsr(opensslCsr('p256-sha384', OPENSSL_KEY_ARGS.p256, '/CN=a', ['-sha384']).csr).keyType).toBe('p256');
    expect(verifyCsr(opensslCsr('p384-sha256', OPENSSL_KEY_ARGS.p384, '/CN=b', ['-sha256']).csr).keyType).toBe('p384');
  });

  it('refuses RSASSA-PSS by name', () => {
    const pss = opensslCsr('pss', OPENSSL_KEY_ARGS.rsa, '/CN=pss', ['-sigopt', 'rsa_padding_mode:pss']);
    const err = rejection(pss.csr);
    expect(err.reason).toBe('CSR_SIGNATURE_ALGORITHM');
    expect(err.message).toBe('CSR signature algorithm RSASSA-PSS is not supported (use sha256WithRSAEncryption for this RSA key)');
  });
});

describe('strict DER', () => {
  let ec: string;
  beforeAll(() => {
    ec = createCsr({ privateKeyPem: generateKeyPair('p256').privateKeyPem, label: 'strict' });
  });

  /** Refused as CSR_MALFORMED with a message containing `detail`. */
  const malformed = (pem: string, detail: string) => {
    const err = rejection(pem);
    expect(err.reason).toBe('CSR_MALFORMED');
    expect(err.message).toContain(detail);
  };

  it.each<[string, number[], number, string]>([
    ['the outer SEQUENCE', [], 0x31, 'CertificationRequest: expected SEQUENCE, found SET'],
    ['CertificationRequestInfo', [0], 0x31, 'CertificationRequestInfo: expected SEQUENCE, found SET'],
    ['the version INTEGER', [0, 0], 0x04, 'version: expected INTEGER, found OCTET STRING'],
    ['the subject Name', [0, 1], 0x31, 'subject Name: expected SEQUENCE, found SET'],
    ['the SPKI', [0, 2], 0x31, 'subjectPublicKeyInfo: expected SEQUENCE, found SET'],
    ['the [0] attributes', [0, 3], 0xa1, 'attributes [0]: expected [0], found tag 0xa1'],
    ['the signature AlgorithmIdentifier', [1], 0x31, 'signatureAlgorithm: expected SEQUENCE, found SET'],
    ['the signature BIT STRING', [2], 0x04, 'signature: expected BIT STRING, found OCTET STRING'],
  ])('refuses a wrong tag on %s', (_what, path, tag, detail) => {
    malformed(edited(ec, (root) => void (nodeAt(root, path).tag = tag)), detail);
  });

  it('refuses version 1, missing attributes, a signature with unused bits, extra elements', () => {
    malformed(edited(ec, (root) => void (nodeAt(root, [0, 0]).content = Buffer.from([1]))), 'version: expected INTEGER 0 (v1)');
    malformed(edited(ec, (root) => void nodeAt(root, [0]).children!.pop()), 'CertificationRequestInfo: expected 4 element(s), found 3');
    malformed(edited(ec, (root) => void (nodeAt(root, [2]).content![0] = 1)), 'signature: 1 unused bit(s), expected 0');
    malformed(edited(ec, (root) => void root.children!.push({ tag: 0x05, content: Buffer.alloc(0) })), 'CertificationRequest: expected 3 element(s), found 4');
  });

  it.each<[string, number[], DerNode['lengthForm'], string]>([
    ['the version in long form', [0, 0], 'long', 'non-minimal length at offset'],
    ['the subject Name with a leading zero length byte', [0, 1], 'leading-zero', 'non-minimal length at offset'],
    ['a CN deep in the subject in long form', [0, 1, 0, 0, 1], 'long', 'non-minimal length at offset'],
    ['the outer SEQUENCE with a leading zero length byte', [], 'leading-zero', 'non-minimal length at offset 0 (leading zero byte)'],
    ['CertificationRequestInfo with an indefinite length', [0], 'indefinite', 'indefinite length at offset'],
  ])('refuses %s', (_what, path, form, detail) => {
    malformed(edited(ec, (root) => void (nodeAt(root, path).lengthForm = form)), detail);
  });

  it('refuses a certificate relabelled as a CSR, naming the first field that is wrong', () => {
    const certPem = opensslOk(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'self.key'), '-subj', '/CN=self', '-days', '1']);
    malformed(toPem(pemBody(certPem)), 'CertificationRequestInfo: expected 4 element(s), found 8');
  });

  it('accepts an openssl CSR that carries attributes (requested extensions)', () => {
    const withExt = opensslCsr('with-ext', OPENSSL_KEY_ARGS.p256, '/CN=ext', ['-addext', 'subjectAltName=DNS:dev.example.test']);
    const der = pemBody(withExt.csr);
    expect(nodeAt(decodeDer(der), [0, 3]).children!.length).toBe(1);
    expect(verifyCsr(withExt.csr).commonName).toBe('ext');
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
