/**
 * The real OpenClaw Control UI (the `dist/control-ui` bundle of the pinned openclaw npm
 * package, installed into the user's cache on first use) in the system's Chromium,
 * served by our bridge from its own origin, end to end as a user meets it: open the page
 * with the gateway token, see "Approve this browser", approve with our `openclaw-cli
 * devices approve` (a certificate made here), Connect, use the Automations page and the
 * chat, reload. Screenshots go to test-artifacts/control-ui/ (not committed).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CliRunner, writeIdentity } from '../cli/cli-harness';
import { eventually } from '../helpers/eventually';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { silentLogger } from '../../src/logging';
import { startWorker, type RunningWorker } from '../../src/worker/cron-worker';
import { useTmpDirs } from '../helpers/tmp';
import { ensureRealClients } from '../legacy-clients/real-clients';
import { connectParams, LegacyClient, newLegacyDevice, signDevice, type Frame, type LegacyDevice } from '../bridge/legacy-client';
import { chromiumPath, launchChromium, PageTap } from './browser';

/** First use downloads the real clients (~300 MB); later runs find them in the cache. */
const INSTALL_TIMEOUT_MS = 12 * 60_000;
/** Where screenshots go (from dist/test/control-ui: the project folder). */
const ARTIFACTS = resolve(__dirname, '..', '..', '..', 'test-artifacts', 'control-ui');
/** The scopes the Control UI asks for (openclaw@2026.9.6). */
const UI_SCOPES = ['operator.admin', 'operator.read', 'operator.write', 'operator.approvals', 'operator.questions', 'operator.pairing'];
const JOB_NAME = 'ui-test-nightly-report';
/** A job made through the legacy protocol (`cron.add` from a paired legacy device). */
const LEGACY_JOB = 'ui-test-legacy-digest';
/** A job made with the UI's "New automation" form. */
const UI_JOB = 'ui-test-made-in-browser';
/** A session made with our CLI (over gRPC), shown in the sidebar. */
const SIDE_SESSION = 'ui-test-side-notes';
const CHAT_TEXT = 'hello from the control ui';
/** A DNS name for the gateway (mapped to 127.0.0.1 inside the browser only). */
const DNS_NAME = 'gateway.test';

jest.setTimeout(60_000);
const tmpDir = useTmpDirs('control-ui-');
let t: TestGateway;
/** The cron runner (a backend client over gRPC with the gateway's worker certificate): executes "Run now". */
let worker: RunningWorker;
let base: string;
let token: string;
let operator: CliRunner;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let tap: PageTap;
let requestId: string;
let deviceToken: string;
/** Index in tap.calls from which every request must succeed (after the approval). */
let approvedFrom = 0;

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

/** Runs a step and takes its screenshot whether it passed or not (a failed step's picture, and its accessibility tree, show why). */
async function step(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    await page
      .locator('body')
      .ariaSnapshot()
      .then((aria) => writeFileSync(join(ARTIFACTS, `${name}.failed.aria.txt`), aria))
      .catch(() => undefined);
    throw err;
  } finally {
    await shot(name).catch(() => undefined);
  }
}

/** Our CLI's view of the cron jobs (over gRPC). */
async function cronJobs(): Promise<{ jobId: string; name: string; enabled: boolean; schedule: unknown; payload: unknown; lastRunAtMs?: string; lastStatus?: string }[]> {
  return (await operator.json<{ jobs: any[] }>('cron', 'list')).jobs;
}

/** A signed connect of a legacy device with the shared token (a fresh socket); the first one is refused NOT_PAIRED. */
async function legacyConnect(device: LegacyDevice, scopes: string[], client?: Record<string, unknown>): Promise<{ c: LegacyClient; res: Frame }> {
  const c = await LegacyClient.open(t.gw.bridgeUrl!);
  const nonce = await c.challenge();
  const res = await c.request('connect', signDevice(connectParams({ scopes, auth: { token }, ...(client ? { client } : {}) }), device, nonce));
  return { c, res };
}

