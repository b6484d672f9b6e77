/**
 * What the importer refuses, with one line and the source untouched (corrupt database,
 * unknown schema version, unknown layout, unreadable config, our state dir inside the
 * source, crafted $include chains and WAL sizes, oversized files), and the SQLite WAL:
 * committed frames a real SQLite left in `openclaw.sqlite-wal` are imported, a torn tail is not.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import initSqlJs from 'sql.js';
import { importOpenclaw } from '../../src/import/openclaw/import-openclaw';
import { MAX_SOURCE_FILE_BYTES, readOpenclawSource, SourceRefused } from '../../src/import/openclaw/source';
import { pageSizeOf, replayWal, WalError } from '../../src/import/openclaw/sqlite-wal';
import { createLogger, silentLogger } from '../../src/logging';
import { openDevices } from '../../src/store/device-store';
import { openStore } from '../../src/store/open-store';
import { LogCapture } from '../helpers/gateway';
import { ensureRealClients } from '../legacy-clients/real-clients';
import { snapshotTree, useTmpDirs } from '../helpers/tmp';
import { copyOpenclawState, fixtureClient } from './openclaw-fixture';

const tmp = useTmpDirs('openclaw-source-');
const fx = fixtureClient();
const db = (from: string) => join(from, 'state', 'openclaw.sqlite');

/** Expects the import of `from` to be refused with one line matching `why`, the source unchanged and nothing written. */
async function expectRefused(from: string, why: RegExp): Promise<void> {
  const before = snapshotTree(from);
  const stateDir = join(tmp(), 'state');
  let err: Error | undefined;
  try {
    await importOpenclaw({ from, stateDir, log: silentLogger() });
  } catch (e) {
    err = e as Error;
  }
  expect(err).toBeInstanceOf(SourceRefused);
  expect(err!.message).toMatch(why);
  expect(err!.message).not.toContain('\n');
  expect(snapshotTree(from)).toEqual(before);
  expect(existsSync(stateDir)).toBe(false);
}

/** Rewrites the fixture's database (WAL applied) with `sql`, as a rollback-journal file without -wal. */
async function rewrite(from: string, sql: string): Promise<void> {
  const SQL = await initSqlJs();
  const applied = replayWal(readFileSync(db(from)), readFileSync(`${db(from)}-wal`)).bytes;
  const d = new SQL.Database(applied);
  d.exec(sql);
  writeFileSync(db(from), d.export());
  d.close();
  rmSync(`${db(from)}-wal`);
  rmSync(`${db(from)}-shm`);
}

test('a damaged database is refused', async () => {
  const from = copyOpenclawState(tmp());
  const bytes = readFileSync(db(from));
  // Garble pages in the middle (tables' b-tree pages), keep the header.
  for (let i = 200_000; i < 600_000; i += 997) bytes[i] ^= 0x5a;
  writeFileSync(db(from), bytes);
  rmSync(`${db(from)}-wal`);
  await expectRefused(from, /state\/openclaw\.sqlite (is damaged|cannot be read)/);
});

test('a file that is not a SQLite database is refused', async () => {
  const from = copyOpenclawState(tmp());
  writeFileSync(db(from), 'not a database at all, but long enough to have a header of one hundred bytes ........................');
  await expectRefused(from, /is not a SQLite database/);
});

test('an unknown schema version is refused, naming it', async () => {
  const from = copyOpenclawState(tmp());
  await rewrite(from, "UPDATE schema_meta SET schema_version = 19, app_version = '2027.1.0'; PRAGMA user_version = 19;");
  await expectRefused(from, /schema version 19 .*OpenClaw 2027\.1\.0.* not one this importer knows/);
});

test('a known version whose tables lack a column is refused', async () => {
  const from = copyOpenclawState(tmp());
  await rewrite(from, 'ALTER TABLE device_pairing_paired DROP COLUMN tokens_json;');
  await expectRefused(from, /device_pairing_paired lacks tokens_json/);
});

test('unknown layouts and an unreadable config are refused', async () => {
  const noDb = copyOpenclawState(tmp());
  rmSync(join(noDb, 'state'), { recursive: true });
  await expectRefused(noDb, /unknown OpenClaw layout: no state\/openclaw\.sqlite/);

  const home = tmp();
  copyOpenclawState(home);
  await expectRefused(home, /no openclaw\.json/);

  const badJson = copyOpenclawState(tmp());
  writeFileSync(join(badJson, 'openclaw.json'), '{ gateway: { auth: { token: "x" ');
  await expectRefused(badJson, /openclaw\.json cannot be read: JSON5: .* at 1:\d+/);
});

