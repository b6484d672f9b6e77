/**
 * The files backend: the storage contract, plus what only a journal has: a torn last line
 * (a crash during an append) is dropped and cut off, a record the collection refuses
 * stops it with the file and line named, compaction keeps the state and the previous
 * generation, another process's appends are read incrementally, and an append costs the
 * same at 3,000 records as at the first. (Damaged lines: journal-recovery.test.ts.)
 */
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../src/logging';
import { FilesBackend } from '../../src/store/journal-collection';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';
import { describeCollectionContract, validateItem } from './collection-contract';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) removeTmpDir(d);
});
const newDir = () => {
  const d = makeTmpDir('journal-');
  dirs.push(d);
  return d;
};

describeCollectionContract('files (journal)', () => ({
  newPlace: async () => newDir(),
  open: async (dir) => new FilesBackend({ dir, log: silentLogger() }),
}));

describe('journal specifics', () => {
  const backends: FilesBackend[] = [];
  const open = (dir: string) => {
    const b = new FilesBackend({ dir, log: silentLogger() });
    backends.push(b);
    return b;
  };
  afterAll(async () => {
    for (const b of backends) await b.close();
  });

  test('one line per committed transaction, appended: earlier bytes are never rewritten', async () => {
    const dir = newDir();
    const c = await open(dir).collection('items', validateItem);
    await c.mutate((tx) => tx.put({ id: 'a', n: 1 }));
    const first = readFileSync(join(dir, 'items.journal'), 'utf8');
    await c.mutate((tx) => {
      tx.put({ id: 'b', n: 2 });
      tx.delete('a');
    });
    const after = readFileSync(join(dir, 'items.journal'), 'utf8');
    expect(after.startsWith(first)).toBe(true);
    expect(after.trim().split('\n')).toHaveLength(2);
    expect(statSync(join(dir, 'items.journal')).mode & 0o777).toBe(0o600);
  });

  test('a torn last line (a crash mid-append) is dropped on reading and cut off by the next writer', async () => {
    const dir = newDir();
    const c = await open(dir).collection('items', validateItem);
    await c.mutate((tx) => tx.put({ id: 'kept', n: 1 }));
    appendFileSync(join(dir, 'items.journal'), '{"v":1,"put":[{"id":"lost","n"');
    const reader = await open(dir).collection('items', validateItem);
    expect(reader.list()).toEqual([{ id: 'kept', n: 1 }]);
    await reader.mutate((tx) => tx.put({ id: 'next', n: 2 }));
    const lines = readFileSync(join(dir, 'items.journal'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => JSON.parse(l) as unknown)).toBeTruthy();
    const fresh = await open(dir).collection('items', validateItem);
    expect(fresh.list().map((r) => r.id).sort()).toEqual(['kept', 'next']);
  });

  test('an invalid record is refused with the line named', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'items.journal'), '{"v":1,"put":[{"id":"x","n":"not a number"}]}\n');
    await expect(open(dir).collection('items', validateItem)).rejects.toThrow(/line 1 holds an invalid items record/);
  });

  test('compaction keeps exactly the live records and another process follows it; the old journal becomes the previous generation', async () => {
    const dir = newDir();
    const path = join(dir, 'items.journal');
    const c = await open(dir).collection('items', validateItem);
    const watcher = await open(dir).collection('items', validateItem);
    // What the journal held when it was compacted: its lines before, plus the transaction that made it long enough.
    let compacted = '';
    for (let i = 0; i < 1100; i++) {
      const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
      await c.mutate((tx) => tx.put({ id: `k${i % 10}`, n: i }));
      if (!compacted && readFileSync(path, 'utf8').split('\n').length < text.split('\n').length) compacted = `${text}{"v":1,"put":[{"id":"k${i % 10}","n":${i}}]}\n`;
    }
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines.length).toBeLessThan(200);
    expect(c.list().length).toBe(10);
    expect(watcher.list().sort((a, b) => a.id.localeCompare(b.id))).toEqual(c.list().sort((a, b) => a.id.localeCompare(b.id)));
    expect(watcher.get('k9')!.n).toBe(1099);
    // `.1` is the journal exactly as it was before the (one) compaction: every line it had, whole.
    expect(compacted).not.toBe('');
    expect(readFileSync(`${path}.1`, 'utf8')).toBe(compacted);
    expect(statSync(`${path}.1`).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['items.journal', 'items.journal.1']);
  });

  test('with 3,000 records, an add still appends one line and leaves the rest of the file as it was', async () => {
    const dir = newDir();
    const path = join(dir, 'items.journal');
    const c = await open(dir).collection('items', validateItem);
    const payload = 'p'.repeat(300);
    await c.mutate((tx) => {
      for (let i = 0; i < 3000; i++) tx.put({ id: `job${i}`, n: i, text: payload });
    });
    for (let i = 3000; i < 3010; i++) await c.mutate((tx) => tx.put({ id: `job${i}`, n: i, text: payload }));
    const before = readFileSync(path);
    await c.mutate((tx) => tx.put({ id: 'job-last', n: -1, text: payload }));
    const after = readFileSync(path);
    expect(after.subarray(0, before.length).equals(before)).toBe(true);
    const added = after.subarray(before.length).toString('utf8');
    expect(added.endsWith('\n') && added.indexOf('\n') === added.length - 1).toBe(true);
    expect(added.length).toBeLessThan(500);
    expect(c.list().length).toBe(3011);
  });
});