/** A legacy device paired by the operator with our CLI, connected. */
async function pairedLegacyClient(scopes: string[]): Promise<LegacyClient> {
  const device = newLegacyDevice();
  const first = await legacyConnect(device, scopes);
  if (first.res.ok) throw new Error('a new legacy device got in without approval');
  await first.c.close();
  await operator.ok('devices', 'approve', first.res.error.details.requestId);
  const { c, res } = await legacyConnect(device, scopes);
  if (!res.ok) throw new Error(`legacy connect after approval failed: ${JSON.stringify(res.error)}`);
  return c;
}

/** The session's requests and answers, secrets replaced, for a look after the run. */
function writeSessionLog(): void {
  const secrets = [token, deviceToken].filter(Boolean);
  const text = JSON.stringify({ calls: tap.calls.map((c) => ({ method: c.method, params: c.method === 'connect' ? { ...c.params, device: '<device proof>' } : c.params, ok: c.ok, error: c.error })), events: tap.events, pageErrors: tap.pageErrors, consoleErrors: tap.consoleErrors, failedLoads: tap.failedLoads }, null, 1);
  writeFileSync(join(ARTIFACTS, 'session-log.json'), secrets.reduce((out, s) => out.split(s).join('<secret>'), text));
}

/** Moves the single-page app to a route as its own links do (no reload). */
async function navigate(route: string): Promise<void> {
  await page.evaluate(`history.pushState({}, '', ${JSON.stringify(route)}); dispatchEvent(new PopStateEvent('popstate'));`);
}

/** Waits until the page has no request in flight (it settles after each screen's first calls). */
async function settled(what: string): Promise<void> {
  await eventually(`${what}: every request answered`, () => tap.calls.length > 0 && tap.unanswered().length === 0, 15_000);
}

beforeAll(async () => {
  // Fail at once, with how to install it, when the browser is missing.
  chromiumPath();
  const clients = await ensureRealClients();
  mkdirSync(ARTIFACTS, { recursive: true });
  t = await startTestGateway({ bridge: true, controlUiRoot: clients.controlUiRoot });
  base = t.gw.bridgeUrl!.replace(/^ws:/, 'http:').replace(/\/$/, '');
  token = readFileSync(t.gw.legacyTokenFile!, 'utf8').trim();
  // An operator certificate made for this test, used by our CLI (over gRPC, mTLS).
  const certs = tmpDir();
  writeIdentity(certs, t, await t.gw.registry.provision({ role: 'operator', label: 'ui-test-operator' }));
  operator = new CliRunner({ home: tmpDir(), gateway: t.address, certs });
  await operator.ok('cron', 'add', '--name', JOB_NAME, '--every', '6h', '--message', 'write the nightly report');
  await operator.ok('sessions', 'create', '--label', SIDE_SESSION);
  // A job made through the legacy protocol, in the legacy shape (schedule {kind, everyMs}, payload {kind, message}).
  const legacy = await pairedLegacyClient(['operator.admin']);
  const added = await legacy.request('cron.add', { name: LEGACY_JOB, enabled: true, schedule: { kind: 'every', everyMs: 12 * 3_600_000 }, sessionTarget: 'isolated', wakeMode: 'now', payload: { kind: 'agentTurn', message: 'send the digest' } });
  await legacy.close();
  if (!added.ok) throw new Error(`legacy cron.add failed: ${JSON.stringify(added.error)}`);
  worker = startWorker({ gateway: t.address, certsDir: t.gw.identities.worker, log: silentLogger() });
  browser = await launchChromium({ mapToLoopback: [DNS_NAME] });
  context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
  tap = new PageTap(page);
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  if (tap) writeSessionLog();
  await browser?.close();
  await worker?.stop();
  await t?.close();
});

