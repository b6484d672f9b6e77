/**
 * Key types: parsing, native generation of each type (sync and async), and
 * signData/verifyData, which pick the algorithm from the key and never throw on
 * garbage when verifying (they back a proof-of-possession challenge).
 */
import { createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, verify as nativeVerify } from 'node:crypto';
import { GatewayError } from '../../src/errors';
import { DEFAULT_KEY_TYPE, generateKeyPair, generateKeyPairAsync, KEY_TYPES, keyTypeOf, parseKeyType, signData, verifyData, type KeyType } from '../../src/identity/keys';

const DATA = Buffer.from('challenge: 3f1c…');

describe('parseKeyType', () => {
  it('accepts every type, case- and space-insensitively', () => {
    expect(KEY_TYPES).toEqual(['rsa', 'p256', 'p384', 'ed25519']);
    for (const t of KEY_TYPES) expect(parseKeyType(` ${t.toUpperCase()} `)).toBe(t);
  });

  it('refuses anything else with INVALID_ARGUMENT listing the choices', () => {
    for (const bad of ['dsa', 'p521', '', 'ec']) {
      let err: unknown;
      try {
        parseKeyType(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GatewayError);
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'UNKNOWN_KEY_TYPE', message: `unknown key type "${bad}" (allowed: rsa, p256, p384, ed25519)` });
    }
  });
});

describe('generateKeyPair / generateKeyPairAsync', () => {
  const expected: Record<KeyType, { type: string; details: Record<string, unknown> }> = {
    rsa: { type: 'rsa', details: { modulusLength: 2048 } },
    p256: { type: 'ec', details: { namedCurve: 'prime256v1' } },
    p384: { type: 'ec', details: { namedCurve: 'secp384r1' } },
    ed25519: { type: 'ed25519', details: {} },
  };

  it('defaults to P-256', () => {
    expect(DEFAULT_KEY_TYPE).toBe('p256');
    expect(keyTypeOf(createPublicKey(generateKeyPair().publicKeyPem))).toBe('p256');
  });

  it.each(KEY_TYPES.map((t) => [t]))('%s: PKCS#8 + SPKI PEM of the right kind, sync and async', async (type) => {
    for (const pair of [generateKeyPair(type), await generateKeyPairAsync(type)]) {
      expect(pair.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(pair.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
      const pub = createPublicKey(pair.publicKeyPem);
      expect(pub.asymmetricKeyType).toBe(expected[type].type);
      expect(pub.asymmetricKeyDetails).toMatchObject(expected[type].details);
      expect(keyTypeOf(pub)).toBe(type);
      // The two halves belong together.
      expect(createPublicKey(createPrivateKey(pair.privateKeyPem)).export({ type: 'spki', format: 'pem' })).toBe(pair.publicKeyPem);
    }
  });

  it('keyTypeOf says undefined for keys the gateway does not support', () => {
    expect(keyTypeOf(generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).publicKey)).toBeUndefined();
    expect(keyTypeOf(generateKeyPairSync('ed448').publicKey)).toBeUndefined();
    expect(keyTypeOf(generateKeyPairSync('x25519').publicKey)).toBeUndefined();
  });
});

describe('signData / verifyData', () => {
  /** The digest Node must be given to check each type's signature independently. */
  const DIGEST: Record<KeyType, string | null> = { rsa: 'sha256', p256: 'sha256', p384: 'sha384', ed25519: null };
  const pairs = Object.fromEntries(KEY_TYPES.map((t) => [t, generateKeyPair(t)])) as Record<KeyType, ReturnType<typeof generateKeyPair>>;

  it.each(KEY_TYPES.map((t) => [t]))('%s: signs with the algorithm of its type, from a PEM or a KeyObject', (type) => {
    const { privateKeyPem, publicKeyPem } = pairs[type];
    for (const key of [privateKeyPem, createPrivateKey(privateKeyPem)]) {
      const sig = signData(key, DATA);
      expect(nativeVerify(DIGEST[type], DATA, publicKeyPem, sig)).toBe(true);
      expect(verifyData(publicKeyPem, DATA, sig)).toBe(true);
      expect(verifyData(createPublicKey(publicKeyPem), DATA, sig)).toBe(true);
      expect(verifyData(createPrivateKey(privateKeyPem), DATA, sig)).toBe(true);
      expect(verifyData(publicKeyPem, Buffer.concat([DATA, Buffer.from('!')]), sig)).toBe(false);
    }
  });

  it('uses SHA-384 on P-384 (a SHA-256 check fails) and a DER ECDSA signature', () => {
    const sig = signData(pairs.p384.privateKeyPem, DATA);
    expect(nativeVerify('sha256', DATA, pairs.p384.publicKeyPem, sig)).toBe(false);
    expect(sig[0]).toBe(0x30);
    expect(signData(pairs.ed25519.privateKeyPem, DATA)).toHaveLength(64);
    expect(signData(pairs.rsa.privateKeyPem, DATA)).toHaveLength(256);
  });

  it('verifyData is total: false, never a throw, on garbage', () => {
    const good = signData(pairs.p256.privateKeyPem, DATA);
    const cases: [unknown, unknown, unknown][] = [
      ['not a key', DATA, good],
      ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', DATA, good],
      [pairs.p384.publicKeyPem, DATA, good],
      [pairs.rsa.publicKeyPem, DATA, good],
      [pairs.ed25519.publicKeyPem, DATA, good],
      [pairs.p256.publicKeyPem, DATA, Buffer.alloc(0)],
      [pairs.p256.publicKeyPem, DATA, Buffer.from('30020100', 'hex')],
      [pairs.p256.publicKeyPem, DATA, Buffer.alloc(5000, 0x30)],
      [pairs.p256.publicKeyPem, 'not a buffer', good],
      [pairs.p256.publicKeyPem, DATA, 'not a buffer'],
      [pairs.p256.publicKeyPem, undefined, undefined],
      [undefined, DATA, good],
      [null, DATA, good],
      [42, DATA, good],
      [{}, DATA, good],
      [createSecretKey(Buffer.alloc(32)), DATA, good],
      [generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).publicKey, DATA, good],
      [generateKeyPairSync('x25519').publicKey, DATA, good],
    ];
    for (const [key, data, sig] of cases) {
      expect(() => verifyData(key as string, data as Buffer, sig as Buffer)).not.toThrow();
      expect(verifyData(key as string, data as Buffer, sig as Buffer)).toBe(false);
    }
    expect(verifyData(pairs.p256.publicKeyPem, DATA, good)).toBe(true);
  });

  it('signData refuses keys it cannot sign with (INVALID_ARGUMENT), and public keys', () => {
    const p521 = generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).privateKey;
    expect(() => signData(p521, DATA)).toThrow(expect.objectContaining({ reason: 'KEY_TYPE_UNSUPPORTED', message: expect.stringContaining('EC (secp521r1)') }));
    expect(() => signData(createPublicKey(pairs.p256.publicKeyPem), DATA)).toThrow(expect.objectContaining({ reason: 'KEY_TYPE_UNSUPPORTED' }));
  });
});
