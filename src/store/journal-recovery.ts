import { readFileSync } from 'node:fs';
import { errors } from '../errors';
import { audit, type Logger } from '../logging';
import { writeFileAtomicSync } from './atomic-file';
import type { StoredRecord } from './collection';
import { distinctPreviousGeneration, keepDamaged, previousGenerationPath } from './journal-generations';
import { looksLikeSnapshot, replayText, snapshotText, type DamagedLine, type Replayed } from './journal-lines';

/** At most this many record ids are named in the log and audit lines of one recovery. */
const MAX_IDS_NAMED = 100;

/** What a recovery needs to know of its collection. */
export interface JournalRecoveryInput<T extends StoredRecord> {
  /** The journal file. */
  path: string;
  /** The collection's name. */
  name: string;
  validate: (raw: unknown) => T;
  log: Logger;
}

/**
 * Rebuilds a journal that has damaged lines; to be called holding the collection's
 * write lock. Every intact line is replayed in order (when the first line, the
 * snapshot, is damaged, the replay starts from the previous generation instead); the
 * damaged file is kept as `<journal>.damaged-<time>`; the records replayed become the
 * new journal (one snapshot line, also written as the previous generation); a warning
 * and a `store.recovered` audit line say what was recovered and which records may have
 * lost a change. Returns false when the journal is not damaged (any more: another
 * process recovered it first). When nothing can be recovered (a damaged snapshot and no
 * usable previous generation), nothing is changed: FAILED_PRECONDITION STATE_CORRUPT
 * naming the file and what to do, and a `store.recovery.refused` audit line.
 */
export function recoverJournal<T extends StoredRecord>(input: JournalRecoveryInput<T>): boolean {
  const { path, name, validate, log } = input;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const current = replayText(text, path, name, validate);
  if (current.damaged.length === 0) return false;

  const previous = distinctPreviousGeneration(path);
  const snapshotDamaged = current.damaged[0].line === 1 && (previous !== undefined || looksLikeSnapshot(current.firstLine));
  let rebuilt: Replayed<T> = current;
  let earlier: Replayed<T> | undefined;
  if (snapshotDamaged) {
    const refused = (why: string, todo: string): never => {
      audit(log, 'store.recovery.refused', { collection: name, file: path, reason: why });
      throw errors.precondition('STATE_CORRUPT', `${path} line 1 (the snapshot of every record) is damaged and ${why}; ${todo}`);
    };
    if (!previous) return refused('there is no earlier generation to rebuild it from', `restore ${path} from a backup, or move it away to start the ${name} collection empty`);
    earlier = replayText(readFileSync(previous, 'utf8'), previous, name, validate);
    if (earlier.damaged[0]?.line === 1) return refused(`so is the first line of its earlier generation ${previous}`, `restore ${path} from a backup, or move it and ${previous} away to start the ${name} collection empty`);
    rebuilt = replayText(text, path, name, validate, earlier.records);
  }

  const at = new Date();
  const keptAs = keepDamaged(path, at);
  const earlierKeptAs = earlier && earlier.damaged.length > 0 ? keepDamaged(previous!, at) : undefined;
  const snapshot = snapshotText(rebuilt.records.values());
  // The previous generation first: a crash before the journal is replaced leaves the
  // damaged journal, recovered again at the next open to the same records.
  writeFileAtomicSync(previousGenerationPath(path), snapshot, 0o600);
  writeFileAtomicSync(path, snapshot, 0o600);

  // Lines whose changes are gone: every damaged one, except a snapshot rebuilt from the earlier generation.
  const lost: DamagedLine[] = [...(snapshotDamaged ? current.damaged.slice(1) : current.damaged), ...(earlier?.damaged ?? [])];
  const ids = [...new Set(lost.flatMap((d) => d.ids))];
  const fields = {
    collection: name,
    file: path,
    keptAs,
    damagedLines: current.damaged.map((d) => d.line),
    snapshotRebuiltFrom: snapshotDamaged ? previous : undefined,
    earlierGenerationDamagedLines: earlierKeptAs ? earlier!.damaged.map((d) => d.line) : undefined,
    earlierGenerationKeptAs: earlierKeptAs,
    intactLines: current.lines - current.damaged.length,
    records: rebuilt.records.size,
    mayHaveLost: ids.slice(0, MAX_IDS_NAMED),
    mayHaveLostCount: ids.length,
  };
  const lostText =
    lost.length === 0 ? 'nothing was lost' : `the changes of ${lost.length} damaged line(s) are lost (${ids.length > 0 ? `records that may have lost a change: ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''}` : 'no record id legible'})`;
  log.warn(
    fields,
    `recovered the damaged journal of ${name}: ${rebuilt.records.size} records from every intact line${snapshotDamaged ? `, the snapshot rebuilt from ${previous}` : ''}; damaged line(s) ${fields.damagedLines.join(', ')}: ${lostText}; the damaged file is kept as ${keptAs}`,
  );
  audit(log, 'store.recovered', fields);
  return true;
}
