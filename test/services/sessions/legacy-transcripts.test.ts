/**
 * The files backend side of sessions: the one-file-per-session transcripts folder of
 * earlier releases imported once (all or nothing; a broken file named), and what an
 * append costs on a long transcript: the journal grows by about the new messages, not
 * by the transcript.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../../src/clock';
import { silentLogger } from '../../../src/logging';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { AgentCatalog } from '../../../src/services/agent/agent-catalog';
import { BuiltinProvider } from '../../../src/services/agent/builtin-provider';
import { readLegacyTranscripts } from '../../../src/services/sessions/legacy-transcripts';
import { SESSION_MESSAGES, SESSIONS, validateSessionRecord, validateTranscriptRecord } from '../../../src/services/sessions/session-records';
import { SessionService, type SessionServiceDeps } from '../../../src/services/sessions/session-service';
import { FilesBackend } from '../../../src/store/journal-collection';
import { importIntoEmpty } from '../../../src/store/legacy-import';
import { snapshotTree, useTmpDirs } from '../../helpers/tmp';
import { caught } from '../helpers';

const tmp = useTmpDirs('sessions-legacy-');
const backends: FilesBackend[] = [];
afterEach(async () => {
  for (const b of backends.splice(0)) await b.close();
});

const T0 = 1_690_000_000_000;
const catalog = new AgentCatalog({ providers: [new BuiltinProvider()] });

/** A state dir: its store folder, and the transcripts folder an earlier release left. */
function stateDir(): { storeDir: string; legacyDir: string } {
  const root = tmp();
  return { storeDir: join(root, 'store'), legacyDir: join(root, 'sessions') };
}

function open(storeDir: string, over: Partial<SessionServiceDeps> = {}): Promise<SessionService> {
  const store = new FilesBackend({ dir: storeDir, log: silentLogger() });
  backends.push(store);
  return SessionService.open({ store, agents: catalog, clock: new ManualClock(T0 + 3600_000), events: new RecordingPublisher(), logger: silentLogger(), ...over });
}

/** A transcript file as earlier releases wrote it. */
function writeTranscript(dir: string, sessionId: string, label: string, texts: string[], extra: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  const messages = texts.map((text, i) => ({ messageId: `msg_${sessionId.slice(5)}${i}`, role: i % 2 ? 'assistant' : 'user', text, tsMs: T0 + i * 1000, runId: `run_${i >> 1}`, status: 'ok' }));
  const session = { sessionId, label, agentId: 'main', createdAtMs: T0, updatedAtMs: T0 + texts.length * 1000 };
  writeFileSync(join(dir, `${sessionId}.json`), JSON.stringify({ version: 1, session, messages, ...extra }) + '\n');
}

const S1 = 'sess_00000000000000a1';
const S2 = 'sess_00000000000000b2';

test('a transcripts folder is imported once: sessions, histories and ids kept, the folder renamed, other files left alone', async () => {
  const { storeDir, legacyDir } = stateDir();
  writeTranscript(legacyDir, S1, 'first', ['hi', 'Echo: hi (1 word)', 'how are you', 'Echo: how are you (3 words)']);
  writeTranscript(legacyDir, S2, '', []);
  writeFileSync(join(legacyDir, 'notes.txt'), 'not a transcript');
  writeFileSync(join(legacyDir, `.${S1}.json.123.abcd.tmp`), '{ half-written');

  const svc = await open(storeDir, { legacyDir });
  expect(svc.list().map((s) => [s.sessionId, s.label, s.messageCount, s.updatedAtMs])).toEqual([
    [S1, 'first', 4, T0 + 4000],
    [S2, '', 0, T0],
  ]);
  expect(svc.history(S1).map((m) => [m.messageId, m.role, m.text, m.tsMs, m.runId])).toEqual([
    [`msg_00000000000000a10`, 'user', 'hi', T0, 'run_0'],
    [`msg_00000000000000a11`, 'assistant', 'Echo: hi (1 word)', T0 + 1000, 'run_0'],
    [`msg_00000000000000a12`, 'user', 'how are you', T0 + 2000, 'run_1'],
    [`msg_00000000000000a13`, 'assistant', 'Echo: how are you (3 words)', T0 + 3000, 'run_1'],
  ]);
  expect(existsSync(legacyDir)).toBe(false);
  expect(readFileSync(join(`${legacyDir}.imported`, 'notes.txt'), 'utf8')).toBe('not a transcript');
  expect(existsSync(join(`${legacyDir}.imported`, `${S1}.json`))).toBe(true);

  // Imported sessions go on as any other; a restart imports nothing twice.
  await svc.send(S1, 'still here');
  const again = await open(storeDir, { legacyDir });
  expect(again.history(S1)).toHaveLength(6);
  expect(again.list()).toHaveLength(2);
});

