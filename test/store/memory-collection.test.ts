/** The in-memory backend (tests, embedding) passes the same storage contract. */
import { MemoryBackend } from '../../src/store/memory-backend';
import { describeCollectionContract } from './collection-contract';

// One backend per place: two "openers" of a place share it, as two processes share a folder.
const places = new Map<string, MemoryBackend>();
let next = 0;

describeCollectionContract('memory', () => ({
  newPlace: async () => {
    const name = `place-${next++}`;
    places.set(name, new MemoryBackend());
    return name;
  },
  open: async (place) => places.get(place)!,
  remoteChanges: false,
}));