test('the bridge serves the UI on its origin; the browser passes the token and is asked to be approved', async () => {
  await step('1-approve-this-browser', async () => {
    await page.goto(`${base}/#token=${encodeURIComponent(token)}`);
    await page.getByText('Approve this browser').waitFor({ timeout: 20_000 });
  });
  const shown = /openclaw devices approve ([0-9a-f-]{36})/.exec(await page.locator('body').innerText());
  expect(shown).not.toBeNull();
  requestId = shown![1];

  const connect = tap.calls.find((c) => c.method === 'connect')!;
  expect(connect.params).toMatchObject({ client: { id: 'openclaw-control-ui', mode: 'webchat' }, role: 'operator', scopes: UI_SCOPES, device: { id: expect.any(String) }, auth: { token } });
  expect(connect.error).toMatchObject({ code: 'NOT_PAIRED', details: { code: 'PAIRING_REQUIRED', requestId } });
  // The same queue as every device: our CLI lists it.
  const list = await operator.json<{ pending: Record<string, unknown>[] }>('devices', 'list');
  expect(list.pending).toEqual(expect.arrayContaining([expect.objectContaining({ requestId, deviceId: connect.params.device.id })]));
  // The fragment with the token is gone from the address bar.
  expect(page.url()).not.toContain(token);
});

test('approved with `openclaw-cli devices approve`, Connect gets hello-ok with a device token', async () => {
  expect(await operator.ok('devices', 'approve', requestId)).toMatch(/^Approved legacy /);
  approvedFrom = tap.calls.length;
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  const hello = await eventually('hello-ok after Connect', () => tap.hellos[0], 20_000);
  // The approval, not a silent pairing: the connect that got in is the one after it.
  expect(hello).toMatchObject({ type: 'hello-ok', protocol: 4, auth: { role: 'operator', method: 'token', deviceToken: expect.any(String) } });
  expect([...hello.auth.scopes].sort()).toEqual([...UI_SCOPES].sort());
  deviceToken = hello.auth.deviceToken;
  await step('2-connected', () => settled('first screen after connect'));
});

test('the Automations page lists a cron job created over gRPC', async () => {
  await step('3-automations', async () => {
    await navigate('/automations');
    await page.getByText(JOB_NAME).first().waitFor({ timeout: 15_000 });
    await settled('automations');
  });
});

test('a chat message goes to the builtin echo model and its answer is shown', async () => {
  await step('4-chat', async () => {
    await navigate('/chat');
    const composer = page.locator('textarea[aria-label="Chat composer"]:visible');
    await composer.waitFor({ timeout: 15_000 });
    await composer.fill(CHAT_TEXT);
    await composer.press('Enter');
    await page.getByText(`Echo: ${CHAT_TEXT} (5 words)`).first().waitFor({ timeout: 15_000 });
    // The sent message stays in the transcript next to the answer (the composer is empty again).
    await page.getByText(CHAT_TEXT, { exact: true }).first().waitFor({ timeout: 5_000 });
    expect(await composer.inputValue()).toBe('');
    await settled('chat');
  });
});

test('a reload keeps the session: it reconnects with the device token, no new pairing', async () => {
  const before = tap.hellos.length;
  const sent = tap.calls.length;
  await page.reload();
  const hello = await eventually('hello-ok after the reload', () => tap.hellos[before], 20_000);
  expect(hello.auth).toMatchObject({ role: 'operator', deviceToken });
  const reconnect = tap.calls.slice(sent).find((c) => c.method === 'connect')!;
  expect(reconnect.params.auth).toMatchObject({ deviceToken });
  await step('5-after-reload', () => settled('after reload'));
  expect(await page.getByText('Approve this browser').count()).toBe(0);
  const list = await operator.json<{ pending: Record<string, unknown>[] }>('devices', 'list');
  expect(list.pending).toEqual([]);
});

