/**
 * A writer killed with SIGKILL in the middle of its work leaves a devices.json that
 * loads, with at least every record it reported committed; the next writer takes the
 * dead writer's lock over if it held one (stale after 5 s, the lock's real behaviour).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileDeviceStore } from '../../src/store/device-store';
import { fakeDevice } from '../helpers/store-writer';
import { helperScript, startNode } from '../helpers/run-cli';
import { useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-crash-');
const writer = helperScript('store-writer');

/** Names in the folder other than devices.json, its lock and leftover atomic-write temp files. */
function unexpectedEntries(dir: string): string[] {
  return readdirSync(dir).filter((n) => n !== 'devices.json' && n !== 'devices.json.lock' && !/^\.devices\.json\.\d+\.[0-9a-f]{8}\.tmp$/.test(n));
}

it('a writer killed with SIGKILL at a random moment leaves a state that loads; a new writer proceeds', async () => {
  const dir = tmp();
  const path = join(dir, 'devices.json');
  // Kill after a random number of commits; 2 kB per record makes each write take a while.
  const threshold = 5 + Math.floor(Math.random() * 40);
  const child = startNode(writer, [path, 'loop', '2000']);
  const line = await child.waitForLine((l) => Number(l.split(' ')[1]) >= threshold);
  child.child.kill('SIGKILL');
  const result = await child.exited;
  expect(result.signal).toBe('SIGKILL');
  const lastReported = Math.max(...child.lines.map((l) => Number(l.split(' ')[1])));
  expect(lastReported).toBeGreaterThanOrEqual(Number(line.split(' ')[1]));

  // The file on disk is complete JSON and has every reported commit (maybe one more).
  JSON.parse(readFileSync(path, 'utf8'));
  const devices = new FileDeviceStore(path).list();
  expect(devices.length).toBeGreaterThanOrEqual(lastReported);
  expect(devices.length).toBeLessThanOrEqual(lastReported + 1);
  expect(unexpectedEntries(dir)).toEqual([]);

  // A new writer gets through (after taking over a stale lock if the child died holding it).
  const store = new FileDeviceStore(path);
  store.transaction((d) => {
    d.after = fakeDevice('after');
  });
  expect(new FileDeviceStore(path).list()).toHaveLength(devices.length + 1);
  expect(existsSync(`${path}.lock`)).toBe(false);
});