test('our state dir inside the OpenClaw folder (both default to ~/.openclaw) is refused', async () => {
  const from = copyOpenclawState(tmp());
  const before = snapshotTree(from);
  await expect(importOpenclaw({ from, stateDir: from, log: silentLogger() })).rejects.toThrow(/give this gateway another one with --state-dir/);
  await expect(importOpenclaw({ from, stateDir: join(from, 'ours'), log: silentLogger() })).rejects.toThrow(SourceRefused);
  expect(snapshotTree(from)).toEqual(before);
});

test('openclaw.json may be JSON5, as OpenClaw accepts it', async () => {
  const from = copyOpenclawState(tmp());
  writeFileSync(join(from, 'openclaw.json'), `{\n  // token auth\n  gateway: { auth: { mode: 'token', token: '${fx.sharedToken}', }, },\n}\n`);
  const src = await readOpenclawSource(from);
  expect(src.config).toEqual({ gateway: { auth: { mode: 'token', token: fx.sharedToken } } });
});

describe('SQLite WAL', () => {
  test('the fixture (a cleanly stopped real gateway) left committed frames in its WAL; they are applied, the source files are not touched', async () => {
    const from = copyOpenclawState(tmp());
    const main = readFileSync(db(from));
    const wal = readFileSync(`${db(from)}-wal`);
    const r = replayWal(main, wal);
    expect(r.frames).toBeGreaterThan(0);
    expect(r.bytes[18]).toBe(1);
    expect(readFileSync(db(from))).toEqual(main);
    expect(main[18]).toBe(2);
  });

  test('a copy of a running gateway\'s folder, whose main file holds none of the devices and jobs yet (all in the WAL), imports the same as one taken after a clean stop', async () => {
    const from = copyOpenclawState(tmp(), 'running');
    const SQL = await initSqlJs();
    const mainOnly = Buffer.from(readFileSync(db(from)));
    mainOnly[18] = 1;
    mainOnly[19] = 1;
    const d = new SQL.Database(mainOnly);
    const count = (t: string) => d.exec(`SELECT count(*) FROM ${t}`)[0]?.values[0][0];
    expect([count('device_pairing_paired'), count('cron_jobs')]).toEqual([0, 0]);
    d.close();
    const running = await importOpenclaw({ from, stateDir: join(tmp(), 'a'), dryRun: true, log: silentLogger() });
    const stopped = await importOpenclaw({ from: copyOpenclawState(tmp()), stateDir: join(tmp(), 'b'), dryRun: true, log: silentLogger() });
    expect(running.source.walFramesApplied).toBeGreaterThan(stopped.source.walFramesApplied);
    expect(running.items.map((i) => [i.kind, i.source, i.outcome])).toEqual(stopped.items.map((i) => [i.kind, i.source, i.outcome]));
    expect(running.counts.imported).toBe(12);
  });

  test('a torn last frame is ignored: only frames up to the last intact commit count', () => {
    const from = copyOpenclawState(tmp());
    const main = readFileSync(db(from));
    const wal = readFileSync(`${db(from)}-wal`);
    const whole = replayWal(main, wal);
    const torn = Buffer.from(wal);
    torn[torn.length - 10] ^= 0xff;
    const r = replayWal(main, torn);
    expect(r.frames).toBeLessThan(whole.frames);
    expect(r.ignored).toBeGreaterThan(0);
    expect(() => replayWal(main, Buffer.from('not a wal file at all, thirty-two bytes or more....'))).toThrow(WalError);
  });

  test('changes a real SQLite committed only to the WAL (its process killed before a checkpoint) are imported', async () => {
    const clients = await ensureRealClients();
    const from = copyOpenclawState(tmp());
    const laptop = fx.devices.find((d) => d.displayName === 'fixture-laptop')!;
    // Node 24's built-in SQLite (the engine OpenClaw runs on): a commit that stays in the
    // WAL, then the process dies without closing, so nothing is checkpointed.
    const script = `
      const { DatabaseSync } = require('node:sqlite');
      const d = new DatabaseSync(process.argv[1]);
      d.exec('PRAGMA wal_autocheckpoint = 0');
      d.prepare("UPDATE device_pairing_paired SET display_name = 'renamed-in-wal' WHERE device_id = ?").run(process.argv[2]);
      process.kill(process.pid, 'SIGKILL');`;
    const r = spawnSync(clients.node, ['-e', script, db(from), laptop.deviceId], { encoding: 'utf8' });
    expect(r.signal).toBe('SIGKILL');
    const before = readFileSync(db(from));
    const src = await readOpenclawSource(from);
    expect(src.paired.find((p) => p.device_id === laptop.deviceId)?.display_name).toBe('renamed-in-wal');
    // The main file alone does not have it: the change is only in the WAL.
    const SQL = await initSqlJs();
    const plain = Buffer.from(before);
    plain[18] = 1;
    plain[19] = 1;
    const d = new SQL.Database(plain);
    expect(d.exec(`SELECT display_name FROM device_pairing_paired WHERE device_id = '${laptop.deviceId}'`)[0].values[0][0]).toBe('fixture-laptop');
    d.close();
    expect(readFileSync(db(from))).toEqual(before);
  }, 120_000);

  test('a crafted WAL whose commit claims a huge database (checksums right) is refused with one line, nothing allocated for it', async () => {
    const from = copyOpenclawState(tmp());
    const main = readFileSync(db(from));
    const mainPages = main.length / pageSizeOf(main);
    // 0xFFFFFFFF pages cannot even be allocated; 600,000 pages of 4 KiB would be 2.5 GB.
    for (const commitSize of [0xffffffff, 600_000, mainPages + 1]) {
      expect(() => replayWal(main, craftedWal(main, [{ pgno: 1, commitSize }]))).toThrow(new WalError(`the -wal file's last commit says the database has ${commitSize} pages, but the database file has ${mainPages} and the log writes none beyond page 1`));
    }
    // A frame may name a far page too, to make its commit size look honest: bounded all the same.
    expect(() => replayWal(main, craftedWal(main, [{ pgno: 600_000, commitSize: 600_000 }]))).toThrow(new WalError(`the -wal file's last commit makes the database 600000 pages of ${pageSizeOf(main)} bytes, larger than the 1 GiB this importer reads`));
    // The same frames with an honest size apply: the refusal is about the size alone.
    expect(replayWal(main, craftedWal(main, [{ pgno: 1, commitSize: mainPages }])).frames).toBe(1);
    // A commit that grows the database by the pages its frames write is fine too.
    const grown = replayWal(main, craftedWal(main, [{ pgno: mainPages + 1, commitSize: 0 }, { pgno: mainPages + 2, commitSize: mainPages + 2 }]));
    expect(grown.bytes.length).toBe(main.length + 2 * pageSizeOf(main));

    writeFileSync(`${db(from)}-wal`, craftedWal(main, [{ pgno: 1, commitSize: 0xffffffff }]));
    await expectRefused(from, /state\/openclaw\.sqlite-wal cannot be applied: the -wal file's last commit says the database has 4294967295 pages/);
  });

  test('a database or -wal file larger than the importer reads is refused before it is read', async () => {
    for (const file of ['openclaw.sqlite-wal', 'openclaw.sqlite']) {
      const from = copyOpenclawState(tmp());
      // Sparse: a size on disk only; reading it would take a GiB of memory.
      truncateSync(join(from, 'state', file), MAX_SOURCE_FILE_BYTES + 1);
      let err: Error | undefined;
      await readOpenclawSource(from).catch((e: Error) => (err = e));
      expect(err).toBeInstanceOf(SourceRefused);
      expect(err!.message).toBe(`${from}: state/${file} is ${MAX_SOURCE_FILE_BYTES + 1} bytes, larger than the 1 GiB this importer reads`);
    }
  });
});

/** SQLite's WAL checksum (fileformat2.html#walformat), little-endian words, over `data` from `s`. */
function walChecksum(data: Buffer, s: [number, number]): [number, number] {
  let [s0, s1] = s;
  for (let i = 0; i < data.length; i += 8) {
    s0 = (s0 + data.readUInt32LE(i) + s1) >>> 0;
    s1 = (s1 + data.readUInt32LE(i + 4) + s0) >>> 0;
  }
  return [s0, s1];
}

/** A little-endian WAL for `main` whose frames (each a copy of page 1) carry the given page numbers and commit sizes, checksums right. */
function craftedWal(main: Buffer, frames: { pgno: number; commitSize: number }[]): Buffer {
  const pageSize = pageSizeOf(main);
  const header = Buffer.alloc(32);
  header.writeUInt32BE(0x377f0682, 0);
  header.writeUInt32BE(3007000, 4);
  header.writeUInt32BE(pageSize, 8);
  header.writeUInt32BE(0, 12);
  header.writeUInt32BE(0x1234, 16);
  header.writeUInt32BE(0x5678, 20);
  let s = walChecksum(header.subarray(0, 24), [0, 0]);
  header.writeUInt32BE(s[0], 24);
  header.writeUInt32BE(s[1], 28);
  const out = [header];
  for (const f of frames) {
    const fh = Buffer.alloc(24);
    fh.writeUInt32BE(f.pgno, 0);
    fh.writeUInt32BE(f.commitSize >>> 0, 4);
    header.copy(fh, 8, 16, 24);
    const page = Buffer.from(main.subarray(0, pageSize));
    s = walChecksum(Buffer.concat([fh.subarray(0, 8), page]), s);
    fh.writeUInt32BE(s[0], 16);
    fh.writeUInt32BE(s[1], 20);
    out.push(fh, page);
  }
  return Buffer.concat(out);
}

test('pending pairing requests are reported as not carried (the device asks again here)', async () => {
  const from = copyOpenclawState(tmp());
  await rewrite(from, "INSERT INTO device_pairing_pending (request_id, device_id, public_key, ts) VALUES ('r-1', 'd', 'k', 1);");
  const report = await importOpenclaw({ from, stateDir: join(tmp(), 'ours'), dryRun: true, log: silentLogger() });
  expect(report.items.find((i) => i.kind === 'pending-pairing')).toMatchObject({ outcome: 'skipped', source: '1 request(s) waiting for approval in OpenClaw' });
});

test('devices that cannot be imported are skipped with the reason and an audit line (allowed: false); silent approvals are pointed out', async () => {
  const from = copyOpenclawState(tmp());
  const [laptop, phone, node] = ['fixture-laptop', 'fixture-phone', 'fixture-node'].map((n) => fx.devices.find((d) => d.displayName === n)!);
  await rewrite(
    from,
    `UPDATE device_pairing_paired SET public_key = '${phone.publicKey}' WHERE device_id = '${laptop.deviceId}';
     UPDATE device_pairing_paired SET role = 'admin-bot', roles_json = '["admin-bot"]' WHERE device_id = '${phone.deviceId}';
     UPDATE device_pairing_paired SET approved_via = 'silent' WHERE device_id = '${node.deviceId}';`,
  );
  const logs = new LogCapture();
  const report = await importOpenclaw({ from, stateDir: join(tmp(), 'ours'), log: createLogger({ level: 'info', destination: logs }) });
  const item = (id: string) => report.items.find((i) => i.kind === 'device' && i.source.startsWith(id))!;
  expect(item(laptop.deviceId)).toMatchObject({ outcome: 'skipped', reason: 'the device id is not the SHA-256 of its public key' });
  expect(item(phone.deviceId)).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('role "admin-bot" has no legacy equivalent here') });
  expect(item(node.deviceId)).toMatchObject({ outcome: 'imported', notes: [expect.stringContaining('approved it silently')] });
  const audits = logs.audits('device.import.openclaw');
  expect(audits.filter((a) => a.allowed === false)).toHaveLength(2);
  expect(audits.filter((a) => a.allowed === true).map((a) => a.deviceId)).toEqual([node.deviceId]);
  expect(JSON.stringify(logs.lines)).not.toContain(node.deviceToken);
});