test('a page served under a DNS name is refused until its origin is in bridge.controlUi.allowedOrigins', async () => {
  const origin = `http://${DNS_NAME}:${new URL(base).port}`;
  const other = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    const p = await other.newPage();
    const otherTap = new PageTap(p);
    await p.goto(`${origin}/#token=${encodeURIComponent(token)}`);
    const refused = await eventually('the refused connect', () => otherTap.calls.find((c) => c.method === 'connect' && c.ok === false), 20_000);
    expect(refused.error).toEqual({
      code: 'INVALID_REQUEST',
      message: 'origin not allowed (open the Control UI from the gateway host or allow it in bridge.controlUi.allowedOrigins)',
      details: { code: 'CONTROL_UI_ORIGIN_NOT_ALLOWED', reason: 'origin not allowed' },
    });
    await p.getByText(/origin not allowed/i).first().waitFor({ timeout: 15_000 });
    await p.screenshot({ path: join(ARTIFACTS, '6-origin-not-allowed.png') });
    expect(t.logs.audits('bridge.connect').filter((l) => l.origin === origin).pop()).toMatchObject({ allowed: false, originCheck: 'origin not allowed' });

    // The operator lists the origin (applied to the next connection); opened again with the
    // token (the refused page does not keep it), the page gets as far as the approval.
    await operator.ok('gateway-config', 'patch', JSON.stringify({ bridge: { controlUi: { allowedOrigins: [origin] } } }));
    await p.goto('about:blank');
    await p.goto(`${origin}/#token=${encodeURIComponent(token)}`);
    try {
      await p.getByText('Approve this browser').waitFor({ timeout: 20_000 });
    } finally {
      await p.screenshot({ path: join(ARTIFACTS, '7-listed-origin-approve.png') });
      writeFileSync(join(ARTIFACTS, 'origin-log.json'), JSON.stringify({ calls: otherTap.calls.map((c) => ({ method: c.method, ok: c.ok, error: c.error })), pageErrors: otherTap.pageErrors, consoleErrors: otherTap.consoleErrors, sockets: otherTap.sockets }, null, 1));
    }
    expect(t.logs.audits('bridge.connect').filter((l) => l.origin === origin).pop()).toMatchObject({ allowed: false, originCheck: 'allowlist', reason: 'PAIRING_REQUIRED' });
  } finally {
    await other.close();
  }
});

test('the sidebar lists the other sessions (the main one is the agent\'s Home), the Sessions page lists agent:main:main', async () => {
  // The bundle leaves the selected agent's main session out of the sidebar's SESSIONS list (it is the
  // agent's Home, as on the real gateway); a session made with our CLI is listed there.
  await step('8-sidebar-sessions', async () => {
    await navigate('/chat');
    await page.getByText(SIDE_SESSION).first().waitFor({ timeout: 15_000 });
    await settled('sidebar');
  });
  await step('9-sessions-page', async () => {
    await navigate('/sessions');
    await page.getByText('agent:main:main').first().waitFor({ timeout: 15_000 });
    await settled('sessions page');
    // The status column: no turn is running in any session, so each is "Idle" (never "Unknown").
    const row = page.getByRole('row').filter({ hasText: 'agent:main:main' }).first();
    expect(await row.innerText()).toMatch(/\bIdle\b/);
    expect(await page.getByRole('row').filter({ hasText: 'Unknown' }).count()).toBe(0);
  });
});

/** What the Automations list shows for a job: its line, from its name to its actions (name, agent, schedule, next run, last run). */
async function jobLine(name: string): Promise<string> {
  const text = (await page.getByRole('tabpanel').innerText()).replace(/\s+/g, ' ');
  const at = text.indexOf(`${name} `);
  if (at < 0) return '';
  // The line ends at its switch's label ("Pause: <name>" / "Resume: <name>").
  const end = text.indexOf(`: ${name}`, at);
  return text.slice(at, end < 0 ? undefined : end);
}

test('Automations lists the job made through the legacy protocol with its schedule', async () => {
  await step('10-automations-legacy-job', async () => {
    await navigate('/automations');
    await page.getByRole('button', { name: `Run now: ${LEGACY_JOB}` }).waitFor({ timeout: 15_000 });
    expect(await jobLine(LEGACY_JOB)).toMatch(/Every 12h in 12h n\/a/);
    await settled('automations');
  });
});