test('a broken transcript stops the start with the file named; nothing is imported and the folder is left as it was', async () => {
  for (const broken of ['{ broken', JSON.stringify({ version: 1, session: { sessionId: S2, agentId: 'main', createdAtMs: T0 }, messages: [{ messageId: 'm', role: 'robot', text: 'x', tsMs: T0 }] })]) {
    const { storeDir, legacyDir } = stateDir();
    writeTranscript(legacyDir, S1, 'good', ['hi', 'there']);
    writeFileSync(join(legacyDir, `${S2}.json`), broken);
    const before = snapshotTree(legacyDir);

    const err = await caught(() => open(storeDir, { legacyDir }));
    expect([err.code, err.reason]).toEqual(['FAILED_PRECONDITION', 'STATE_CORRUPT']);
    expect(err.message).toContain(`${join(legacyDir, `${S2}.json`)} (a session transcript of an earlier release) cannot be imported: `);
    expect(err.message).toContain('nothing was imported');
    expect(snapshotTree(legacyDir)).toEqual(before);
    const store = new FilesBackend({ dir: storeDir, log: silentLogger() });
    backends.push(store);
    expect((await store.collection(SESSIONS, validateSessionRecord)).list()).toEqual([]);
    expect((await store.collection(SESSION_MESSAGES, validateTranscriptRecord)).list()).toEqual([]);
  }
});

test('a transcript naming another session than its file is refused too', async () => {
  const { storeDir, legacyDir } = stateDir();
  writeTranscript(legacyDir, S1, 'x', ['hi']);
  writeFileSync(join(legacyDir, `${S2}.json`), readFileSync(join(legacyDir, `${S1}.json`)));
  const err = await caught(() => open(storeDir, { legacyDir }));
  expect(err.reason).toBe('STATE_CORRUPT');
  expect(err.message).toContain(`${S2}.json`);
  expect(err.message).toContain('names another session');
});

test('the import keeps the newest maxKeptMessages of a long transcript', async () => {
  const { storeDir, legacyDir } = stateDir();
  writeTranscript(legacyDir, S1, 'long', ['1', '2', '3', '4', '5']);
  const svc = await open(storeDir, { legacyDir, limits: { maxKeptMessages: 3 } });
  expect(svc.history(S1).map((m) => m.text)).toEqual(['3', '4', '5']);
  expect(svc.describe(S1).messageCount).toBe(3);
});

test('a start that stopped between importing the transcripts and the sessions finishes the import without duplicates', async () => {
  const { storeDir, legacyDir } = stateDir();
  writeTranscript(legacyDir, S1, 'half', ['a', 'b']);
  const store = new FilesBackend({ dir: storeDir, log: silentLogger() });
  backends.push(store);
  // What the first step of an interrupted import committed.
  await importIntoEmpty(await store.collection(SESSION_MESSAGES, validateTranscriptRecord), readLegacyTranscripts(legacyDir, 1000)!.transcripts);
  const svc = await open(storeDir, { legacyDir });
  expect(svc.list().map((s) => [s.sessionId, s.messageCount])).toEqual([[S1, 2]]);
  expect(svc.history(S1).map((m) => m.text)).toEqual(['a', 'b']);
  expect(existsSync(`${legacyDir}.imported`)).toBe(true);
});

test('appending to a long transcript writes about the new messages, not the transcript', async () => {
  const { storeDir, legacyDir } = stateDir();
  const texts = Array.from({ length: 2000 }, (_, i) => `${i} ${'x'.repeat(1000)}`);
  writeTranscript(legacyDir, S1, 'long', texts);
  const svc = await open(storeDir, { legacyDir, limits: { maxKeptMessages: 5000 } });
  const journal = join(storeDir, `${SESSION_MESSAGES}.journal`);
  const directory = join(storeDir, `${SESSIONS}.journal`);
  const before = { size: statSync(journal).size, lines: readFileSync(journal, 'utf8').split('\n').length, directory: statSync(directory).size };
  expect(before.size).toBeGreaterThan(2_000_000);

  await svc.send(S1, 'one more');
  const added = svc.history(S1, 2);
  expect(added.map((m) => m.text)).toEqual(['one more', 'Echo: one more (2 words)']);
  const grown = statSync(journal).size - before.size;
  // Two lines (claim with the user message, end with the reply), each the message plus the small head.
  expect(readFileSync(journal, 'utf8').split('\n').length - before.lines).toBe(2);
  expect(grown).toBeGreaterThan(JSON.stringify(added).length);
  expect(grown).toBeLessThan(JSON.stringify(added).length + 1200);
  expect(statSync(directory).size).toBe(before.directory);
});
