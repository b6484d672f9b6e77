import { errors } from '../errors';
import type { StoreBackend, StoredRecord } from './collection';

/** What the store remembers about the CA its devices belong to. */
interface CaRecord extends StoredRecord {
  id: 'ca';
  fingerprint: string;
  trustDomain: string;
}

function validateCa(raw: unknown): CaRecord {
  const r = raw as CaRecord;
  if (!r || r.id !== 'ca' || typeof r.fingerprint !== 'string' || typeof r.trustDomain !== 'string') throw new Error('expected the CA record');
  return r;
}

/**
 * Binds a store to one CA: the first gateway (or certs-tools) to use the store records
 * its CA; any later one whose CA differs is refused with one line. Without this, a
 * replica started on an empty state dir would make a CA of its own and every device in
 * the shared database would fail against it.
 */
export async function bindStoreToCa(store: StoreBackend, ca: { fingerprint: string; trustDomain: string }): Promise<void> {
  const gateway = await store.collection('gateway', validateCa);
  const bound = await gateway.mutate((tx) => {
    const known = tx.get('ca');
    if (!known) tx.put({ id: 'ca', fingerprint: ca.fingerprint, trustDomain: ca.trustDomain });
    return known;
  });
  if (bound && bound.fingerprint !== ca.fingerprint) {
    throw errors.precondition(
      'CA_MISMATCH',
      `the devices in this store belong to the CA SHA256:${bound.fingerprint} (trust domain ${bound.trustDomain}), not to this state dir's CA SHA256:${ca.fingerprint}; give every replica (and certs-tools) the same CA folder`,
    );
  }
}
