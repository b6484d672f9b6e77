/**
 * A writer killed with SIGKILL in the middle of its work leaves a state that loads, with
 * every write it had acknowledged (and at most the one it was in the middle of); the next
 * writer takes the dead writer's lock over if it held one (stale after 20 s: the lock's
 * real behaviour) and carries on.
 *
 * The journal the gateway and certs-tools really use (`<state>/store/devices.journal`,
 * opened with openStore + openDevices), killed while appending (long lines, so a kill
 * can tear the last one) and while compacting (then the next open removes the dead
 * writer's temp files, and the previous generation it kept rebuilds a damaged snapshot
 * with every acknowledged write).
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, watch, writeSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/clock';
import { DeviceRegistry, loadOrCreateCa, statePaths } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { fakeDevice, fakeDeviceId, openDevicesAt } from '../helpers/store-writer';
import { helperScript, startNode, type StartedNode } from '../helpers/run-cli';
import { useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-crash-');
const writer = helperScript('store-writer');
const JOURNAL = 'devices.journal';
/** The temp file a compaction writes the new journal to (one per compaction). */
const NEW_JOURNAL_TEMP = /^\.devices\.journal\.\d+\.[0-9a-f]{8}\.tmp$/;
/** What a dead compaction may leave next to the journal: that temp file, or the link that becomes `.1`. */
const COMPACTION_TEMP = /^\.devices\.journal(\.1)?\.\d+\.[0-9a-f]{8}\.tmp$/;
/** The previous generation, kept at each compaction. */
const PREVIOUS = `${JOURNAL}.1`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

/** Kills the child with SIGKILL (after a random 0-`jitterMs` ms, so the kill lands anywhere in a commit) and waits for it. */
async function killNow(child: StartedNode, jitterMs: number): Promise<void> {
  await sleep(randomInt(0, jitterMs));
  child.child.kill('SIGKILL');
  const result = await child.exited;
  expect(result.signal).toBe('SIGKILL');
  expect(result.stderr).toBe('');
}

/** Names in `<state>/store` other than the journal, its lock (a dead holder's) and `allowed`. */
function unexpectedEntries(storeDir: string, allowed: RegExp = /^$/): string[] {
  return readdirSync(storeDir).filter((n) => n !== JOURNAL && n !== `${JOURNAL}.lock` && !allowed.test(n));
}

/** Garbles the first line of a journal in place (quotes and '#' over a stretch of it: no longer JSON). */
function garbleFirstLine(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.from('"#'.repeat(8)), 0, 16, 1000);
  } finally {
    closeSync(fd);
  }
}

/** Every line of the journal is complete JSON (nothing torn left behind). */
function expectWholeLines(path: string): void {
  const text = readFileSync(path, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) JSON.parse(line);
}

/**
 * Waits (polling, without yielding: a few ms) until the journal's last byte is not a
 * newline, i.e. a line is being written right now, then kills the writer: the kill
 * lands inside the write and tears that line. Gives up after 5 s and kills anyway.
 */
function killMidWrite(child: StartedNode, journal: string): void {
  const fd = openSync(journal, 'r');
  const last = Buffer.alloc(1);
  try {
    for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
      const size = fstatSync(fd).size;
      if (size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a) break;
    }
    child.child.kill('SIGKILL');
  } finally {
    closeSync(fd);
  }
}

