/**
 * How openclaw-cli writes results: human text (tables from format.ts, colour only on a
 * terminal without NO_COLOR) or, with --json, one JSON document (or one JSON object per
 * line for streams). Commands never write to process.stdout themselves.
 */
import { formatTable } from './format';

/** Where output goes and how it looks. */
export interface OutputOptions {
  json: boolean;
  color: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

type Paint = 'green' | 'red' | 'yellow' | 'dim' | 'bold';
const CODES: Record<Paint, [number, number]> = { green: [32, 39], red: [31, 39], yellow: [33, 39], dim: [2, 22], bold: [1, 22] };

/** Whether colour is wanted: a TTY, NO_COLOR unset and FORCE_COLOR not "0". */
export function colorWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR === '0') return false;
  return Boolean(stream.isTTY);
}

/** The writer every command gets. */
export class Output {
  constructor(private readonly opts: OutputOptions) {}

  get json(): boolean {
    return this.opts.json;
  }

  /** Colours text on a terminal; plain otherwise. */
  paint(style: Paint, text: string): string {
    if (!this.opts.color) return text;
    const [on, off] = CODES[style];
    return `\u001b[${on}m${text}\u001b[${off}m`;
  }

  /** Writes a line (or lines) of human text. */
  line(text = ''): void {
    this.opts.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** Writes raw text without a newline (streamed chat output). */
  raw(text: string): void {
    this.opts.stdout.write(text);
  }

  /** Writes one JSON document, pretty-printed. */
  document(value: unknown): void {
    this.opts.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  /** Writes one compact JSON object on its own line (streams: NDJSON). */
  record(value: unknown): void {
    this.opts.stdout.write(JSON.stringify(value) + '\n');
  }

  /** Prints `json` in --json mode, else the human text `human()` builds. */
  result(json: () => unknown, human: () => string): void {
    if (this.opts.json) this.document(json());
    else this.line(human());
  }

  /** An aligned table, or `empty` when there are no rows. */
  table(headers: string[], rows: string[][], empty: string): string {
    return rows.length === 0 ? empty : formatTable(headers, rows);
  }

  /** "key: value" lines with aligned values. */
  fields(pairs: [string, string][]): string {
    const width = Math.max(0, ...pairs.map(([k]) => k.length)) + 1;
    return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`).join('\n');
  }

  /** A note for humans on stderr (progress, warnings); never in the way of --json on stdout. */
  note(text: string): void {
    this.opts.stderr.write(text.endsWith('\n') ? text : text + '\n');
  }
}

/** An epoch-milliseconds value (number, bigint or numeric string) as ISO time without millis, or "-" for 0. */
export function isoTime(ms: number | bigint | string | undefined): string {
  const n = Number(ms ?? 0);
  if (!n) return '-';
  return new Date(n).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A duration in ms as "850ms", "12s", "5m", "3h 20m", "4d 2h". */
export function humanDuration(ms: number | bigint): string {
  let n = Math.max(0, Number(ms));
  if (n < 1000) return `${Math.round(n)}ms`;
  n = Math.round(n / 1000);
  if (n < 60) return `${n}s`;
  const m = Math.floor(n / 60);
  if (m < 60) return n % 60 ? `${m}m ${n % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}

/** A time relative to `now`: "in 5m", "3h ago", or "-" for 0. */
export function relativeTime(ms: number | bigint, now: number): string {
  const n = Number(ms);
  if (!n) return '-';
  return n >= now ? `in ${humanDuration(n - now)}` : `${humanDuration(now - n)} ago`;
}

/** Shortens a long id for tables (full ids are in --json). */
export function shortId(id: string, n = 12): string {
  return id.length > n ? id.slice(0, n) : id;
}
