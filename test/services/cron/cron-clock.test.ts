/**
 * On PostgreSQL, cron keeps the database server's time (a real server): a replica whose
 * clock is 7 s ahead says so at start and does not fire a job 7 s early; with the
 * database clock switched off, or on the files backend, cron keeps the local clock.
 */
import { ManualClock } from '../../../src/clock';
import type { CronService } from '../../../src/services/cron/cron-service';
import { capturingLogger } from '../helpers';
import { useCronWorld } from './cron-harness';

const ping = { kind: 'systemEvent' as const, text: 'ping' };

describe('cron time on PostgreSQL', () => {
  const world = useCronWorld('postgres');

  async function aheadBy(ms: number, databaseClock: boolean): Promise<{ svc: CronService; clock: ManualClock; lines: string[] }> {
    const { logger, lines } = capturingLogger();
    const clock = new ManualClock(Date.now() + ms);
    const svc = await world().make({ clock, logger, options: { databaseClock } });
    await svc.start();
    return { svc, clock, lines };
  }

  it('a replica whose clock is 7 s ahead warns at start and fires a one-shot when the database says it is due, not 7 s early', async () => {
    const { svc, clock, lines } = await aheadBy(7000, true);
    const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string; offsetMs?: number }).filter((l) => l.offsetMs !== undefined);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].msg).toMatch(/^this machine's clock is (6\.[5-9]|7\.0) s ahead of the database server's: cron follows the database's clock/);
    expect(warnings[0].offsetMs).toBeLessThan(-6000);
    const job = await svc.add({ name: 'soon', schedule: { kind: 'at', atMs: Date.now() + 3000 }, payload: ping });
    // By this machine's clock the job is 4 s overdue; by the database's it is due in 3 s.
    expect(clock.now()).toBeGreaterThan(job.nextRunAtMs);
    expect(await svc.tick()).toEqual([]);
    clock.advance(5000);
    expect((await svc.tick()).map((r) => r.jobId)).toEqual([job.jobId]);
  });

  it('with the database clock switched off, the local clock rules (and nothing is measured)', async () => {
    const { svc, lines } = await aheadBy(7000, false);
    expect(lines.filter((l) => l.includes('offsetMs'))).toEqual([]);
    const job = await svc.add({ name: 'soon', schedule: { kind: 'at', atMs: Date.now() + 3000 }, payload: ping });
    expect((await svc.tick()).map((r) => r.jobId)).toEqual([job.jobId]);
  });

  it('a replica whose clock agrees with the database says nothing', async () => {
    const { lines } = await aheadBy(0, true);
    expect(lines.filter((l) => l.includes('offsetMs'))).toEqual([]);
  });
});

describe('cron time on files', () => {
  const world = useCronWorld('files');

  it('keeps the local clock (one machine): a job due by it fires', async () => {
    const clock = new ManualClock(Date.now() + 7000);
    const svc = await world().make({ clock, options: { databaseClock: true } });
    const job = await svc.add({ name: 'soon', schedule: { kind: 'at', atMs: Date.now() + 3000 }, payload: ping });
    expect((await svc.tick()).map((r) => r.jobId)).toEqual([job.jobId]);
  });
});
