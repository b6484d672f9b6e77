/**
 * The storage contract's two backends side by side, through the device registry: a
 * write (rename: one record changed, one transaction) and the read every gRPC call makes
 * (`authenticate` -> `get` from the local copy), with 1,000 registered devices. Files:
 * the journal in a temp state dir; PostgreSQL: a private server this scenario starts
 * (skipped when PostgreSQL is not installed), durable as in production (fsync and
 * synchronous commit on, as the files backend fsyncs every write). Same run, same
 * machine: compare ratios.
 */
import { ManualClock } from '../../src/clock';
import { CertificateAuthority, certIdentity, DeviceRegistry, generateKeyPair, type CertIdentity } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import type { StoreBackend } from '../../src/store/collection';
import { openDevices } from '../../src/store/device-store';
import { FilesBackend } from '../../src/store/journal-collection';
import { PostgresBackend } from '../../src/store/postgres/postgres-backend';
import { startPostgres, type TestPostgres } from '../../test/helpers/postgres';
import { freshDir } from '../lib/fixture';
import { latencyStats, nowMs, round } from '../measure';
import { ComponentMissing, type Figure, type Scenario, type ScenarioOptions, type ScenarioResult } from '../types';

interface Measured {
  writesPerSec: number;
  writeP50: number;
  writeP99: number;
  readUs: number;
}

async function measure(store: StoreBackend, devicesCount: number, writes: number, reads: number): Promise<Measured> {
  const clock = new ManualClock(Date.now());
  const { certPem, keyPem } = CertificateAuthority.create('bench-storage.local', clock.now());
  const ca = new CertificateAuthority(certPem, keyPem, 'bench-storage.local');
  const registry = new DeviceRegistry({ store: await openDevices(store), ca, clock, log: silentLogger() });
  // Devices registered from CSR-less keys in one go would dominate: register a few real
  // ones, then grow the collection with copies under other ids (a record is a record).
  const key = generateKeyPair('p256');
  const ids: CertIdentity[] = [];
  for (let i = 0; i < 10; i++) {
    const issued = await registry.provision({ role: 'node', label: `real-${i}`, keys: i === 0 ? key : undefined });
    ids.push(certIdentity(issued.certPem));
  }
  const devices = await openDevices(store);
  await devices.mutate((tx) => {
    const template = tx.get(ids[0].deviceId)!;
    for (let i = 0; i < devicesCount; i++) tx.put({ ...template, id: i.toString(16).padStart(64, '0'), label: `filler-${i}` });
  });
  const times: number[] = [];
  const t0 = nowMs();
  for (let i = 0; i < writes; i++) {
    const s = nowMs();
    await registry.rename(ids[i % ids.length].deviceId, `renamed-${i}`);
    times.push(nowMs() - s);
  }
  const elapsed = nowMs() - t0;
  const st = latencyStats(times);
  const r0 = nowMs();
  for (let i = 0; i < reads; i++) registry.authenticate(ids[i % ids.length]);
  const readUs = ((nowMs() - r0) / reads) * 1000;
  return { writesPerSec: (writes / elapsed) * 1000, writeP50: st.p50, writeP99: st.p99, readUs };
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const count = opts.quick ? 200 : 1000;
  const writes = opts.quick ? 100 : 1000;
  const reads = opts.quick ? 2000 : 20000;
  let pg: TestPostgres;
  try {
    pg = await startPostgres({ durable: true });
  } catch (err) {
    throw new ComponentMissing(`PostgreSQL: ${(err as Error).message}`);
  }
  const files = new FilesBackend({ dir: freshDir('storage'), log: silentLogger() });
  let db: PostgresBackend | undefined;
  try {
    db = await PostgresBackend.open({ url: await pg.createDatabase('bench'), log: silentLogger() });
    const f = await measure(files, count, writes, reads);
    const p = await measure(db, count, writes, reads);
    const figures: Figure[] = [
      { name: 'registry write (rename), files journal', unit: 'writes/s', value: round(f.writesPerSec, 1), p50: round(f.writeP50, 3), p99: round(f.writeP99, 3) },
      {
        name: 'registry write (rename), PostgreSQL',
        unit: 'writes/s',
        value: round(p.writesPerSec, 1),
        p50: round(p.writeP50, 3),
        p99: round(p.writeP99, 3),
        baseline: { name: 'files journal, same run', value: round(f.writesPerSec, 1) },
        ratio: round(p.writesPerSec / f.writesPerSec, 2),
      },
      { name: 'per-call device check (authenticate), files journal', unit: 'us/call', value: round(f.readUs, 2) },
      {
        name: 'per-call device check (authenticate), PostgreSQL',
        unit: 'us/call',
        value: round(p.readUs, 2),
        baseline: { name: 'files journal, same run', value: round(f.readUs, 2) },
        ratio: round(p.readUs / f.readUs, 2),
      },
    ];
    return {
      scenario: 'storage',
      figures,
      notes: [
        `${count + 10} devices; ${writes} sequential renames (each one durable transaction: fsync / COMMIT); ${reads} authenticate calls from the local copy`,
        'durable on both sides, so the write figures compare like with like: PostgreSQL is a private server on 127.0.0.1 with fsync=on and synchronous_commit=on (a COMMIT waits for its WAL on disk); files: fsync per write',
      ],
    };
  } finally {
    await files.close();
    await db?.close();
    await pg.stop();
  }
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'storage',
  description: 'device registry on the files journal vs PostgreSQL: durable writes and the per-call read',
  run,
};
