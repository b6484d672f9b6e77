/**
 * The strict DER reader: accepts exactly DER (definite, minimal lengths, one-byte
 * tags, no trailing bytes) and says what is wrong with everything else. Inputs are
 * hand-written bytes and DER made by Node's own encoder.
 */
import { generateKeyPairSync } from 'node:crypto';
import { checkTree, childrenOf, DerError, encodingOf, expectCount, expectTag, readBitString, readElement, readOid, readSingle, TAG, valueOf } from '../../src/identity/der';
import { decodeDer, encodeDer, oidNode } from './der-tree';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** The DerError message `fn` throws (fails the test when it returns or throws something else). */
function derError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DerError);
    return (err as Error).message;
  }
  throw new Error('expected a DerError');
}

describe('readElement / readSingle: lengths', () => {
  it('reads short-form and minimal long-form lengths', () => {
    expect(readSingle(hex('30 03 02 01 05'))).toEqual({ tag: 0x30, headerStart: 0, start: 2, end: 5 });
    const long = Buffer.concat([hex('04 81 80'), Buffer.alloc(128, 7)]);
    expect(readSingle(long)).toEqual({ tag: 0x04, headerStart: 0, start: 3, end: 131 });
    const longer = Buffer.concat([hex('04 82 01 00'), Buffer.alloc(256, 7)]);
    expect(readSingle(longer)).toMatchObject({ start: 4, end: 260 });
    expect(readSingle(hex('05 00'))).toEqual({ tag: 0x05, headerStart: 0, start: 2, end: 2 });
  });

  it.each([
    ['trailing byte after the outer element', '30 03 02 01 05 00', /1 trailing byte\(s\) after the outer SEQUENCE/],
    ['two elements back to back', '05 00 05 00', /2 trailing byte/],
    ['long form for a length below 128', '30 81 03 02 01 05', /non-minimal length at offset 0 \(long form for 3 bytes\)/],
    ['a leading zero length byte', '04 82 00 81' + '07'.repeat(129), /non-minimal length at offset 0 \(leading zero byte\)/],
    ['indefinite length', '30 80 02 01 05 00 00', /indefinite length/],
    ['a length past the end', '30 05 02 01 05', /runs past the end \(5 bytes, 3 available\)/],
    ['a length field past the end', '04 82 01', /truncated length field/],
    ['a length field of 5 bytes', '04 85 00 00 00 00 01 00', /length field of 5 bytes/],
    ['a lone tag byte', '30', /truncated/],
    ['empty input', '', /truncated/],
    ['a multi-byte (high-number) tag', '1f 81 00 00', /multi-byte tag/],
  ])('refuses %s', (_what, bytes, message) => {
    expect(derError(() => readSingle(hex(bytes)))).toMatch(message);
  });

  it('bounds a child by its container, not by the buffer', () => {
    // The inner INTEGER claims 3 bytes; the SEQUENCE only holds 2 of them, though the buffer has more.
    const der = hex('30 04 02 03 01 02 ff ff');
    const outer = readElement(der, 0);
    expect(derError(() => childrenOf(der, outer))).toMatch(/runs past the end/);
  });
});

describe('childrenOf, expectTag, expectCount', () => {
  const der = hex('30 07 02 01 00 a0 00 05 00');

  it('lists the children of a constructed element, which fill it exactly', () => {
    const kids = childrenOf(der, readSingle(der));
    expect(kids.map((k) => k.tag)).toEqual([TAG.INTEGER, TAG.CONTEXT_0, TAG.NULL]);
    expect(valueOf(der, kids[0])).toEqual(hex('00'));
    expect(encodingOf(der, kids[1])).toEqual(hex('a0 00'));
  });

  it('refuses to list children of a primitive element', () => {
    const prim = hex('04 02 05 00');
    expect(derError(() => childrenOf(prim, readSingle(prim)))).toMatch(/OCTET STRING at offset 0 is not constructed/);
  });

  it('names the field and both tags on a mismatch, and a missing field', () => {
    const kids = childrenOf(der, readSingle(der));
    expect(expectTag(kids[0], TAG.INTEGER, 'version')).toBe(kids[0]);
    expect(derError(() => expectTag(kids[0], TAG.SEQUENCE, 'subject Name'))).toBe('subject Name: expected SEQUENCE, found INTEGER at offset 2');
    expect(derError(() => expectTag(kids[2], TAG.BIT_STRING, 'signature'))).toBe('signature: expected BIT STRING, found NULL at offset 7');
    expect(derError(() => expectTag(undefined, TAG.CONTEXT_0, 'attributes'))).toBe('attributes: missing (expected [0])');
    expect(derError(() => expectCount(kids, 4, 'CertificationRequestInfo'))).toBe('CertificationRequestInfo: expected 4 element(s), found 3');
    expect(expectCount(kids, 2, 'x', 3)).toBe(kids);
  });
});

