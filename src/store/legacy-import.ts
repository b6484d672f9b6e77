import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { errors } from '../errors';
import { fsyncDir } from './atomic-file';
import type { Collection, StoredRecord } from './collection';

/**
 * State files of releases before the storage contract (one JSON document per kind),
 * imported once into their collection. Read and checked before the caller opens the
 * collection (a file that cannot be imported leaves the state dir as it was); see
 * `importLegacyRecords` for the import itself.
 */
export function readLegacyRecords<T>(path: string, what: string, extract: (doc: unknown) => T[]): T[] | undefined {
  try {
    if (!existsSync(path)) return undefined;
    return extract(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    // Renamed by another process that imported it between our look and our read: nothing to do.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw errors.precondition('STATE_CORRUPT', `${path} (${what} of an earlier release) cannot be imported: ${(err as Error).message}`);
  }
}

/**
 * A folder of state files of an earlier release (one JSON document per item, e.g. a
 * transcript per session), read and checked as a whole before anything is imported:
 * a file that cannot be read stops the import with that file named, and nothing is
 * imported. Only names matching `fileName` are read; anything else is left alone.
 */
export function readLegacyFolder<T>(dir: string, what: string, fileName: RegExp, extract: (doc: unknown, name: string) => T): T[] | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw errors.precondition('STATE_CORRUPT', `${dir} (${what} of an earlier release) cannot be read: ${(err as Error).message}`);
  }
  const out: T[] = [];
  for (const name of names.sort()) {
    if (!fileName.test(name)) continue;
    const path = join(dir, name);
    try {
      out.push(extract(JSON.parse(readFileSync(path, 'utf8')), name));
    } catch (err) {
      // The folder was renamed by another process that imported it meanwhile: nothing to do.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(dir)) return undefined;
      throw errors.precondition(
        'STATE_CORRUPT',
        `${path} (${what} of an earlier release) cannot be imported: ${(err as Error).message}; nothing was imported: repair the file or move it out of ${dir}, then start again`,
      );
    }
  }
  return out;
}

/**
 * Puts records into a collection if it is empty (under its lock, so processes starting
 * together import once; a non-empty collection means it was imported). One transaction.
 */
export async function importIntoEmpty<T extends StoredRecord>(collection: Collection<T>, records: readonly T[]): Promise<void> {
  await collection.mutate((tx) => {
    if (tx.list().length === 0) for (const r of records) tx.put(r);
  });
}

/**
 * Renames an imported legacy file or folder `<path>.imported` (`.imported.2`, ... when a
 * folder of that name is there already), once everything it held was committed.
 */
export function markLegacyImported(path: string): void {
  for (let n = 1; ; n++) {
    const target = n === 1 ? `${path}.imported` : `${path}.imported.${n}`;
    try {
      renameSync(path, target);
      fsyncDir(dirname(path));
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // A folder cannot replace a non-empty one (a file replaces a file, as before).
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && n < 100) continue;
      throw err;
    }
  }
}

/**
 * Imports the records of a legacy file into an empty collection (see `importIntoEmpty`),
 * then renames the file `<file>.imported`, only once the import committed.
 */
export async function importLegacyRecords<T extends StoredRecord>(collection: Collection<T>, path: string, records: readonly T[]): Promise<void> {
  await importIntoEmpty(collection, records);
  markLegacyImported(path);
}
