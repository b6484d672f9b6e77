/**
 * A journal with damaged lines recovers by itself, under its write lock, losing only
 * what the damaged lines held: every intact line is replayed (a damaged snapshot line is
 * rebuilt from the previous generation `<journal>.1` kept at each compaction), the
 * damaged file is kept aside as `<journal>.damaged-<time>`, a fresh journal is written,
 * and a warning plus a `store.recovered` audit line say what happened. Without anything
 * to rebuild from, the collection refuses to open with one line naming the file and
 * what to do. Real files; two processes opening the same damaged journal recover it once.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, GatewayError } from '../../src/errors';
import { createLogger, type Logger } from '../../src/logging';
import type { Collection, StoreBackend } from '../../src/store/collection';
import { FilesBackend } from '../../src/store/journal-collection';
import { eventually } from '../helpers/eventually';
import { LogCapture } from '../helpers/gateway';
import { fakeDevice, fakeDeviceId, openDevicesAt } from '../helpers/store-writer';
import { helperScript, startNode } from '../helpers/run-cli';
import { snapshotTree, useTmpDirs } from '../helpers/tmp';
import { validateItem, type Item } from './collection-contract';

const tmp = useTmpDirs('openclaw-recovery-');
const writer = helperScript('store-writer');

const opened: StoreBackend[] = [];
afterAll(async () => {
  for (const b of opened) await b.close();
});

/** A files backend over `dir` whose log lines are kept. */
function backend(dir: string): { store: FilesBackend; logs: LogCapture; log: Logger } {
  const logs = new LogCapture();
  const log = createLogger({ level: 'debug', destination: logs });
  const store = new FilesBackend({ dir, log });
  opened.push(store);
  return { store, logs, log };
}

async function items(dir: string): Promise<{ c: Collection<Item>; logs: LogCapture }> {
  const { store, logs } = backend(dir);
  return { c: await store.collection('items', validateItem), logs };
}

const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
const journalLines = (path: string) => readFileSync(path, 'utf8').split('\n').slice(0, -1);
const damagedCopies = (dir: string, name = 'items.journal') => readdirSync(dir).filter((n) => n.startsWith(`${name}.damaged-`));

/** Overwrites a stretch two thirds into line `lineNo` (1-based) with '#': the line stays, as JSON it is broken. */
function garbleLine(path: string, lineNo: number): void {
  const lines = journalLines(path);
  const line = lines[lineNo - 1];
  const from = Math.floor((line.length * 2) / 3);
  lines[lineNo - 1] = line.slice(0, from) + '#'.repeat(Math.min(12, line.length - from)) + line.slice(from + 12);
  writeFileSync(path, lines.join('\n') + '\n');
}

