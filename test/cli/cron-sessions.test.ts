/**
 * cron, sessions and chat commands of the built CLI against a real gateway (built-in
 * echo agent, no cron worker: manual runs stay pending).
 */
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { useTmpDirs } from '../helpers/tmp';
import { cliFor, type CliRunner } from './cli-harness';

const tmp = useTmpDirs('openclaw-cli-');
let t: TestGateway;
let cli: CliRunner;

interface JobJson {
  jobId: string;
  name: string;
  enabled: boolean;
  schedule: { cron?: string; everyMs?: string; atMs?: string; tz: string };
  payload: { agentTurn?: { message: string; sessionKey: string; agentId: string }; systemEvent?: { text: string } };
  nextRunAtMs: string;
}

beforeAll(async () => {
  t = await startTestGateway();
  cli = cliFor(t, tmp());
});
afterAll(async () => {
  await t.close();
});

describe('cron', () => {
  test('add (cron, every, at), list, get', async () => {
    const daily = (await cli.json<{ job: JobJson }>('cron', 'add', '--name', 'morning', '--cron', '0 7 * * *', '--tz', 'Europe/Berlin', '--message', 'good morning', '--session', 'daily')).job;
    expect(daily).toMatchObject({ name: 'morning', enabled: true, schedule: { cron: '0 7 * * *', tz: 'Europe/Berlin' }, payload: { agentTurn: { message: 'good morning', sessionKey: 'daily', agentId: '' } } });
    expect(Number(daily.nextRunAtMs)).toBeGreaterThan(Date.now());

    const every = (await cli.json<{ job: JobJson }>('cron', 'add', '--name', 'poll', '--every', '5m', '--system-event', 'poll now', '--disabled')).job;
    expect(every).toMatchObject({ enabled: false, schedule: { everyMs: '300000' }, payload: { systemEvent: { text: 'poll now' } } });

    const when = new Date(Date.now() + 3_600_000).toISOString();
    expect(await cli.ok('cron', 'add', '--name', 'once', '--at', when, '--message', 'reminder')).toMatch(/^Added job \S+ "once" \(at /);

    const list = await cli.json<{ jobs: JobJson[] }>('cron', 'list');
    expect(list.jobs.map((j) => j.name).sort()).toEqual(['morning', 'once', 'poll']);
    const table = await cli.ok('cron', 'list');
    expect(table.split('\n')[0]).toMatch(/^ID +NAME +ENABLED +SCHEDULE +NEXT RUN +LAST +PAYLOAD$/);
    expect(table).toContain('cron "0 7 * * *" (Europe/Berlin)');
    expect(table).toContain('every 5m');

    const got = await cli.json<{ job: JobJson }>('cron', 'get', daily.jobId);
    expect(got.job.jobId).toBe(daily.jobId);
    expect(await cli.ok('cron', 'get', daily.jobId)).toMatch(/^job: +\S+\nname: +morning\nenabled: +yes/);
  });

  test('update keeps what is not given; enable, disable, run, runs, status, rm', async () => {
    const job = (await cli.json<{ job: JobJson }>('cron', 'add', '--name', 'report', '--every', '1h', '--message', 'write the report', '--agent', 'main')).job;
    const updated = (await cli.json<{ job: JobJson }>('cron', 'update', job.jobId, '--session', 'reports', '--name', 'weekly-report')).job;
    expect(updated).toMatchObject({ name: 'weekly-report', schedule: { everyMs: '3600000' }, payload: { agentTurn: { message: 'write the report', sessionKey: 'reports', agentId: 'main' } } });

    expect((await cli.json<{ job: JobJson }>('cron', 'disable', job.jobId)).job.enabled).toBe(false);
    expect(await cli.ok('cron', 'enable', job.jobId)).toContain(`Enabled job ${job.jobId} "weekly-report"`);

    const run = await cli.json<{ run: { runId: string; jobId: string; trigger: string } }>('cron', 'run', job.jobId);
    expect(run.run).toMatchObject({ jobId: job.jobId, trigger: 'manual' });
    const runs = await cli.json<{ runs: { runId: string }[] }>('cron', 'runs', job.jobId, '--limit', '5');
    expect(runs.runs.map((r) => r.runId)).toContain(run.run.runId);
    expect(await cli.json('cron', 'status')).toMatchObject({ jobs: expect.any(Number), runsPending: expect.any(Number) });

    expect(await cli.json('cron', 'rm', job.jobId)).toEqual({ removed: true });
    const again = await cli.fails('cron', 'rm', job.jobId);
    expect(again.code).toBe(6);
    expect(again.line).toBe(`openclaw-cli: error: no cron job ${job.jobId}`);
  });

  test('usage errors are caught before calling the gateway (exit 2)', async () => {
    const cases: [string[], string][] = [
      [['cron', 'add', '--name', 'x', '--message', 'm'], 'needs one of --cron'],
      [['cron', 'add', '--name', 'x', '--every', '1h'], 'needs --message'],
      [['cron', 'add', '--name', 'x', '--every', '1h', '--cron', '* * * * *', '--message', 'm'], 'only one of --cron, --every and --at'],
      [['cron', 'add', '--name', 'x', '--every', 'soon', '--message', 'm'], '--every: "soon" is not a duration'],
      [['cron', 'add', '--name', 'x', '--at', 'tomorrow', '--message', 'm'], '--at: "tomorrow" is not an ISO time'],
      [['cron', 'add', '--name', 'x', '--every', '1h', '--message', 'm', '--system-event', 'e'], 'either --message'],
      [['cron', 'get'], "missing required argument 'job'"],
    ];
    for (const [args, text] of cases) {
      const r = await cli.fails(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.line).toContain(text);
    }
  });
});

describe('sessions and chat', () => {
  test('create, list, describe, chat send streams the reply, history, abort, delete', async () => {
    const created = await cli.json<{ session: { sessionId: string; label: string } }>('sessions', 'create', '--label', 'cli-test');
    const id = created.session.sessionId;
    expect(created.session.label).toBe('cli-test');
    const list = await cli.json<{ sessions: { sessionId: string }[] }>('sessions', 'list');
    expect(list.sessions.map((s) => s.sessionId)).toContain(id);
    expect(await cli.ok('sessions', 'list')).toMatch(/^ID +LABEL +AGENT +MESSAGES +BUSY +UPDATED\n/);

    expect(await cli.ok('chat', 'send', id, 'hello', 'there')).toBe('Echo: hello there (2 words)\n');
    const chunks = (await cli.ok('--json', 'chat', 'send', id, 'again')).trim().split('\n').map((l) => JSON.parse(l) as { stream: string; phase: string; delta: string; text: string });
    expect(chunks[0]).toMatchObject({ stream: 'lifecycle', phase: 'start' });
    expect(chunks.filter((c) => c.stream === 'assistant').map((c) => c.delta).join('')).toBe('Echo: again (1 word)');
    expect(chunks[chunks.length - 1]).toMatchObject({ phase: 'end', text: 'Echo: again (1 word)' });

    const history = await cli.json<{ messages: { role: string; text: string }[] }>('sessions', 'history', id);
    expect(history.messages.map((m) => [m.role, m.text])).toEqual([
      ['user', 'hello there'],
      ['assistant', 'Echo: hello there (2 words)'],
      ['user', 'again'],
      ['assistant', 'Echo: again (1 word)'],
    ]);
    expect(await cli.ok('sessions', 'history', id, '--limit', '1')).toMatch(/^\S+Z assistant: Echo: again \(1 word\)\n$/);
    expect(await cli.json('sessions', 'describe', id)).toMatchObject({ session: { sessionId: id, messageCount: 4, busy: false } });
    expect(await cli.json('chat', 'abort', id)).toEqual({ aborted: false });

    expect(await cli.ok('sessions', 'delete', id)).toBe(`Deleted session ${id}\n`);
    const gone = await cli.fails('sessions', 'describe', id);
    expect(gone.code).toBe(6);
  });
});
