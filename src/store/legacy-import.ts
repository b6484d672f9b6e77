import { existsSync, readFileSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
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
 * Imports the records of a legacy file into an empty collection (under its lock, so
 * processes starting together import it once; a non-empty collection means it was
 * imported), then renames the file `<file>.imported`, only once the import committed.
 */
export async function importLegacyRecords<T extends StoredRecord>(collection: Collection<T>, path: string, records: readonly T[]): Promise<void> {
  await collection.mutate((tx) => {
    if (tx.list().length === 0) for (const r of records) tx.put(r);
  });
  try {
    renameSync(path, `${path}.imported`);
    fsyncDir(dirname(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