test('a device id already registered here with another key is not overwritten', async () => {
  const from = copyOpenclawState(tmp());
  const stateDir = join(tmp(), 'ours');
  const laptop = fx.devices.find((d) => d.displayName === 'fixture-laptop')!;
  const store = await openStore({ stateDir, log: silentLogger() });
  const devices = await openDevices(store);
  const other = { id: laptop.deviceId, label: 'someone else', role: 'operator', scopes: ['operator.read'], status: 'active' as const, source: 'legacy' as const, previousSerials: [], createdAt: 1, legacy: { publicKey: 'another-key' } };
  await devices.mutate((tx) => tx.put(other));
  await store.close();
  const report = await importOpenclaw({ from, stateDir, log: silentLogger() });
  expect(report.items.find((i) => i.source.startsWith(laptop.deviceId))).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('a legacy device with another key') });
  const after = await openStore({ stateDir, log: silentLogger() });
  expect((await openDevices(after)).get(laptop.deviceId)).toEqual(other);
  await after.close();
});

test('$include in openclaw.json is resolved as OpenClaw does; one outside the folder is refused', async () => {
  const from = copyOpenclawState(tmp());
  writeFileSync(join(from, 'auth.json5'), `{ mode: 'token', token: '${fx.sharedToken}' }`);
  writeFileSync(join(from, 'openclaw.json'), `{ gateway: { auth: { $include: './auth.json5' }, port: 1 }, agents: { $include: ['a.json5', 'b.json5'], defaults: { model: 'openai/gpt-4o' } } }`);
  writeFileSync(join(from, 'a.json5'), `{ list: [{ id: 'one' }] }`);
  writeFileSync(join(from, 'b.json5'), `{ list: [{ id: 'two' }] }`);
  const src = await readOpenclawSource(from);
  expect(src.config).toEqual({ gateway: { auth: { mode: 'token', token: fx.sharedToken }, port: 1 }, agents: { list: [{ id: 'one' }, { id: 'two' }], defaults: { model: 'openai/gpt-4o' } } });

  writeFileSync(join(from, 'openclaw.json'), `{ gateway: { $include: '../outside.json5' } }`);
  writeFileSync(join(from, '..', 'outside.json5'), '{}');
  await expectRefused(from, /openclaw\.json cannot be read: openclaw\.json: \$include \.\.\/outside\.json5 is outside the OpenClaw folder/);
  writeFileSync(join(from, 'openclaw.json'), `{ $include: './openclaw.json' }`);
  await expectRefused(from, /includes itself/);
});