test('Automations: create a job with the form, pause, resume, run now (its last run shown), delete; each seen by our CLI', async () => {
  await step('11-automation-form', async () => {
    await page.getByRole('button', { name: 'New automation' }).click();
    await page.getByRole('textbox', { name: /^Prompt/ }).fill('tidy the inbox');
    await page.getByRole('textbox', { name: /^Name/ }).fill(UI_JOB);
    await page.getByRole('textbox', { name: /^Every/ }).fill('45');
  });
  await step('12-automation-created', async () => {
    await page.getByRole('button', { name: 'Create automation', exact: true }).click();
    await page.getByRole('button', { name: `Run now: ${UI_JOB}` }).waitFor({ timeout: 15_000 });
    expect(await jobLine(UI_JOB)).toMatch(/Every 45m in 45m n\/a/);
  });
  const made = await eventually('the job made in the UI, seen by our CLI', async () => (await cronJobs()).find((j) => j.name === UI_JOB), 10_000);
  expect(made).toMatchObject({ enabled: true, schedule: { everyMs: '2700000' }, payload: { agentTurn: { message: 'tidy the inbox' } } });
  const toggle = page.getByRole('switch', { name: new RegExp(`^(Pause|Resume): ${UI_JOB}$`) });

  await step('13-automation-paused', async () => {
    await toggle.click({ force: true }); // the switch's drawn track covers its input: the click lands where a user's does
    await eventually('paused, seen by our CLI', async () => (await cronJobs()).find((j) => j.jobId === made.jobId)?.enabled === false, 10_000);
    await eventually('the switch shows it paused', async () => !(await toggle.isChecked()), 10_000);
  });
  await step('14-automation-resumed', async () => {
    await toggle.click({ force: true });
    await eventually('resumed, seen by our CLI', async () => (await cronJobs()).find((j) => j.jobId === made.jobId)?.enabled === true, 10_000);
    await eventually('the switch shows it active', () => toggle.isChecked(), 10_000);
  });
  await step('15-automation-ran', async () => {
    expect(await jobLine(UI_JOB)).toMatch(/n\/a/);
    const eventsBefore = tap.events.length;
    const callsBefore = tap.calls.length;
    await page.getByRole('button', { name: `Run now: ${UI_JOB}` }).click();
    const ran = await eventually('a finished run, seen by our CLI', async () => {
      const j = (await cronJobs()).find((x) => x.jobId === made.jobId);
      return j?.lastRunAtMs && j.lastStatus ? j : undefined;
    }, 20_000);
    expect(ran.lastStatus).toBe('ok');
    const shown = async () => !/n\/a/.test(await jobLine(UI_JOB));
    // The page reloads its list when the run's `cron` events arrive; the echo agent can finish
    // a run while the page is still reloading after "Run now", and the page then keeps its
    // older list (a page-side race the real gateway's slower runs rarely meet). A user who
    // sees "n/a" presses the list's refresh button: so does this test, after a while.
    const automatic = await eventually('the last run shown in the list', shown, 8_000).then(
      () => true,
      () => false,
    );
    if (!automatic) {
      await page.getByRole('button', { name: /refresh/i }).first().click();
      await eventually('the last run shown in the list after a refresh', shown, 10_000).catch((err: Error) => {
        const after = tap.events.slice(eventsBefore);
        const calls = tap.calls.slice(callsBefore).map((c) => c.method);
        throw new Error(`${err.message}; events since Run now: ${after.filter((e) => e !== 'tick').join(' ')}; calls: ${calls.join(' ')}`);
      });
    }
  });
  await step('16-automation-deleted', async () => {
    await page.getByRole('button', { name: `More actions for ${UI_JOB}` }).click();
    await page.getByRole('menuitem', { name: 'Remove' }).click();
    // The UI asks to confirm: "Remove "<name>"? This permanently deletes the automation..." [Remove].
    await page.getByText(`Remove "${UI_JOB}"?`).first().waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: 'Remove', exact: true }).click();
    await page.getByRole('button', { name: `Run now: ${UI_JOB}` }).waitFor({ state: 'detached', timeout: 15_000 });
    await eventually('deleted, seen by our CLI', async () => !(await cronJobs()).some((j) => j.jobId === made.jobId), 10_000);
  });
  await settled('automations after delete');
});

