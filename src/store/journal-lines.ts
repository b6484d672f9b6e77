import { errors } from '../errors';
import type { StoredRecord } from './collection';

/**
 * The lines of a journal (format: README.md): one JSON object per line, a committed
 * transaction (`put` records, `del` ids) or, as the first line after compaction, a
 * snapshot of every record. Reading them back tells a usable line from a damaged one.
 */

/** Journal format version, in every line. */
export const FORMAT = 1;

/** One line as written. */
export interface JournalLine {
  v: number;
  snapshot?: boolean;
  put?: unknown[];
  del?: string[];
}

/** A line read back, its records checked by the collection's validator. */
export interface ReadLine<T> {
  snapshot: boolean;
  put: T[];
  del: string[];
}

/** A line that cannot be read back (not JSON, or not a journal line), and the record ids it still shows. */
export interface DamagedLine {
  /** 1-based. */
  line: number;
  problem: string;
  /** Ids of records the line put or deleted, as far as they can be made out in what is left. */
  ids: string[];
}

/** The text of one line (with its newline). */
export function lineText(line: JournalLine): string {
  return JSON.stringify(line) + '\n';
}

/** The text of a journal holding one snapshot line of `records`. */
export function snapshotText(records: Iterable<StoredRecord>): string {
  return lineText({ v: FORMAT, snapshot: true, put: [...records] });
}

/** Whether the (damaged) text of a first line still shows it was a snapshot (`{"v":1,"snapshot":true,...`). */
export function looksLikeSnapshot(text: string): boolean {
  return text.slice(0, 40).includes('"snapshot":true');
}

/**
 * Reads one line. A damaged line (cut, garbled, not a journal line) is returned as
 * such; a well-formed line holding a record the validator refuses, or written by a
 * newer release, is not damage: that throws STATE_CORRUPT naming the file and line
 * (a record broken by hand or another version's state must not be dropped silently).
 */
export function readLine<T extends StoredRecord>(text: string, lineNo: number, file: string, name: string, validate: (raw: unknown) => T): ReadLine<T> | DamagedLine {
  let parsed: JournalLine;
  try {
    parsed = JSON.parse(text) as JournalLine;
  } catch (err) {
    return { line: lineNo, problem: (err as Error).message, ids: idsMentioned(text) };
  }
  if (parsed && typeof parsed === 'object' && typeof parsed.v === 'number' && parsed.v > FORMAT) {
    throw errors.precondition('STATE_CORRUPT', `${file} line ${lineNo} was written by a newer release (format ${parsed.v}); run that release, or restore this file from a backup`);
  }
  const wellFormed =
    parsed &&
    typeof parsed === 'object' &&
    !Array.isArray(parsed) &&
    parsed.v === FORMAT &&
    (parsed.put === undefined || Array.isArray(parsed.put)) &&
    (parsed.del === undefined || (Array.isArray(parsed.del) && parsed.del.every((id) => typeof id === 'string')));
  if (!wellFormed) return { line: lineNo, problem: `not a journal line of format ${FORMAT}`, ids: idsMentioned(text) };
  const put: T[] = [];
  for (const raw of parsed.put ?? []) {
    try {
      put.push(validate(raw));
    } catch (err) {
      throw errors.precondition('STATE_CORRUPT', `${file} line ${lineNo} holds an invalid ${name} record: ${(err as Error).message}`);
    }
  }
  return { snapshot: parsed.snapshot === true, put, del: parsed.del ?? [] };
}

/** Whether `readLine` found the line damaged. */
export function isDamaged<T>(r: ReadLine<T> | DamagedLine): r is DamagedLine {
  return 'problem' in r;
}

/** Applies a line to records (a snapshot replaces them all), adding the ids it changed to `changed`. */
export function applyLine<T extends StoredRecord>(records: Map<string, T>, line: ReadLine<T>, changed?: Set<string>): void {
  if (line.snapshot) {
    records.clear();
    changed?.clear();
  }
  for (const r of line.put) {
    records.set(r.id, r);
    changed?.add(r.id);
  }
  for (const id of line.del) {
    records.delete(id);
    changed?.add(id);
  }
}

/** What replaying a journal's text gave: the records of every intact line, in order, and the lines skipped. */
export interface Replayed<T> {
  records: Map<string, T>;
  /** Complete lines (ending with a newline) read, damaged ones included. */
  lines: number;
  damaged: DamagedLine[];
  /** The first line's text (to tell a damaged snapshot), '' for an empty journal. */
  firstLine: string;
}

/**
 * Replays every complete line of a journal's text onto `base` (a copy is made), skipping
 * damaged lines; a last line without its newline (a write a crash cut short, never
 * acknowledged) is ignored.
 */
export function replayText<T extends StoredRecord>(text: string, file: string, name: string, validate: (raw: unknown) => T, base?: ReadonlyMap<string, T>): Replayed<T> {
  const records = new Map(base ?? []);
  const damaged: DamagedLine[] = [];
  let lines = 0;
  let firstLine = '';
  for (let pos = 0; ; ) {
    const nl = text.indexOf('\n', pos);
    if (nl < 0) break;
    const line = text.slice(pos, nl);
    lines++;
    if (lines === 1) firstLine = line;
    const read = readLine(line, lines, file, name, validate);
    if (isDamaged(read)) damaged.push(read);
    else applyLine(records, read);
    pos = nl + 1;
  }
  return { records, lines, damaged, firstLine };
}

/** Record ids still legible in a damaged line: `"id":"..."` of put records and the strings of a `"del":[...]`. */
function idsMentioned(text: string): string[] {
  const ids = new Set<string>();
  for (const m of text.matchAll(/"id":("(?:[^"\\]|\\.)*")/g)) addJsonString(ids, m[1]);
  const del = /"del":\[((?:"(?:[^"\\]|\\.)*",?)*)\]/.exec(text);
  if (del) for (const m of del[1].matchAll(/"(?:[^"\\]|\\.)*"/g)) addJsonString(ids, m[0]);
  return [...ids];
}

function addJsonString(into: Set<string>, literal: string): void {
  try {
    const s = JSON.parse(literal) as unknown;
    if (typeof s === 'string' && s.length > 0) into.add(s);
  } catch {
    /* not legible */
  }
}
