/**
 * The storage contract as tests, run against every backend (files, PostgreSQL): what a
 * service may rely on whichever backend holds its records.
 */
import type { Collection, StoreBackend, StoredRecord } from '../../src/store/collection';
import { eventually } from '../helpers/eventually';

/** The record used by the contract tests. */
export interface Item extends StoredRecord {
  n: number;
  tags?: string[];
  text?: string;
}

/** Checks what a collection reads back. */
export function validateItem(raw: unknown): Item {
  const r = raw as Item;
  if (!r || typeof r !== 'object' || typeof r.id !== 'string' || typeof r.n !== 'number') throw new Error('expected { id: string, n: number }');
  return r;
}

/** How a test gets a backend: a fresh, empty one each call; two calls on the same `place` share state (two processes/replicas). */
export interface BackendFactory {
  /** A new, empty place (a folder, a database). */
  newPlace(): Promise<string>;
  /** A backend over `place`, as one process (or replica) would open it. */
  open(place: string): Promise<StoreBackend>;
  /** False for a backend that lives in one process only (nothing can change it from elsewhere). */
  remoteChanges?: boolean;
}

/** Registers the contract tests for one backend. */
export function describeCollectionContract(label: string, factory: () => BackendFactory): void {
  describe(`storage contract: ${label}`, () => {
    const opened: StoreBackend[] = [];
    const open = async (place: string) => {
      const b = await factory().open(place);
      opened.push(b);
      return b;
    };
    const fresh = async (name = 'items'): Promise<{ place: string; c: Collection<Item> }> => {
      const place = await factory().newPlace();
      const c = await (await open(place)).collection(name, validateItem);
      return { place, c };
    };
    afterAll(async () => {
      for (const b of opened) await b.close();
    });

    test('an empty collection reads nothing', async () => {
      const { c } = await fresh();
      expect(c.get('x')).toBeUndefined();
      expect(c.list()).toEqual([]);
    });

    test('put, get, list, delete; a transaction reads its own staged changes', async () => {
      const { c } = await fresh();
      const seen = await c.mutate((tx) => {
        tx.put({ id: 'a', n: 1, tags: ['x'] });
        tx.put({ id: 'b', n: 2 });
        const mid = tx.list().map((r) => r.id).sort();
        tx.delete('b');
        return { mid, a: tx.get('a'), b: tx.get('b') };
      });
      expect(seen).toEqual({ mid: ['a', 'b'], a: { id: 'a', n: 1, tags: ['x'] }, b: undefined });
      expect(c.get('a')).toEqual({ id: 'a', n: 1, tags: ['x'] });
      expect(c.get('b')).toBeUndefined();
      expect(c.list()).toEqual([{ id: 'a', n: 1, tags: ['x'] }]);
      expect(await c.mutate((tx) => tx.delete('a'))).toBe(true);
      expect(await c.mutate((tx) => tx.delete('a'))).toBe(false);
      expect(c.list()).toEqual([]);
    });

    test('a transaction lists only the records a filter accepts, staged changes applied, copied out', async () => {
      const { c } = await fresh();
      await c.mutate((tx) => {
        for (let i = 0; i < 6; i++) tx.put({ id: `r${i}`, n: i % 3, tags: [`t${i}`] });
      });
      const seen = await c.mutate((tx) => {
        tx.put({ id: 'r6', n: 1 });
        tx.delete('r1');
        tx.put({ id: 'r2', n: 0 });
        // Committed with n 0, staged with n 1: the filter sees the staged version.
        tx.put({ id: 'r0', n: 1 });
        const ones = tx.list((r) => r.n === 1);
        // What the filter returned is a copy: changing it changes neither the committed nor the staged record.
        for (const r of ones) r.tags = ['changed'];
        return { ones: ones.map((r) => r.id).sort(), none: tx.list(() => false) };
      });
      expect(seen).toEqual({ ones: ['r0', 'r4', 'r6'], none: [] });
      expect(c.get('r4')).toEqual({ id: 'r4', n: 1, tags: ['t4'] });
      expect(c.get('r6')).toEqual({ id: 'r6', n: 1 });
      expect(c.get('r0')).toEqual({ id: 'r0', n: 1 });
    });

    test('records round-trip as JSON: unicode, nested values, large text', async () => {
      const { c } = await fresh();
      const big = 'x'.repeat(200_000);
      const rec = { id: 'ünï-😀', n: -1.5, tags: ['a\nb', '"q"', '\u0000nul'], text: big };
      await c.mutate((tx) => tx.put(rec));
      expect(c.get('ünï-😀')).toEqual(rec);
    });

    test('what a reader holds cannot change the stored record, nor can what a writer staged', async () => {
      const { c } = await fresh();
      const mine = { id: 'm', n: 1, tags: ['keep'] };
      await c.mutate((tx) => tx.put(mine));
      mine.tags.push('changed-after-put');
      const got = c.get('m')!;
      got.tags!.push('changed-by-reader');
      expect(c.get('m')).toEqual({ id: 'm', n: 1, tags: ['keep'] });
    });

    test('a transaction that throws writes nothing and passes the error on', async () => {
      const { c } = await fresh();
      await c.mutate((tx) => tx.put({ id: 'k', n: 1 }));
      await expect(
        c.mutate((tx) => {
          tx.put({ id: 'k', n: 2 });
          tx.put({ id: 'new', n: 3 });
          throw new Error('refused by the service');
        }),
      ).rejects.toThrow('refused by the service');
      expect(c.list()).toEqual([{ id: 'k', n: 1 }]);
    });

    test('a record the collection could not read back is refused at write time; nothing of the transaction is kept', async () => {
      const { c } = await fresh();
      await expect(
        c.mutate((tx) => {
          tx.put({ id: 'fine', n: 1 });
          tx.put({ id: 'bad', n: 'not a number' } as unknown as Item);
        }),
      ).rejects.toThrow(/expected/);
      expect(c.list()).toEqual([]);
      await c.refresh();
      expect(c.list()).toEqual([]);
      await c.mutate((tx) => tx.put({ id: 'after', n: 2 }));
      expect(c.list()).toEqual([{ id: 'after', n: 2 }]);
    });

    test('a record without an id is refused', async () => {
      const { c } = await fresh();
      await expect(c.mutate((tx) => tx.put({ n: 1 } as unknown as Item))).rejects.toThrow(/id/);
      expect(c.list()).toEqual([]);
    });

    test('concurrent read-modify-write transactions never lose an update', async () => {
      const { c } = await fresh();
      await c.mutate((tx) => tx.put({ id: 'counter', n: 0 }));
      await Promise.all(Array.from({ length: 40 }, () => c.mutate((tx) => tx.put({ id: 'counter', n: tx.get('counter')!.n + 1 }))));
      expect(c.get('counter')!.n).toBe(40);
    });

    test('two openers of one place (processes, replicas) see each other\'s commits and never lose an update', async () => {
      const { place, c } = await fresh();
      const other = await (await open(place)).collection('items', validateItem);
      await c.mutate((tx) => tx.put({ id: 'shared', n: 0 }));
      await other.refresh();
      expect(other.get('shared')).toEqual({ id: 'shared', n: 0 });
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? c : other).mutate((tx) => tx.put({ id: 'shared', n: tx.get('shared')!.n + 1 }))),
      );
      await c.refresh();
      await other.refresh();
      expect(c.get('shared')!.n).toBe(30);
      expect(other.get('shared')!.n).toBe(30);
    });

    (factory().remoteChanges === false ? test.skip : test)('subscribers hear about local and remote changes, with the ids', async () => {
      const { place, c } = await fresh();
      const other = await (await open(place)).collection('items', validateItem);
      const heard: { ids?: readonly string[]; local: boolean }[] = [];
      const remote = new Promise<void>((resolve) => {
        c.subscribe((ch) => {
          heard.push(ch);
          if (!ch.local) resolve();
        });
      });
      await c.mutate((tx) => tx.put({ id: 'here', n: 1 }));
      await other.mutate((tx) => tx.put({ id: 'there', n: 2 }));
      await remote;
      expect(heard[0]).toEqual({ ids: ['here'], local: true });
      const fromOther = heard.find((h) => !h.local)!;
      // A backend may also say "reload" (no ids) instead of naming them.
      if (fromOther.ids) expect(fromOther.ids).toContain('there');
      expect(c.get('there')).toEqual({ id: 'there', n: 2 });
    });

    (factory().remoteChanges === false ? test.skip : test)('a remote change is announced even when a read or a write (even a failed one) of this opener took it in first', async () => {
      const { place, c } = await fresh();
      const other = await (await open(place)).collection('items', validateItem);
      const heard = new Set<string>();
      let allHeard!: () => void;
      const done = new Promise<void>((resolve) => (allHeard = resolve));
      c.subscribe((ch) => {
        if (ch.local) return;
        for (const id of ch.ids ?? c.list().map((r) => r.id)) heard.add(id);
        if (heard.has('seen-by-a-read') && heard.has('seen-by-a-write') && heard.has('seen-by-a-failed-write')) allHeard();
      });
      await other.mutate((tx) => tx.put({ id: 'seen-by-a-read', n: 1 }));
      c.get('seen-by-a-read');
      await other.mutate((tx) => tx.put({ id: 'seen-by-a-write', n: 2 }));
      await c.mutate((tx) => tx.put({ id: 'mine', n: 3 }));
      await other.mutate((tx) => tx.put({ id: 'seen-by-a-failed-write', n: 4 }));
      await expect(
        c.mutate((tx) => {
          if (!tx.get('seen-by-a-failed-write')) throw new Error('the transaction did not see the committed state');
          throw new Error('refused by the service');
        }),
      ).rejects.toThrow('refused by the service');
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<'missed'>((resolve) => (timer = setTimeout(() => resolve('missed'), 5000)));
      expect(await Promise.race([done.then(() => 'heard' as const), limit])).toBe('heard');
      clearTimeout(timer);
    });

    test('events staged in a transaction are in the store\'s event log when it resolves, in order; none when it throws', async () => {
      const place = await factory().newPlace();
      const b = await open(place);
      const c = await b.collection('items', validateItem);
      const log = await b.eventLog();
      const event = (id: string) => ({ id, type: 'items.changed', ts: 1_000_000, payloadJson: JSON.stringify({ id }), origin: 'test' });
      const seen: string[] = [];
      log.tail({ events: (batch) => seen.push(...batch.map((e) => e.id)), lost: () => undefined });
      await expect(
        c.mutate((tx) => {
          tx.put({ id: 'x', n: 1 });
          tx.stageEvent(event('refused'));
          throw new Error('refused by the service');
        }),
      ).rejects.toThrow('refused by the service');
      await c.mutate((tx) => {
        tx.put({ id: 'a', n: 1 });
        tx.stageEvent(event('a-1'));
        tx.stageEvent(event('a-2'));
      });
      // Read at once, with nothing else waited for: committed together with the record.
      const page = await log.read(0, 100);
      expect(page.events.map((e) => [e.seq, e.id, e.type, e.payloadJson])).toEqual([
        [1, 'a-1', 'items.changed', '{"id":"a-1"}'],
        [2, 'a-2', 'items.changed', '{"id":"a-2"}'],
      ]);
      // A transaction that stages events only (no record) stores them too.
      await c.mutate((tx) => tx.stageEvent(event('b')));
      expect((await log.read(2, 100)).events.map((e) => e.id)).toEqual(['b']);
      await eventually('this process\'s tail got them', () => seen.length === 3);
      expect(seen).toEqual(['a-1', 'a-2', 'b']);
      expect(c.get('x')).toBeUndefined();
      await expect(c.mutate((tx) => tx.stageEvent({ ...event('bad'), id: '' }))).rejects.toThrow(/needs an id/);
    });

    test('collections are separate', async () => {
      const place = await factory().newPlace();
      const b = await open(place);
      const x = await b.collection('x_items', validateItem);
      const y = await b.collection('y_items', validateItem);
      await x.mutate((tx) => tx.put({ id: 'same', n: 1 }));
      expect(y.get('same')).toBeUndefined();
    });

    test('a bad collection name is refused', async () => {
      const place = await factory().newPlace();
      const b = await open(place);
      await expect(b.collection('../evil', validateItem)).rejects.toThrow(/not allowed/);
      await expect(b.collection('Robert"); DROP TABLE x;--', validateItem)).rejects.toThrow(/not allowed/);
    });

    test('state survives a reopen', async () => {
      const { place, c } = await fresh();
      await c.mutate((tx) => {
        for (let i = 0; i < 50; i++) tx.put({ id: `r${i}`, n: i });
      });
      await c.mutate((tx) => tx.delete('r7'));
      const again = await (await open(place)).collection('items', validateItem);
      expect(again.list().length).toBe(49);
      expect(again.get('r8')).toEqual({ id: 'r8', n: 8 });
      expect(again.get('r7')).toBeUndefined();
    });
  });
}
