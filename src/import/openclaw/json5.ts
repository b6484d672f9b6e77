/**
 * A JSON5 reader (https://spec.json5.org): what OpenClaw accepts in `openclaw.json`
 * (comments, trailing commas, unquoted keys, single-quoted and multi-line strings, hex
 * numbers, leading or trailing decimal points, +/-Infinity, NaN). Plain JSON is JSON5.
 * Errors name the line and column.
 */
export function parseJson5(text: string): unknown {
  let i = 0;
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;

  const fail = (message: string): never => {
    const before = src.slice(0, i);
    const line = before.split('\n').length;
    const col = i - before.lastIndexOf('\n');
    throw new SyntaxError(`${message} at line ${line} column ${col}`);
  };

  const skip = (): void => {
    for (;;) {
      const c = src[i];
      if (c === undefined) return;
      if (/[\s\u00a0\u2028\u2029\ufeff]/.test(c)) i++;
      else if (c === '/' && src[i + 1] === '/') {
        while (i < src.length && src[i] !== '\n' && src[i] !== '\r') i++;
      } else if (c === '/' && src[i + 1] === '*') {
        const end = src.indexOf('*/', i + 2);
        if (end < 0) fail('unterminated comment');
        i = end + 2;
      } else return;
    }
  };

  const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '0': '\0' };
  const string = (): string => {
    const quote = src[i++];
    let out = '';
    for (;;) {
      const c = src[i++];
      if (c === undefined) fail('unterminated string');
      if (c === quote) return out;
      if (c === '\n' || c === '\r') fail('line break in a string');
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = src[i++];
      if (e === undefined) fail('unterminated string');
      if (e in ESCAPES && !(e === '0' && /[0-9]/.test(src[i] ?? ''))) out += ESCAPES[e];
      else if (e === 'x' || e === 'u') {
        const n = e === 'x' ? 2 : 4;
        const hex = src.slice(i, i + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) fail('bad escape');
        out += String.fromCharCode(parseInt(hex, 16));
        i += n;
      } else if (e === '\r') {
        if (src[i] === '\n') i++;
      } else if (e === '\n' || e === '\u2028' || e === '\u2029') {
        // line continuation
      } else if (/[1-9]/.test(e)) fail('bad escape');
      else out += e;
    }
  };

  const identifier = (): string => {
    const m = /^[A-Za-z_$\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(src.slice(i));
    if (!m) fail('expected a key');
    i += m![0].length;
    return m![0];
  };

  const number = (): number => {
    const m = /^[+-]?(Infinity|NaN|0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)/.exec(src.slice(i));
    if (!m) fail(`unexpected character ${JSON.stringify(src[i])}`);
    i += m![0].length;
    const t = m![0];
    const sign = t.startsWith('-') ? -1 : 1;
    const body = t.replace(/^[+-]/, '');
    if (body === 'Infinity') return sign * Infinity;
    if (body === 'NaN') return NaN;
    if (/^0[xX]/.test(body)) return sign * parseInt(body.slice(2), 16);
    return sign * Number(body);
  };

  const value = (depth: number): unknown => {
    if (depth > 200) fail('nested too deeply');
    skip();
    const c = src[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      skip();
      while (src[i] !== '}') {
        const key = src[i] === '"' || src[i] === "'" ? string() : identifier();
        skip();
        if (src[i++] !== ':') fail('expected ":"');
        const v = value(depth + 1);
        Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        skip();
        if (src[i] === ',') {
          i++;
          skip();
        } else if (src[i] !== '}') fail('expected "," or "}"');
      }
      i++;
      return obj;
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      skip();
      while (src[i] !== ']') {
        arr.push(value(depth + 1));
        skip();
        if (src[i] === ',') {
          i++;
          skip();
        } else if (src[i] !== ']') fail('expected "," or "]"');
      }
      i++;
      return arr;
    }
    if (c === '"' || c === "'") return string();
    if (src.startsWith('true', i)) return (i += 4), true;
    if (src.startsWith('false', i)) return (i += 5), false;
    if (src.startsWith('null', i)) return (i += 4), null;
    if (c === undefined) fail('unexpected end of input');
    return number();
  };

  const result = value(0);
  skip();
  if (i < src.length) fail('unexpected text after the value');
  return result;
}