describe('readOid', () => {
  it.each(['1.2.840.113549.1.1.11', '1.2.840.10045.4.3.2', '1.3.101.112', '2.5.4.3', '0.9.2342.19200300.100.1.25', '2.999.1234567'])('decodes %s as the test encoder wrote it', (oid) => {
    const der = encodeDer(oidNode(oid));
    expect(readOid(der, readSingle(der))).toBe(oid);
  });

  it('reads the OIDs in an SPKI made by Node', () => {
    const spki = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'der' });
    const alg = childrenOf(spki, childrenOf(spki, readSingle(spki))[0]);
    expect(alg.map((el) => readOid(spki, el))).toEqual(['1.2.840.10045.2.1', '1.3.132.0.34']);
  });

  it.each([
    ['a non-minimal sub-identifier (leading 0x80)', '06 03 2a 80 01', /non-minimal sub-identifier/],
    ['an unterminated last sub-identifier', '06 02 2a 86', /unterminated/],
    ['an empty OID', '06 00', /empty/],
    ['another tag', '04 01 2a', /expected OID/],
  ])('refuses %s', (_what, bytes, message) => {
    const der = hex(bytes);
    expect(derError(() => readOid(der, readSingle(der)))).toMatch(message);
  });
});

describe('readBitString', () => {
  it('returns the bytes after the unused-bits octet when it is 0', () => {
    const der = hex('03 03 00 ab cd');
    expect(readBitString(der, readSingle(der))).toEqual(hex('ab cd'));
  });

  it.each([
    ['unused bits', '03 02 04 f0', /4 unused bit\(s\), expected 0/],
    ['an empty BIT STRING', '03 00', /empty/],
    ['an OCTET STRING', '04 01 00', /expected BIT STRING, found OCTET STRING/],
  ])('refuses %s', (_what, bytes, message) => {
    const der = hex(bytes);
    expect(derError(() => readBitString(der, readSingle(der), 'signature'))).toMatch(message);
  });
});

describe('checkTree', () => {
  it('accepts a DER SPKI made by Node and its test re-encoding byte for byte', () => {
    const spki = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' });
    expect(() => checkTree(spki, readSingle(spki))).not.toThrow();
    expect(encodeDer(decodeDer(spki))).toEqual(spki);
  });

  it('finds a non-minimal length deep inside a structure', () => {
    const tree = decodeDer(hex('30 07 31 05 30 03 02 01 05'));
    tree.children![0].children![0].children![0].lengthForm = 'long';
    const der = encodeDer(tree);
    expect(der).toEqual(hex('30 08 31 06 30 04 02 81 01 05'));
    // The outer element alone reads fine: only the walk reaches the bad length.
    expect(() => readSingle(der)).not.toThrow();
    expect(derError(() => checkTree(der, readSingle(der)))).toMatch(/non-minimal length at offset 6/);
  });

  it('bounds nesting depth', () => {
    let der: Buffer = hex('05 00');
    for (let i = 0; i < 40; i++) der = encodeDer({ tag: 0x30, children: [decodeDer(der)] });
    expect(derError(() => checkTree(der, readSingle(der)))).toMatch(/nesting deeper than 32 levels/);
  });
});
