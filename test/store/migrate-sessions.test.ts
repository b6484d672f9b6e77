/**
 * `openclaw-gateway migrate-store --to URL` with sessions: every session and transcript
 * kept in the state dir (including those imported from an earlier release's transcripts
 * folder) is copied to PostgreSQL, verified, and running it again writes nothing; a
 * SessionService on the database then serves the same sessions and histories. A real
 * PostgreSQL server is started by this file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/clock';
import { statePaths } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { AgentCatalog } from '../../src/services/agent/agent-catalog';
import { BuiltinProvider } from '../../src/services/agent/builtin-provider';
import { RecordingPublisher } from '../../src/services/events/event-publisher';
import { SessionService } from '../../src/services/sessions/session-service';
import type { StoreBackend } from '../../src/store/collection';
import { openStore } from '../../src/store/open-store';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { BIN } from '../helpers/processes';
import { runCertsTools, runNode } from '../helpers/run-cli';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';

let pg: TestPostgres;
let root: string;
const stores: StoreBackend[] = [];
beforeAll(async () => {
  pg = await startPostgres();
  root = makeTmpDir('migrate-sessions-');
});
afterAll(async () => {
  for (const s of stores) await s.close();
  await pg?.stop();
  if (root) removeTmpDir(root);
});

async function sessionsAt(stateDir: string, databaseUrl?: string): Promise<SessionService> {
  const store = await openStore({ stateDir, databaseUrl, log: silentLogger() });
  stores.push(store);
  return SessionService.open({
    store,
    legacyDir: statePaths(stateDir).sessionsDir,
    agents: new AgentCatalog({ providers: [new BuiltinProvider()] }),
    clock: new ManualClock(1_700_000_000_000),
    events: new RecordingPublisher(),
    logger: silentLogger(),
  });
}

test('files -> PostgreSQL: sessions and transcripts copied and verified, idempotent, then served from the database', async () => {
  const state = `${root}/state`;
  expect((await runCertsTools(['--state-dir', state, 'init'])).code).toBe(0);
  // A transcript an earlier release left, and a session made with this one.
  const legacyId = 'sess_00000000000000c3';
  mkdirSync(statePaths(state).sessionsDir, { recursive: true });
  const legacyMessages = [
    { messageId: 'msg_1', role: 'user', text: 'from before', tsMs: 1_690_000_000_000, runId: 'run_1', status: 'ok' },
    { messageId: 'msg_2', role: 'assistant', text: 'Echo: from before (2 words)', tsMs: 1_690_000_001_000, runId: 'run_1', status: 'ok' },
  ];
  writeFileSync(
    join(statePaths(state).sessionsDir, `${legacyId}.json`),
    JSON.stringify({ version: 1, session: { sessionId: legacyId, label: 'old', agentId: 'main', createdAtMs: 1_690_000_000_000, updatedAtMs: 1_690_000_001_000 }, messages: legacyMessages }),
  );
  const files = await sessionsAt(state);
  const { sessionId } = await files.create({ label: 'new' });
  await files.send(sessionId, 'hello there');
  const expected = files.list().map((s) => ({ info: s, history: files.history(s.sessionId) }));
  expect(expected.map((e) => e.info.label).sort()).toEqual(['new', 'old']);
  await stores.pop()!.close();

  const url = await pg.createDatabase('migrated');
  const first = await runNode(BIN.gateway, ['migrate-store', '--state-dir', state, '--to', url]);
  expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
  // Two heads and four messages; two directory entries.
  expect(first.stdout).toContain('session_messages: 6 records, 6 written, verified');
  expect(first.stdout).toContain('sessions: 2 records, 2 written, verified');
  const again = await runNode(BIN.gateway, ['migrate-store', '--state-dir', state, '--to', url]);
  expect(again.stdout).toContain('session_messages: 6 records, 0 written, verified');
  expect(again.stdout).toContain('sessions: 2 records, 0 written, verified');

  const onDb = await sessionsAt(state, url);
  expect(onDb.list().map((s) => ({ info: s, history: onDb.history(s.sessionId) }))).toEqual(expected);
  expect(onDb.history(legacyId).map((m) => m.messageId)).toEqual(['msg_1', 'msg_2']);
});
