/**
 * The cron records and their store: what is refused when read back, the import of an
 * earlier release's cron.json, a damaged record in either backend, the index following
 * another opener's writes, and the cost of adding a job staying per job (files).
 */
import { existsSync, readFileSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { validateCronRecord, recordsOfLegacyDoc, jobKey, type JobRecord } from '../../../src/services/cron/cron-records';
import { CronStore } from '../../../src/services/cron/cron-store';
import { caught } from '../helpers';
import { BACKENDS, MIN, recorder, T0, until, useCronWorld } from './cron-harness';

const job = (over: Record<string, unknown> = {}) => ({
  id: 'job:job_1',
  kind: 'job',
  jobId: 'job_1',
  seq: 1,
  activeRunId: '',
  name: 'poll',
  enabled: true,
  schedule: { kind: 'every', everyMs: MIN },
  payload: { kind: 'systemEvent', text: 'ping' },
  createdAtMs: T0,
  updatedAtMs: T0,
  nextRunAtMs: T0 + MIN,
  lastRunAtMs: 0,
  lastStatus: '',
  ...over,
});
const run = (over: Record<string, unknown> = {}) => ({
  id: 'run:crun_1',
  kind: 'run',
  runId: 'crun_1',
  jobId: 'job_1',
  seq: 2,
  status: 'pending',
  scheduledAtMs: T0,
  startedAtMs: 0,
  finishedAtMs: 0,
  durationMs: 0,
  error: '',
  sessionId: '',
  output: '',
  trigger: 'schedule',
  replicaId: '',
  workerId: '',
  ...over,
});
const replica = (over: Record<string, unknown> = {}) => ({ id: 'replica:rep_1', kind: 'replica', replicaId: 'rep_1', aliveUntilMs: T0, startedAtMs: T0, host: 'h', pid: 1, ...over });

describe('cron records', () => {
  it('accepts each kind of record', () => {
    for (const r of [job(), run(), replica(), replica({ beat: 12 }), { id: 'counter:seq', kind: 'counter', value: 3 }]) expect(validateCronRecord(structuredClone(r))).toEqual(r);
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', 'job', /needs a string id/],
    ['no id', { kind: 'job' }, /needs a string id/],
    ['an unknown kind', { id: 'x:1', kind: 'task' }, /kind must be job, run, replica or counter/],
    ['a job under another id', job({ id: 'job:other' }), /id must be job:<jobId>/],
    ['a job without a name', job({ name: 3 }), /name must be a string/],
    ['a job with a string flag', job({ enabled: 'true' }), /enabled must be a boolean/],
    ['a job with an unknown schedule', job({ schedule: { kind: 'hourly' } }), /schedule is malformed/],
    ['a job without a payload', job({ payload: null }), /payload is malformed/],
    ['a job with a text time', job({ nextRunAtMs: '12' }), /nextRunAtMs must be a number/],
    ['a job with an infinite time', job({ createdAtMs: Infinity }), /createdAtMs must be a number/],
    ['a job with an odd last status', job({ lastStatus: 'maybe' }), /lastStatus/],
    ['a job without its active run field', job({ activeRunId: undefined }), /activeRunId must be a string/],
    ['a run under another id', run({ id: 'run:x' }), /id must be run:<runId>/],
    ['a run with an unknown status', run({ status: 'lost' }), /status is not a run status/],
    ['a run with an unknown trigger', run({ trigger: 'cosmic ray' }), /trigger must be/],
    ['a run without its claim fields', run({ workerId: undefined }), /workerId must be a string/],
    ['a run without a sequence', run({ seq: undefined }), /seq must be a number/],
    ['a replica under another id', replica({ id: 'replica:x' }), /id must be replica:<replicaId>/],
    ['a replica without a lease', replica({ aliveUntilMs: 'soon' }), /aliveUntilMs must be a number/],
    ['a replica with a beat that is not a number', replica({ beat: '7' }), /beat must be a number/],
    ['a counter under another id', { id: 'counter:x', kind: 'counter', value: 1 }, /counter's id must be counter:seq/],
    ['a counter without a value', { id: 'counter:seq', kind: 'counter' }, /value must be a number/],
  ])('refuses %s', (_name, raw, message) => {
    expect(() => validateCronRecord(raw)).toThrow(message);
  });

  it('turns an earlier release’s cron.json into records, in order, with what the scheduler needs', () => {
    const records = recordsOfLegacyDoc({
      version: 1,
      jobs: [{ ...job(), id: undefined, kind: undefined, seq: undefined, activeRunId: undefined }],
      runs: [
        { ...run({ runId: 'crun_old', status: 'ok' }), id: undefined, kind: undefined, seq: undefined },
        { ...run({ runId: 'crun_new', status: 'running' }), id: undefined, kind: undefined, seq: undefined, replicaId: undefined, workerId: undefined },
      ],
    });
    expect(records.map((r) => [r.id, (r as { seq?: number }).seq])).toEqual([
      ['job:job_1', 1],
      ['run:crun_old', 2],
      ['run:crun_new', 3],
      ['counter:seq', undefined],
    ]);
    expect(records[0]).toMatchObject({ kind: 'job', activeRunId: 'crun_new' });
    expect(records[2]).toMatchObject({ kind: 'run', status: 'running', replicaId: '', workerId: '' });
    expect(records[3]).toEqual({ id: 'counter:seq', kind: 'counter', value: 3 });
    expect(() => recordsOfLegacyDoc({ version: 2, jobs: [], runs: [] })).toThrow('expected {"version":1,"jobs":[...],"runs":[...]}');
    expect(() => recordsOfLegacyDoc({ version: 1, jobs: [{ jobId: 'j' }], runs: [] })).toThrow(/cron record job:j/);
  });
});

describe('import of an earlier release’s cron.json (files backend)', () => {
  const world = useCronWorld('files');
  const legacyDoc = () => ({
    version: 1,
    jobs: [job({ jobId: 'job_a', name: 'a' }), job({ jobId: 'job_b', name: 'b', enabled: false, nextRunAtMs: 0 })].map(({ id: _i, kind: _k, seq: _s, activeRunId: _a, ...j }) => j),
    runs: [run({ runId: 'crun_1', jobId: 'job_a', status: 'ok' }), run({ runId: 'crun_2', jobId: 'job_a', status: 'running', startedAtMs: T0 })].map(({ id: _i, kind: _k, seq: _s, replicaId: _r, workerId: _w, ...r }) => r),
  });

  it('imports jobs and runs once, renames the file, and hands a run left running to a worker at start', async () => {
    const legacyJson = join(world().place, 'cron.json');
    writeFileSync(legacyJson, JSON.stringify(legacyDoc()));
    const svc = await world().make({ legacyJson });
    expect(existsSync(legacyJson)).toBe(false);
    expect(existsSync(`${legacyJson}.imported`)).toBe(true);
    expect(svc.list().map((j) => [j.jobId, j.name, j.enabled])).toEqual([
      ['job_a', 'a', true],
      ['job_b', 'b', false],
    ]);
    expect(svc.listRuns().map((r) => [r.runId, r.status])).toEqual([
      ['crun_2', 'running'],
      ['crun_1', 'ok'],
    ]);
    await svc.start();
    expect(svc.listRuns('job_a')[0]).toMatchObject({ runId: 'crun_2', status: 'pending', startedAtMs: T0 });
    const w = recorder();
    svc.attachWorker('w', w.deliver);
    await svc.idle();
    expect(w.deliveries.map((d) => d.run.runId)).toEqual(['crun_2']);

    // A cron.json that shows up again later is not imported over the collection.
    writeFileSync(legacyJson, JSON.stringify({ version: 1, jobs: [], runs: [] }));
    expect((await world().make({ legacyJson })).list()).toHaveLength(2);
  });

  it('refuses a cron.json it cannot read, naming it, and leaves it where it was', async () => {
    const legacyJson = join(world().place, 'cron.json');
    writeFileSync(legacyJson, '{"version":1,"jobs":[{"jobId":7}],"runs":[]}');
    const err = await caught(() => world().make({ legacyJson }));
    expect([err.code, err.reason]).toEqual(['FAILED_PRECONDITION', 'STATE_CORRUPT']);
    expect(err.message).toContain(`${legacyJson} (cron jobs and runs of an earlier release) cannot be imported`);
    expect(readFileSync(legacyJson, 'utf8')).toContain('"jobId":7');
    writeFileSync(legacyJson, 'not json');
    expect((await caught(() => world().make({ legacyJson }))).reason).toBe('STATE_CORRUPT');
  });

  it('adding the 3,001st job appends one line to the journal; nothing is rewritten', async () => {
    const backend = await world().openBackend();
    const store = await CronStore.open(backend);
    await store.mutate((tx) => {
      for (let i = 0; i < 3000; i++) {
        const jobId = `job_${String(i).padStart(16, '0')}`;
        tx.put(job({ id: jobKey(jobId), jobId, seq: tx.nextSeq(), name: `job ${i}` }) as JobRecord);
      }
    });
    const journal = join(world().place, 'store', 'cron.journal');
    const before = readFileSync(journal);
    const svc = await world().make({ store: backend });
    expect(svc.list()).toHaveLength(3000);
    const added = await svc.add({ name: 'the 3001st', schedule: { kind: 'every', everyMs: MIN }, payload: { kind: 'systemEvent', text: 'hi' } });
    const after = readFileSync(journal);
    expect(after.subarray(0, before.length).equals(before)).toBe(true);
    const appended = after.subarray(before.length).toString('utf8');
    expect(appended.split('\n')).toHaveLength(2); // one line and its newline
    expect(appended.length).toBeLessThan(1000);
    expect(appended).toContain(added.jobId);
    expect(before.length).toBeGreaterThan(300 * 1000);
    expect(svc.list()).toHaveLength(3001);
    expect(statSync(journal).size).toBe(after.length);
  });
});

describe.each(BACKENDS)('cron store on %s', (kind) => {
  const world = useCronWorld(kind);

  it('follows another opener’s writes and deletions (another process or replica)', async () => {
    const a = await world().make();
    const b = await CronStore.open(await world().openBackend());
    const changes: string[][] = [];
    b.onChange((ch) => changes.push([...ch.kinds].sort()));
    const added = await a.add({ name: 'shared', schedule: { kind: 'every', everyMs: MIN }, payload: { kind: 'systemEvent', text: 'hi' } });
    await until(() => b.job(added.jobId) !== undefined);
    expect(b.jobList().map((j) => j.name)).toEqual(['shared']);
    const r = await a.runNow(added.jobId);
    await until(() => b.runsOf(added.jobId).length === 1);
    expect(b.run(r.runId)).toMatchObject({ status: 'pending', jobId: added.jobId });
    await a.remove(added.jobId);
    await until(() => b.job(added.jobId) === undefined && b.run(r.runId) === undefined);
    expect(b.runsOf(added.jobId)).toEqual([]);
    expect(changes.some((k) => k.includes('job'))).toBe(true);
    b.close();
  });

  it('refuses to open over a damaged cron record, saying which', async () => {
    const a = await world().make();
    await a.add({ name: 'x', schedule: { kind: 'every', everyMs: MIN }, payload: { kind: 'systemEvent', text: 'hi' } });
    const bad = JSON.stringify({ ...job({ jobId: 'job_bad', id: 'job:job_bad' }), schedule: { kind: 'weekly' } });
    if (kind === 'files') {
      appendFileSync(join(world().place, 'store', 'cron.journal'), `{"v":1,"put":[${bad}]}\n`);
    } else {
      const c = new Client({ connectionString: world().place });
      await c.connect();
      await c.query("INSERT INTO openclaw_records (collection, id, version, doc) VALUES ('cron', 'job:job_bad', 1000000, $1)", [bad]);
      await c.end();
    }
    const err = await caught(() => world().make());
    expect([err.code, err.reason]).toEqual(['FAILED_PRECONDITION', 'STATE_CORRUPT']);
    expect(err.message).toContain('cron record job:job_bad: schedule is malformed');
  });
});

