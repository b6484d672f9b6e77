import { legacyErrors } from '../legacy-errors';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Typed reads of a legacy method's params with the legacy error for bad input
 * (`INVALID_REQUEST "invalid <method> params: ..."`). Fields a method does not use
 * are ignored: only request frames and connect params have closed schemas.
 */
export class Params {
  private constructor(
    readonly method: string,
    private readonly raw: Record<string, unknown>,
  ) {}

  /** Params of a request: absent or null means `{}`; anything but an object is refused. */
  static of(method: string, params: unknown): Params {
    if (params === undefined || params === null) return new Params(method, {});
    if (!isPlainObject(params)) throw legacyErrors.invalidParams(method, 'params must be an object');
    return new Params(method, params);
  }

  /** Throws the legacy invalid-params error for this method. */
  fail(problem: string): never {
    throw legacyErrors.invalidParams(this.method, problem);
  }

  /** The first of `names` that is present, as a raw value. */
  private pick(names: readonly string[]): { name: string; value: unknown } | undefined {
    for (const name of names) if (this.raw[name] !== undefined && this.raw[name] !== null) return { name, value: this.raw[name] };
    return undefined;
  }

  /** An optional string (first present of the given names); empty strings count as absent. */
  str(...names: string[]): string | undefined {
    const f = this.pick(names);
    if (!f) return undefined;
    if (typeof f.value !== 'string') this.fail(`${f.name} must be a string`);
    return f.value === '' ? undefined : f.value;
  }

  /** An optional string that must be one of `allowed`. */
  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const v = this.str(name);
    if (v !== undefined && !(allowed as readonly string[]).includes(v)) this.fail(`${name} must be ${allowed.map((a) => `"${a}"`).join(' or ')}`);
    return v as T | undefined;
  }

  /** A required non-empty string. */
  need(...names: string[]): string {
    return this.str(...names) ?? this.fail(`${names[0]} is required`);
  }

  /** An optional integer within bounds. */
  int(name: string, min: number, max: number): number | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) this.fail(`${name} must be an integer from ${min} to ${max}`);
    return v;
  }

  /** An optional boolean. */
  bool(name: string): boolean | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') this.fail(`${name} must be a boolean`);
    return v;
  }

  /** An optional object. */
  obj(name: string): Record<string, unknown> | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    if (!isPlainObject(v)) this.fail(`${name} must be an object`);
    return v;
  }

  /** An optional list of strings. */
  strings(name: string): string[] | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) this.fail(`${name} must be a list of strings`);
    return v as string[];
  }

  /** A nested object read with the same rules (errors name the nested field). */
  nested(name: string, required = false): Params | undefined {
    const o = this.obj(name);
    if (!o) return required ? this.fail(`${name} is required`) : undefined;
    return new Params(this.method, o);
  }

  /** Whether a field is present. */
  has(name: string): boolean {
    return this.raw[name] !== undefined && this.raw[name] !== null;
  }

  /** A raw field value. */
  get(name: string): unknown {
    return this.raw[name];
  }
}

/** Milliseconds from a proto int64. */
export function ms(v: bigint): number {
  return Number(v);
}

/** Milliseconds from a proto int64, `undefined` for 0 ("none"). */
export function msOrUndefined(v: bigint): number | undefined {
  return v === 0n ? undefined : Number(v);
}

/** A client's value quoted in an error message, cut to `max` characters (an answer never echoes an unbounded input). */
export function quoted(value: string, max = 64): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}
