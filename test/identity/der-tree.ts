/**
 * A test-only DER tree codec, written independently of src/identity/der.ts so tests
 * can take a real CSR apart, change one field (a tag, a length form, an algorithm)
 * and put it back together with every enclosing length fixed up.
 */

/** One node: its tag, and either children (constructed) or raw content bytes. */
export interface DerNode {
  tag: number;
  children?: DerNode[];
  content?: Buffer;
  /** How to write this node's length: minimal DER (default), or a deliberately bad form. */
  lengthForm?: 'der' | 'long' | 'leading-zero' | 'indefinite';
}

/** Decodes well-formed DER (definite, minimal lengths) into a tree. */
export function decodeDer(buf: Buffer): DerNode {
  const read = (at: number): { node: DerNode; next: number } => {
    const tag = buf[at];
    let len = buf[at + 1];
    let start = at + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[start + i];
      start += n;
    }
    const end = start + len;
    if (end > buf.length) throw new Error('test DER decoder: length past end');
    if (tag & 0x20) {
      const children: DerNode[] = [];
      for (let p = start; p < end; ) {
        const c = read(p);
        children.push(c.node);
        p = c.next;
      }
      return { node: { tag, children }, next: end };
    }
    return { node: { tag, content: Buffer.from(buf.subarray(start, end)) }, next: end };
  };
  const { node, next } = read(0);
  if (next !== buf.length) throw new Error('test DER decoder: trailing bytes');
  return node;
}

function lengthBytes(n: number, form: DerNode['lengthForm']): Buffer {
  const big: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) big.unshift(v & 0xff);
  if (big.length === 0) big.push(0);
  if (form === 'long') return Buffer.from([0x80 | big.length, ...big]);
  if (form === 'leading-zero') return Buffer.from([0x80 | (big.length + 1), 0, ...big]);
  if (n < 0x80) return Buffer.from([n]);
  return Buffer.from([0x80 | big.length, ...big]);
}

/** Encodes a tree back to bytes, honouring each node's lengthForm. */
export function encodeDer(node: DerNode): Buffer {
  const body = node.children ? Buffer.concat(node.children.map(encodeDer)) : (node.content ?? Buffer.alloc(0));
  if (node.lengthForm === 'indefinite') return Buffer.concat([Buffer.from([node.tag, 0x80]), body, Buffer.from([0, 0])]);
  return Buffer.concat([Buffer.from([node.tag]), lengthBytes(body.length, node.lengthForm), body]);
}

/** The node at a path of child indexes (e.g. [0, 2] = the SPKI inside the CertificationRequestInfo). */
export function nodeAt(root: DerNode, path: number[]): DerNode {
  let n = root;
  for (const i of path) {
    if (!n.children?.[i]) throw new Error(`test DER tree: no child ${i} on path ${path.join('.')}`);
    n = n.children[i];
  }
  return n;
}

/** PEM body -> DER. */
export function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** DER -> PEM with the given label. */
export function toPem(der: Buffer, label = 'CERTIFICATE REQUEST'): string {
  const b64 = der.toString('base64').match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** DER of an OBJECT IDENTIFIER in dotted form (test-side encoder). */
export function oidNode(dotted: string): DerNode {
  const arcs = dotted.split('.').map(Number);
  const bytes: number[] = [];
  const push = (v: number) => {
    const groups: number[] = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  };
  push(arcs[0] * 40 + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return { tag: 0x06, content: Buffer.from(bytes) };
}