async function rejected(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${String(err)}`);
  return err;
}

describe('a journal with a damaged line', () => {
  it('in the middle: opens with every intact transaction (before and after it), keeps the damaged file, writes a fresh journal, audits what may be lost', async () => {
    const dir = tmp();
    const path = join(dir, 'items.journal');
    const { c } = await items(dir);
    for (let i = 0; i < 5; i++) await c.mutate((tx) => tx.put({ id: `r${i}`, n: i }));
    await c.mutate((tx) => {
      tx.put({ id: 'r0', n: 100 });
      tx.delete('r4');
    });
    // Line 3 (r2's creation) garbled; line 4 (r3's) cut short, only its start left.
    const lines = journalLines(path);
    expect(lines[2]).toBe('{"v":1,"put":[{"id":"r2","n":2}]}');
    lines[2] = lines[2].replace('"n":2}', '"n":\u0000#}');
    lines[3] = lines[3].slice(0, 16);
    writeFileSync(path, lines.join('\n') + '\n');
    const damaged = readFileSync(path);

    const { c: reopened, logs } = await items(dir);
    expect(reopened.list().sort(byId)).toEqual([
      { id: 'r0', n: 100 },
      { id: 'r1', n: 1 },
    ]);
    // The damaged file, byte for byte, next to a fresh journal of one snapshot line.
    const kept = damagedCopies(dir);
    expect(kept).toHaveLength(1);
    expect(readFileSync(join(dir, kept[0]))).toEqual(damaged);
    expect(journalLines(path)).toHaveLength(1);
    expect(JSON.parse(journalLines(path)[0])).toMatchObject({ v: 1, snapshot: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const [audit] = logs.audits('store.recovered');
    expect(audit).toMatchObject({
      collection: 'items',
      file: path,
      keptAs: join(dir, kept[0]),
      damagedLines: [3, 4],
      records: 2,
      intactLines: 4,
      mayHaveLostCount: 1,
    });
    // r2's id is still legible in its garbled line; nothing of r3's line is.
    expect(audit.mayHaveLost).toEqual(['r2']);
    expect(logs.lines.some((l) => l.level === 40 && String(l.msg).startsWith('recovered the damaged journal of items: 2 records'))).toBe(true);

    // Carries on: writes go to the fresh journal; the next open finds nothing to recover.
    await reopened.mutate((tx) => tx.put({ id: 'r5', n: 5 }));
    const { c: again, logs: againLogs } = await items(dir);
    expect(again.list().map((r) => r.id).sort()).toEqual(['r0', 'r1', 'r5']);
    expect(againLogs.audits('store.recovered')).toEqual([]);
    expect(damagedCopies(dir)).toHaveLength(1);
  });

  it('a damaged snapshot line is rebuilt from the previous generation kept at compaction; nothing is lost', async () => {
    const dir = tmp();
    const path = join(dir, 'items.journal');
    const { c } = await items(dir);
    // More than 1000 lines over 10 records: compacted; then a few more transactions.
    for (let i = 0; i < 1010; i++) await c.mutate((tx) => tx.put({ id: `k${i % 10}`, n: i }));
    expect(existsSync(`${path}.1`)).toBe(true);
    for (let i = 0; i < 3; i++) await c.mutate((tx) => tx.put({ id: `late${i}`, n: i }));
    await c.mutate((tx) => tx.delete('k0'));
    const expected = c.list().sort(byId);
    expect(JSON.parse(journalLines(path)[0])).toMatchObject({ snapshot: true });
    garbleLine(path, 1);

    const { c: reopened, logs } = await items(dir);
    expect(reopened.list().sort(byId)).toEqual(expected);
    expect(logs.audits('store.recovered')[0]).toMatchObject({ collection: 'items', damagedLines: [1], snapshotRebuiltFrom: `${path}.1`, mayHaveLostCount: 0, records: expected.length });
    expect(damagedCopies(dir)).toHaveLength(1);
    // The previous generation now holds the recovered state too.
    const { c: fromPrevious } = await items(dir);
    expect(fromPrevious.list().sort(byId)).toEqual(expected);
    garbleLine(path, 1);
    const { c: twice } = await items(dir);
    expect(twice.list().sort(byId)).toEqual(expected);
  });

  it('a damaged snapshot line without a previous generation: refused with one line naming the file and what to do; nothing touched', async () => {
    const dir = tmp();
    const path = join(dir, 'items.journal');
    // A journal compacted by a release that kept no previous generation.
    writeFileSync(path, '{"v":1,"snapshot":true,"put":[{"id":"a","n":1},{"id":"b",' + '\n' + '{"v":1,"put":[{"id":"c","n":3}]}\n', { mode: 0o600 });
    const before = snapshotTree(dir);
    const { store, logs } = backend(dir);
    const err = await rejected(store.collection('items', validateItem));
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.reason).toBe('STATE_CORRUPT');
    expect(err.message).toBe(
      `${path} line 1 (the snapshot of every record) is damaged and there is no earlier generation to rebuild it from; restore ${path} from a backup, or move it away to start the items collection empty`,
    );
    expect(logs.audits('store.recovery.refused')).toEqual([expect.objectContaining({ collection: 'items', file: path })]);
    expect(snapshotTree(dir)).toEqual(before);
    // Refused again at the next try, not half-opened the first time.
    expect((await rejected(store.collection('items', validateItem))).reason).toBe('STATE_CORRUPT');
  });

  it('a well-formed line of a newer format is not damage: refused, nothing recovered', async () => {
    const dir = tmp();
    const path = join(dir, 'items.journal');
    writeFileSync(path, '{"v":1,"put":[{"id":"a","n":1}]}\n{"v":2,"put":[{"id":"b","n":2}]}\n');
    const before = snapshotTree(dir);
    const { store } = backend(dir);
    const err = await rejected(store.collection('items', validateItem));
    expect(err.message).toBe(`${path} line 2 was written by a newer release (format 2); run that release, or restore this file from a backup`);
    expect(snapshotTree(dir)).toEqual(before);
  });

  it('found while running (damage appended by another process): reads keep what they had, the journal is recovered in the background, later lines show up', async () => {
    const dir = tmp();
    const path = join(dir, 'items.journal');
    const { c, logs } = await items(dir);
    await c.mutate((tx) => tx.put({ id: 'a', n: 1 }));
    const changes: (readonly string[] | undefined)[] = [];
    c.subscribe((ch) => changes.push(ch.ids));
    appendFileSync(path, '{"v":1,"put":[{"id":"b","n":\u0000\u0000\u0000}]}\n{"v":1,"put":[{"id":"c","n":3}]}\n');
    expect(c.get('a')).toEqual({ id: 'a', n: 1 });
    await eventually('the later line is read after the recovery', () => (c.get('c') ? true : undefined));
    expect(c.list().sort(byId)).toEqual([
      { id: 'a', n: 1 },
      { id: 'c', n: 3 },
    ]);
    expect(logs.audits('store.recovered')).toEqual([expect.objectContaining({ damagedLines: [2], mayHaveLost: ['b'] })]);
    await eventually('subscribers hear of it', () => (changes.length > 0 ? true : undefined));
    // Writes carry on.
    await c.mutate((tx) => tx.put({ id: 'd', n: 4 }));
    expect((await items(dir)).c.list().map((r) => r.id).sort()).toEqual(['a', 'c', 'd']);
  });
});

describe('recovery by two processes at once', () => {
  it('happens once: both wait for the write lock, the first recovers, the second finds the journal whole', async () => {
    const stateDir = join(tmp(), 'state');
    const storeDir = join(stateDir, 'store');
    const journal = join(storeDir, 'devices.journal');
    const first = await openDevicesAt(stateDir);
    for (const n of ['a', 'b', 'c', 'd']) await first.devices.mutate((tx) => tx.put(fakeDevice(n)));
    await first.store.close();
    garbleLine(journal, 2);

    // A third process holds the journal's lock, so both openers find the damage before either can recover it.
    const holder = startNode(writer, [journal, 'hold-file-lock']);
    await holder.waitForLine((l) => l.startsWith('locked '));
    const openers = [startNode(writer, [stateDir, 'open']), startNode(writer, [stateDir, 'open'])];
    for (const o of openers) await o.waitForLine((l) => l.includes('the journal has a damaged line'));
    holder.child.stdin!.end();
    expect((await holder.exited).code).toBe(0);
    const results = await Promise.all(openers.map((o) => o.exited));

    const expected = ['a', 'c', 'd'].map(fakeDeviceId).sort();
    for (const r of results) {
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toContain(`devices ${expected.join(',')}\n`);
    }
    const recovered = results.flatMap((r) => r.stdout.split('\n').filter((l) => l.includes('"event":"store.recovered"')));
    expect(recovered).toHaveLength(1);
    expect(JSON.parse(recovered[0])).toMatchObject({ collection: 'devices', damagedLines: [2], mayHaveLost: [fakeDeviceId('b')] });
    expect(damagedCopies(storeDir, 'devices.journal')).toHaveLength(1);
  });
});
