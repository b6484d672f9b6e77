/**
 * The in-process event outbox of the files and memory backends: the event log contract,
 * plus what only it has: tails are told before `append` returns (a publisher's local
 * subscribers have the event at once, as they always did), and one log per backend.
 */
import { silentLogger } from '../../src/logging';
import { FilesBackend } from '../../src/store/journal-collection';
import { MemoryBackend } from '../../src/store/memory-backend';
import { useTmpDirs } from '../helpers/tmp';
import { collect, describeEventLogContract, ev } from './event-log-contract';

const tmp = useTmpDirs('event-log-');

describeEventLogContract('in-process (files backend)', () => ({
  newPlace: async () => tmp(),
  open: async (dir, retention) => {
    const b = new FilesBackend({ dir, log: silentLogger(), eventRetention: retention });
    return { log: await b.eventLog(), close: () => b.close() };
  },
  shared: false,
}));

describeEventLogContract('in-process (memory backend)', () => ({
  newPlace: async () => 'memory',
  open: async (_place, retention) => {
    const b = new MemoryBackend({ eventRetention: retention });
    return { log: await b.eventLog(), close: () => b.close() };
  },
  shared: false,
}));

test('tails have an appended event before append returns; one log per backend', async () => {
  const b = new FilesBackend({ dir: tmp(), log: silentLogger() });
  const log = await b.eventLog();
  expect(await b.eventLog()).toBe(log);
  expect(log.shared).toBe(false);
  const t = collect(log);
  void log.append([ev(1)]);
  expect(t.seen.map((e) => e.seq)).toEqual([1]);
  await b.close();
});

test('retention values that would keep nothing are refused', () => {
  expect(() => new MemoryBackend({ eventRetention: { keepEvents: 0 } })).toThrow(/keepEvents >= 1/);
  expect(() => new MemoryBackend({ eventRetention: { keepEvents: 10, maxEvents: 5 } })).toThrow(/maxEvents >= keepEvents/);
});