test('Devices page: a pending pairing request of another legacy device is shown and approved in the UI, through the same queue as our CLI', async () => {
  const other = newLegacyDevice();
  const { c, res: refused } = await legacyConnect(other, ['operator.read'], { id: 'cli', version: '2026.9.6', platform: 'Linux', mode: 'cli', displayName: 'ui-test-laptop' });
  expect(refused.error).toMatchObject({ code: 'NOT_PAIRED', details: { code: 'PAIRING_REQUIRED' } });
  const otherRequest = refused.error.details.requestId as string;
  await c.close();
  expect((await operator.json<{ pending: { requestId: string; deviceId: string }[] }>('devices', 'list')).pending).toEqual(expect.arrayContaining([expect.objectContaining({ requestId: otherRequest, deviceId: other.id })]));

  await step('17-devices-pending', async () => {
    await navigate('/settings/devices');
    await page.getByText(otherRequest.slice(0, 8)).or(page.getByText('ui-test-laptop')).first().waitFor({ timeout: 15_000 });
    await settled('devices page');
  });
  await step('18-devices-approved', async () => {
    // One pending entry per request (the browser refused above is pending too): approve the laptop's.
    await page.locator('.device-entry').filter({ hasText: 'ui-test-laptop' }).getByRole('button', { name: 'Approve', exact: true }).click();
    await eventually('approved, seen by our CLI', async () => {
      const list = await operator.json<{ pending: { requestId: string }[]; devices: { deviceId: string; status: string }[] }>('devices', 'list');
      return !list.pending.some((r) => r.requestId === otherRequest) && list.devices.some((d) => d.deviceId === other.id);
    }, 10_000);
    await page.getByText('ui-test-laptop').first().waitFor({ timeout: 10_000 });
    await eventually('the laptop no longer pending on the page', async () => (await page.locator('.device-entry').filter({ hasText: 'ui-test-laptop' }).getByRole('button', { name: 'Approve', exact: true }).count()) === 0, 10_000);
  });
  const list = await operator.json<{ devices: { deviceId: string; status: string }[] }>('devices', 'list');
  expect(list.devices.find((d) => d.deviceId === other.id)).toMatchObject({ status: expect.stringMatching(/active|approved/i) });
});

/**
 * Every route of the bundle's router (openclaw@2026.9.6), main pages and deeper ones. Aliases
 * (`/cron`, `/config`...) lead to these.
 */
const ROUTES = [
  '/chat', '/sessions', '/automations', '/agents', '/activity', '/dashboard', '/dashboards', '/custodian', '/new', '/meetings',
  '/apps', '/portals', '/terminal', '/workboard', '/worktrees', '/systems', '/usage', '/debug', '/logs', '/skills',
  '/skills/workshop', '/plugins', '/plugin', '/tasks', '/memory-import', '/settings', '/settings/general', '/settings/connection',
  '/settings/devices', '/settings/device', '/settings/device/permissions', '/settings/agents', '/settings/channels',
  '/settings/profile', '/settings/communications', '/settings/appearance', '/settings/lobsterdex', '/settings/notifications',
  '/settings/security', '/settings/secrets', '/settings/advanced', '/settings/approvals', '/settings/automation', '/settings/mcp',
  '/settings/memory', '/settings/search', '/settings/talk', '/settings/infrastructure', '/settings/labs', '/settings/updates',
  '/settings/about', '/settings/ai-agents', '/settings/model-setup', '/settings/model-providers', '/settings/skills',
  '/settings/plugins', '/settings/cloud-workers',
];

/**
 * Answers the session may get that are not `ok`, each with why; anything else failing fails the test.
 * The Memory page asks whether its memory plugin's config has a `dreaming` section; there are no plugins
 * here, so the path does not exist, and the real gateway answers a path it lacks with this same error
 * (the page reads the failure as "unknown" and shows nothing about it).
 */
const EXPECTED_REFUSALS: { method: string; params: Record<string, unknown>; error: Record<string, unknown> }[] = [
  { method: 'config.schema.lookup', params: { path: 'plugins.entries.memory-core.config' }, error: { code: 'INVALID_REQUEST', message: 'config schema path not found' } },
];

function expectedRefusal(c: { method: string; params: any; error?: any }): boolean {
  return EXPECTED_REFUSALS.some((r) => r.method === c.method && Object.entries(r.params).every(([k, v]) => c.params?.[k] === v) && Object.entries(r.error).every(([k, v]) => c.error?.[k] === v));
}