describe('$include limits', () => {
  /** Ten files, each including the next four times side by side: 4^10 includes if each were resolved anew. */
  function chain(from: string, wide: number): void {
    writeFileSync(join(from, 'openclaw.json'), JSON.stringify({ $include: Array(wide).fill('inc-1.json') }));
    for (let i = 1; i <= 10; i++) {
      writeFileSync(join(from, `inc-${i}.json`), i < 10 ? JSON.stringify({ $include: Array(wide).fill(`inc-${i + 1}.json`) }) : '{ "gateway": { "port": 1 } }');
    }
  }

  test('a file included many times side by side at each level is refused quickly, naming the limit', async () => {
    const from = copyOpenclawState(tmp());
    chain(from, 4);
    await expectRefused(from, /openclaw\.json cannot be read: inc-\d+\.json: \$include inc-\d+\.json: more than 100 includes in all/);
    chain(from, 6);
    await expectRefused(from, /more than 100 includes in all/);
  }, 10_000);

  test('included files that come to more than 4 MB in all are refused; the same file included twice is read and merged as before', async () => {
    const from = copyOpenclawState(tmp());
    writeFileSync(join(from, 'big.json'), JSON.stringify({ agents: { list: [{ id: 'x'.repeat(1024 * 1024) }] } }));
    writeFileSync(join(from, 'openclaw.json'), JSON.stringify({ $include: ['big.json', 'big.json'] }));
    expect((await readOpenclawSource(from)).config).toEqual({ agents: { list: [{ id: 'x'.repeat(1024 * 1024) }, { id: 'x'.repeat(1024 * 1024) }] } });
    writeFileSync(join(from, 'openclaw.json'), JSON.stringify({ $include: Array(5).fill('big.json') }));
    await expectRefused(from, /openclaw\.json cannot be read: openclaw\.json: \$include big\.json: the included files come to more than 4 MB in all/);
    // One file over the limit alone is refused before it is read.
    writeFileSync(join(from, 'huge.json'), `{ "a": "${'y'.repeat(5 * 1024 * 1024)}" }`);
    writeFileSync(join(from, 'openclaw.json'), JSON.stringify({ gateway: { $include: 'huge.json' } }));
    await expectRefused(from, /openclaw\.json cannot be read: huge\.json: the included files come to more than 4 MB in all/);
    // So is an openclaw.json over the limit itself.
    writeFileSync(join(from, 'openclaw.json'), `{ "a": "${'z'.repeat(5 * 1024 * 1024)}" }`);
    await expectRefused(from, /openclaw\.json is \d+ bytes, larger than the 4 MB this importer reads/);
  }, 10_000);
});
