/** Parsing of command-line values; failures are INVALID_ARGUMENT (exit code 2) naming the option. */
import { errors } from '../errors';

/** Splits "a,b , c" into ["a","b","c"]. */
export function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A whole number >= 0, or undefined when the option was not given. */
export function wholeNumber(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) throw errors.invalid('BAD_NUMBER', `${name}: "${value}" is not a whole number`);
  return n;
}

/** Parses "30s", "5m", "1h", "2d", "1500ms" or a bare number of seconds into milliseconds. */
export function parseDuration(value: string, name: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value);
  if (!m) throw errors.invalid('BAD_DURATION', `${name}: "${value}" is not a duration (use e.g. 30s, 5m, 1h, 2d)`);
  const unit = (m[2] ?? 's').toLowerCase();
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000;
  const ms = Math.round(Number(m[1]) * factor);
  if (ms <= 0) throw errors.invalid('BAD_DURATION', `${name}: "${value}" must be more than zero`);
  return ms;
}
