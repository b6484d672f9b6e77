/**
 * A small, strict DER reader for the structures the gateway parses from untrusted
 * input (PKCS#10 requests). It refuses everything BER allows but DER does not
 * (indefinite lengths, non-minimal lengths, high-tag-number forms) and every length
 * that runs past its container, so two parsers can never disagree on what was signed.
 */

/** A DER structure that is not well-formed; `message` says what and where. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

/** Identifier octets the gateway reads (single-byte tags; constructed bit included). */
export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
  CONTEXT_0: 0xa0,
} as const;

const TAG_NAMES: Record<number, string> = Object.fromEntries(Object.entries(TAG).map(([name, tag]) => [tag, name.replace(/_/g, ' ').replace('CONTEXT 0', '[0]')]));

/** One TLV: where its header starts, where its value starts and ends (exclusive). */
export interface DerElement {
  tag: number;
  headerStart: number;
  start: number;
  end: number;
}

/** The longest length field accepted (4 bytes: far beyond anything the gateway reads). */
const MAX_LENGTH_BYTES = 4;
/** Nesting bound for the recursive walk, so hostile input cannot exhaust the stack. */
const MAX_DEPTH = 32;

function tagName(tag: number): string {
  return TAG_NAMES[tag] ?? `tag 0x${tag.toString(16).padStart(2, '0')}`;
}

/** Reads the TLV at `offset`, which must end at or before `limit`. */
export function readElement(der: Buffer, offset: number, limit: number = der.length): DerElement {
  if (offset + 2 > limit) throw new DerError(`truncated: no room for a tag and length at offset ${offset}`);
  const tag = der[offset];
  // High-tag-number form: nothing the gateway reads uses it, and refusing it keeps tags one byte.
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at offset ${offset} is not supported`);
  const first = der[offset + 1];
  let start = offset + 2;
  let length = first;
  if (first === 0x80) throw new DerError(`indefinite length at offset ${offset} is not allowed in DER`);
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n > MAX_LENGTH_BYTES) throw new DerError(`length field of ${n} bytes at offset ${offset} is too long`);
    if (start + n > limit) throw new DerError(`truncated length field at offset ${offset}`);
    if (der[start] === 0) throw new DerError(`non-minimal length at offset ${offset} (leading zero byte)`);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[start + i];
    if (length < 0x80) throw new DerError(`non-minimal length at offset ${offset} (long form for ${length} bytes)`);
    start += n;
  }
  const end = start + length;
  if (end > limit) throw new DerError(`length at offset ${offset} runs past the end (${length} bytes, ${limit - start} available)`);
  return { tag, headerStart: offset, start, end };
}

/** Reads the one TLV `der` consists of: trailing bytes are refused. */
export function readSingle(der: Buffer): DerElement {
  const el = readElement(der, 0);
  if (el.end !== der.length) throw new DerError(`${der.length - el.end} trailing byte(s) after the outer ${tagName(el.tag)}`);
  return el;
}

/** The children of a constructed element, which must fill it exactly. */
export function childrenOf(der: Buffer, el: DerElement): DerElement[] {
  if ((el.tag & 0x20) === 0) throw new DerError(`${tagName(el.tag)} at offset ${el.headerStart} is not constructed`);
  const out: DerElement[] = [];
  for (let at = el.start; at < el.end; ) {
    const child = readElement(der, at, el.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** Fails unless `el` carries `tag`; `what` names the field for the message. */
export function expectTag(el: DerElement | undefined, tag: number, what: string): DerElement {
  if (!el) throw new DerError(`${what}: missing (expected ${tagName(tag)})`);
  if (el.tag !== tag) throw new DerError(`${what}: expected ${tagName(tag)}, found ${tagName(el.tag)} at offset ${el.headerStart}`);
  return el;
}

/** Fails unless a constructed element has exactly `n` children (or between n and max). */
export function expectCount(children: DerElement[], n: number, what: string, max = n): DerElement[] {
  if (children.length < n || children.length > max) {
    throw new DerError(`${what}: expected ${n === max ? n : `${n} to ${max}`} element(s), found ${children.length}`);
  }
  return children;
}

/** The value bytes of an element. */
export function valueOf(der: Buffer, el: DerElement): Buffer {
  return der.subarray(el.start, el.end);
}

/** The whole encoding (header and value) of an element. */
export function encodingOf(der: Buffer, el: DerElement): Buffer {
  return der.subarray(el.headerStart, el.end);
}

/** Decodes an OBJECT IDENTIFIER to dotted form; refuses non-minimal or unterminated sub-identifiers. */
export function readOid(der: Buffer, el: DerElement, what = 'OBJECT IDENTIFIER'): string {
  expectTag(el, TAG.OID, what);
  const v = valueOf(der, el);
  if (v.length === 0) throw new DerError(`${what}: empty`);
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (const b of v) {
    if (fresh && b === 0x80) throw new DerError(`${what}: non-minimal sub-identifier`);
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`${what}: sub-identifier too large`);
    fresh = (b & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0;
    }
  }
  if (!fresh) throw new DerError(`${what}: last sub-identifier is unterminated`);
  const head = arcs[0] < 40 ? [0, arcs[0]] : arcs[0] < 80 ? [1, arcs[0] - 40] : [2, arcs[0] - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

/** The bytes of a BIT STRING that must have no unused bits (signatures, keys). */
export function readBitString(der: Buffer, el: DerElement, what = 'BIT STRING'): Buffer {
  expectTag(el, TAG.BIT_STRING, what);
  const v = valueOf(der, el);
  if (v.length === 0) throw new DerError(`${what}: empty`);
  if (v[0] !== 0) throw new DerError(`${what}: ${v[0]} unused bit(s), expected 0`);
  return v.subarray(1);
}

/**
 * Walks every constructed element under `el` and checks each nested TLV with the
 * same rules, so a non-minimal length deep inside (e.g. in an attribute) is refused too.
 */
export function checkTree(der: Buffer, el: DerElement, depth = 0): void {
  if (depth > MAX_DEPTH) throw new DerError(`nesting deeper than ${MAX_DEPTH} levels`);
  if ((el.tag & 0x20) === 0) return;
  for (const child of childrenOf(der, el)) checkTree(der, child, depth + 1);
}