describe('devices journal (what the gateway and certs-tools write)', () => {
  it('writers killed with SIGKILL while appending leave a state with every acknowledged device; a registry then provisions over it', async () => {
    // Lines of ~2 MB take a while to write. Odd rounds kill while a line is being written
    // (tearing it); even rounds at a random moment.
    const ROUNDS = 4;
    const PAD = 2_000_000;
    const rounds: { stateDir: string; acknowledged: string[]; torn: boolean }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const stateDir = join(tmp(), 'state');
      const storeDir = join(stateDir, 'store');
      const child = startNode(writer, [stateDir, 'loop', String(PAD)]);
      const threshold = randomInt(0, 5);
      await child.waitForLine((l) => l.startsWith('commit ') && Number(l.split(' ')[1]) >= threshold);
      if (r % 2 === 1) killMidWrite(child, join(storeDir, JOURNAL));
      await killNow(child, r % 2 === 1 ? 0 : 15);
      const acknowledged = child.lines.filter((l) => l.startsWith('commit ')).map((l) => l.split(' ')[2]);
      expect(acknowledged.length).toBeGreaterThan(threshold);

      // Read-only: the state loads (a torn last line is ignored) and has every acknowledged device.
      expect(unexpectedEntries(storeDir)).toEqual([]);
      const torn = !readFileSync(join(storeDir, JOURNAL)).subarray(-1).equals(Buffer.from('\n'));
      const { store, devices } = await openDevicesAt(stateDir);
      const ids = devices.list().map((d) => d.id);
      const lastIndex = acknowledged.length - 1;
      expect(devices.get(acknowledged[lastIndex])).toEqual(fakeDevice(`${child.child.pid}-${lastIndex}`, PAD, lastIndex));
      await store.close();
      expect(ids).toEqual(expect.arrayContaining(acknowledged));
      // At most the one being written when the kill came (committed, not yet reported).
      expect(ids.length).toBeLessThanOrEqual(acknowledged.length + 1);
      rounds.push({ stateDir, acknowledged, torn });
    }

    // The next writer, on a torn journal (if a kill tore one, as it nearly always does): a
    // registry, opened as certs-tools opens it, takes the dead writer's lock over if it
    // held it, cuts the torn line off and provisions.
    const chosen = rounds.find((r) => r.torn) ?? rounds[rounds.length - 1];
    for (const r of rounds) if (r !== chosen) rmSync(r.stateDir, { recursive: true, force: true });
    const paths = statePaths(chosen.stateDir);
    const { ca } = loadOrCreateCa(paths, systemClock);
    const { store, devices } = await openDevicesAt(chosen.stateDir);
    const before = devices.list().map((d) => d.id);
    const registry = new DeviceRegistry({ store: devices, ca, clock: systemClock, log: silentLogger() });
    const issued = await registry.provision({ role: 'node', label: 'after-crash' });
    expect(registry.list().map((d) => d.id).sort()).toEqual([...before, issued.device.id].sort());
    await store.close();
    expectWholeLines(join(chosen.stateDir, 'store', JOURNAL));
    expect(readdirSync(join(chosen.stateDir, 'store'))).toEqual([JOURNAL]);

    const reopened = await openDevicesAt(chosen.stateDir);
    expect(reopened.devices.list().map((d) => d.id).sort()).toEqual([...before, issued.device.id].sort());
    expect(reopened.devices.get(issued.device.id)).toEqual(issued.device);
    await reopened.store.close();
  });

  it('writers killed with SIGKILL while compacting the journal leave exactly the last committed state, no temp file once opened, and a previous generation that rebuilds a damaged snapshot; the next writer carries on', async () => {
    // 500 devices rewritten in turn (20 kB each): the journal grows while the records do not,
    // and every ~1000 commits it is compacted into a 10 MB snapshot written to a temp file
    // and renamed over it. Each round kills the writer in its first or second compaction,
    // from just after the temp file appears to well after the rename.
    const ROUNDS = 3;
    const SLOTS = 500;
    const PAD = 20_000;
    const slotOf = new Map(Array.from({ length: SLOTS }, (_, s) => [fakeDeviceId(`slot-${s}`), s]));
    /** Generation of every slot, as read through the devices collection of `stateDir`. */
    const generations = async (stateDir: string): Promise<number[]> => {
      const { store, devices } = await openDevicesAt(stateDir);
      const gens: number[] = [];
      for (const d of devices.list()) {
        expect(d).toEqual(fakeDevice(`slot-${slotOf.get(d.id)!}`, PAD, d.createdAt));
        gens[slotOf.get(d.id)!] = d.createdAt;
      }
      await store.close();
      return gens;
    };
    /** Every slot at its newest generation up to `last`. */
    const stateAfter = (last: number) => Array.from({ length: SLOTS }, (_, s) => last - ((((last - s) % SLOTS) + SLOTS) % SLOTS));

    const rounds: { stateDir: string; last: number; leftover: boolean }[] = [];
    let snapshotsRebuilt = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const stateDir = join(tmp(), 'state');
      const storeDir = join(stateDir, 'store');
      const child = startNode(writer, [stateDir, 'churn', String(SLOTS), String(PAD)]);
      await child.waitForLine((l) => l.startsWith('commit '));
      // In the first compaction (round 0) or the second (later rounds): after one, the journal
      // starts with a snapshot. Two rounds of the second kind, as a kill between the previous
      // generation's link and the rename leaves no separate previous generation to rebuild from.
      const nth = r === 0 ? 1 : 2;
      const jitterMs = randomInt(0, 60);
      await new Promise<void>((resolve) => {
        const temps = new Set<string>();
        const watcher = watch(storeDir, (_event, name) => {
          if (!name || !NEW_JOURNAL_TEMP.test(String(name)) || !existsSync(join(storeDir, String(name)))) return;
          temps.add(String(name));
          if (temps.size < nth) return;
          watcher.close();
          setTimeout(() => {
            child.child.kill('SIGKILL');
            resolve();
          }, jitterMs);
        });
        void child.exited.then(() => {
          watcher.close();
          resolve();
        });
      });
      await killNow(child, 0);
      const lastAcknowledged = Math.max(...child.lines.map((l) => Number(l.split(' ')[1])));
      expect(lastAcknowledged).toBeGreaterThan(1000 * nth - 10);

      const entries = readdirSync(storeDir);
      expect(unexpectedEntries(storeDir, new RegExp(`${COMPACTION_TEMP.source}|^devices\\.journal\\.1$`))).toEqual([]);
      const gens = await generations(stateDir);
      const last = Math.max(...gens);
      // The state after the last acknowledged commit (or the one after it, committed but not
      // yet reported), every slot at its newest generation: nothing lost, nothing older back.
      expect([lastAcknowledged, lastAcknowledged + 1]).toContain(last);
      expect(gens).toEqual(stateAfter(last));
      // Opening removed what the dead writer left behind.
      expect(readdirSync(storeDir).filter((n) => COMPACTION_TEMP.test(n))).toEqual([]);
      rounds.push({ stateDir, last, leftover: entries.some((n) => COMPACTION_TEMP.test(n)) });

      // The snapshot line damaged now: rebuilt from the previous generation the killed
      // writer kept, with every acknowledged write. (Not when the kill came before the
      // first compaction replaced the journal: then there is no snapshot yet. Once: it
      // waits for the dead writer's lock to go stale.)
      const journal = join(storeDir, JOURNAL);
      if (snapshotsRebuilt === 0 && readFileSync(journal).subarray(0, 30).toString().includes('"snapshot":true') && statSync(join(storeDir, PREVIOUS)).ino !== statSync(journal).ino) {
        garbleFirstLine(journal);
        expect(await generations(stateDir)).toEqual(stateAfter(last));
        expect(readdirSync(storeDir).filter((n) => n.startsWith(`${JOURNAL}.damaged-`))).toHaveLength(1);
        snapshotsRebuilt++;
      }
    }
    expect(snapshotsRebuilt).toBe(1);

    // The next writer, preferably where the kill came before the rename: takes the dead
    // holder's lock over and commits on top of that state.
    const chosen = rounds.find((r) => r.leftover) ?? rounds[rounds.length - 1];
    for (const r of rounds) if (r !== chosen) rmSync(r.stateDir, { recursive: true, force: true });
    const storeDir = join(chosen.stateDir, 'store');
    const { store, devices } = await openDevicesAt(chosen.stateDir);
    await devices.mutate((tx) => tx.put(fakeDevice('slot-0', PAD, chosen.last + 1)));
    await store.close();
    expectWholeLines(join(storeDir, JOURNAL));
    expect(existsSync(join(storeDir, `${JOURNAL}.lock`))).toBe(false);
    expect(readdirSync(storeDir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const expected = stateAfter(chosen.last);
    expected[0] = chosen.last + 1;
    expect(await generations(chosen.stateDir)).toEqual(expected);
    // The dead writer's lock goes stale (20 s) twice: for the rebuild and for the next writer.
  }, 120_000);
});
