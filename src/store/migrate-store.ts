import type { Collection, StoredRecord } from './collection';

/** One collection's part of a copy between backends. */
export interface CopiedCollection {
  name: string;
  /** Records in the source. */
  records: number;
  /** Records written to the target (new or different there). */
  written: number;
}

/**
 * Copies a collection to another backend (files -> PostgreSQL when a gateway moves to
 * replicas): every record in one transaction; records already equal in the target are
 * left alone, so running it again writes nothing. Then reads the target back and checks
 * that every source record is there, unchanged.
 */
export async function copyCollection<T extends StoredRecord>(source: Collection<T>, target: Collection<T>): Promise<CopiedCollection> {
  const records = source.list();
  const written = await target.mutate((tx) => {
    let n = 0;
    for (const r of records) {
      if (JSON.stringify(tx.get(r.id)) === JSON.stringify(r)) continue;
      tx.put(r);
      n++;
    }
    return n;
  });
  await target.refresh();
  const differing = records.filter((r) => JSON.stringify(target.get(r.id)) !== JSON.stringify(r)).map((r) => r.id);
  if (differing.length > 0) throw new Error(`verification of ${source.name} failed: ${differing.length} record(s) differ in the target (first: ${differing[0]})`);
  return { name: source.name, records: records.length, written };
}