/** Resolves after `n` frames the page renders. */
const FRAMES = (n: number) => `new Promise((r) => { let k = ${n}; const f = () => (--k <= 0 ? r() : requestAnimationFrame(f)); requestAnimationFrame(f); })`;

/**
 * Waits until the page is quiet: no HTTP load in flight, every WebSocket request answered, and
 * nothing new sent over six rendered frames (a page sends its first calls as it renders, and the
 * calls an answer leads to within a frame or two of it).
 */
async function quiet(what: string): Promise<void> {
  await eventually(`${what}: every request answered`, async () => {
    if (tap.httpInFlight > 0 || tap.unanswered().length > 0) return false;
    const sent = tap.calls.length;
    await page.evaluate(FRAMES(6));
    return tap.calls.length === sent && tap.httpInFlight === 0 && tap.unanswered().length === 0;
  }, 15_000);
}

/** Where the bundle's own router sends a route (the same on the real gateway); every other route stays where it is. */
const REDIRECTS: Record<string, string> = {
  '/chat': '/chat/main',
  '/dashboard': '/dashboard/main',
  '/settings': '/chat/main',
  '/settings/general': '/settings/appearance',
  '/settings/model-setup': '/settings/model-providers',
};

test(`every route of the UI (${ROUTES.length}) renders and each of its calls is answered`, async () => {
  const routeDir = join(ARTIFACTS, 'routes');
  mkdirSync(routeDir, { recursive: true });
  const calledOn: Record<string, string[]> = {};
  for (const route of ROUTES) {
    const from = tap.calls.length;
    const errorsBefore = tap.pageErrors.length;
    const consoleBefore = tap.consoleErrors.length;
    await navigate(route);
    await quiet(route);
    await page.screenshot({ path: join(routeDir, `${route.slice(1).replace(/\//g, '_')}.png`) });
    // The route led where the bundle's router sends it (its own page, or its known redirect), and what its page called.
    const landed = new URL(page.url()).pathname;
    expect({ route, landed }).toEqual({ route, landed: REDIRECTS[route] ?? route });
    calledOn[`${route} -> ${landed}`] = tap.calls.slice(from).map((c) => `${c.method}${c.ok ? '' : ` (${c.error?.code ?? 'no answer'})`}`);
    // A page that threw or logged an error is named here; the whole-session test below lists every error too.
    expect({ route, pageErrors: tap.pageErrors.slice(errorsBefore), consoleErrors: tap.consoleErrors.slice(consoleBefore) }).toEqual({ route, pageErrors: [], consoleErrors: [] });
    // Something is drawn: the page has text beyond the navigation.
    expect((await page.locator('body').innerText()).trim().length).toBeGreaterThan(0);
  }
  writeFileSync(join(routeDir, 'calls-per-route.json'), JSON.stringify(calledOn, null, 1));
  // The deeper pages were reached: calls only they make were sent and answered.
  const answered = new Set(tap.calls.filter((c) => c.ok).map((c) => c.method));
  for (const method of ['skills.status', 'skills.library.list', 'skills.proposals.list', 'doctor.memory.status', 'webSearch.status', 'themes.list', 'diagnostics.lanes', 'migrations.memory.plan']) expect(answered).toContain(method);
}, 180_000);

/** Distinct entries with how often each came. */
function counted(items: string[]): string[] {
  const n = new Map<string, number>();
  for (const i of items) n.set(i, (n.get(i) ?? 0) + 1);
  return [...n].map(([i, k]) => (k > 1 ? `${i} (${k}x)` : i));
}

test('over the whole session: no uncaught page error, no console error, every request after the approval answered ok (but the listed refusals)', () => {
  const after = tap.calls.slice(approvedFrom);
  expect(after.length).toBeGreaterThan(10);
  expect({
    pageErrors: counted(tap.pageErrors),
    consoleErrors: counted(tap.consoleErrors.map((e) => `${e.text} (${e.url})`)),
    failedRequests: counted(after.filter((c) => c.ok !== true && !expectedRefusal(c)).map((c) => `${c.method}: ${c.error ? `${c.error.code} ${c.error.message}` : 'no answer'}`)),
  }).toEqual({ pageErrors: [], consoleErrors: [], failedRequests: [] });
});
