/**
 * Smoke test of the benchmark harness (npm run bench): one real scenario in quick mode
 * through the harness API (connect: forks the gateway and the bare grpc-js server as
 * child processes, opens fresh mTLS channels), and the JSON report writer. It checks
 * that numbers, baselines and ratios are produced, never their values: those depend on
 * the machine.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildReport, formatReport, runScenario, runScenarios, SCENARIOS, selectScenarios, writeReport } from '../../bench/harness';
import { ComponentMissing, type Scenario } from '../../bench/types';

const tmp = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const isNumber = (n: unknown) => typeof n === 'number' && Number.isFinite(n);

describe('bench harness', () => {
  test('knows every scenario of the issue, and refuses unknown names', () => {
    expect(SCENARIOS.map((s) => s.name)).toEqual(['issuance', 'pairing', 'connect', 'unary', 'fanout', 'bridge', 'cli', 'startup', 'chat', 'cron', 'cron-growth', 'storage', 'scale-out', 'real-gateway']);
    for (const s of SCENARIOS) expect(s.description.length).toBeGreaterThan(10);
    expect(() => selectScenarios(['connect', 'nope'])).toThrow(/unknown scenario nope/);
  });

  test('real-gateway is skipped with one line when the real gateway cannot be installed', async () => {
    const saved = process.env.OPENCLAW_REAL_CLIENTS_CACHE;
    // A cache folder that cannot be created (under a file): nothing can be installed there.
    const file = join(mkdtempSync(join(tmpdir(), 'bench-real-')), 'a-file');
    writeFileSync(file, '');
    process.env.OPENCLAW_REAL_CLIENTS_CACHE = join(file, 'cache');
    try {
      const r = await runScenario(selectScenarios(['real-gateway'])[0], { quick: true });
      expect(r.error).toBeUndefined();
      expect(r.figures).toEqual([]);
      expect(r.skipped).toMatch(/^real OpenClaw gateway not available: real legacy clients missing .* cannot create the cache folder/);
      expect(r.skipped).not.toContain('\n');
    } finally {
      if (saved === undefined) delete process.env.OPENCLAW_REAL_CLIENTS_CACHE;
      else process.env.OPENCLAW_REAL_CLIENTS_CACHE = saved;
      rmSync(dirname(file), { recursive: true, force: true });
    }
  });

  test('the quick connect scenario yields gateway and baseline latencies and their ratio', async () => {
    const report = await runScenarios(selectScenarios(['connect']), { quick: true });
    expect(report.summary).toMatchObject({ scenarios: 1, skipped: [], failed: [] });
    const [r] = report.results;
    expect(r.error).toBeUndefined();
    expect(r.scenario).toBe('connect');
    const gateway = r.figures.find((f) => f.baseline);
    expect(gateway).toBeDefined();
    expect(isNumber(gateway!.value) && gateway!.value > 0).toBe(true);
    expect(isNumber(gateway!.p50)).toBe(true);
    expect(isNumber(gateway!.p99)).toBe(true);
    expect(isNumber(gateway!.baseline!.value) && gateway!.baseline!.value > 0).toBe(true);
    expect(isNumber(gateway!.ratio)).toBe(true);
    expect(gateway!.baseline!.name).toMatch(/bare grpc-js/);
    expect(formatReport(report)).toContain('mTLS connect + first Ping, gateway');
  });

  test('a missing component is a skip with a note, any other error a failure; neither stops the run', async () => {
    const missing: Scenario = {
      name: 'missing',
      description: 'needs something not built yet',
      run: () => Promise.reject(new ComponentMissing('the widget is not built')),
    };
    const broken: Scenario = { name: 'broken', description: 'throws while measuring', run: () => Promise.reject(new Error('boom')) };
    const skipped = await runScenario(missing, { quick: true });
    expect(skipped).toMatchObject({ scenario: 'missing', figures: [], skipped: 'the widget is not built' });
    expect(skipped.error).toBeUndefined();
    const failed = await runScenario(broken, { quick: true });
    expect(failed.scenario).toBe('broken');
    expect(failed.error).toMatch(/boom/);
    const report = await runScenarios([missing, broken], { quick: true });
    expect(report.summary).toMatchObject({ scenarios: 2, skipped: ['missing'], failed: ['broken'] });
  });

  test('the JSON file has the machine, every scenario, and target/met on every figure', () => {
    const report = buildReport(
      [
        {
          scenario: 'unary',
          figures: [
            { name: 'Ping', unit: 'calls/s', value: 900, p50: 1, p99: 2, baseline: { name: 'bare', value: 1000 }, ratio: 0.9, target: '>= 0.8x bare', met: true },
            { name: 'CPU per call', unit: 'us', value: 50 },
          ],
        },
        { scenario: 'bridge', figures: [], skipped: 'not built' },
      ],
      { quick: true, startedAt: new Date(0).toISOString(), wallMs: 1234 },
    );
    const file = writeReport(report, join(tmp, 'nested', 'latest.json'));
    const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
    expect(Object.keys(json.machine).sort()).toEqual(['cores', 'cpu', 'memoryGb', 'node', 'os']);
    expect(json.machine.node).toBe(process.version);
    expect(json.machine.cores).toBeGreaterThan(0);
    expect(json).toMatchObject({ quick: true, wallMs: 1234, startedAt: '1970-01-01T00:00:00.000Z' });
    expect(json.results.map((r: { scenario: string }) => r.scenario)).toEqual(['unary', 'bridge']);
    expect(json.results[0].figures[0]).toMatchObject({ value: 900, p50: 1, p99: 2, baseline: { name: 'bare', value: 1000 }, ratio: 0.9, target: '>= 0.8x bare', met: true });
    expect(json.results[0].figures[1]).toMatchObject({ value: 50, target: null, met: null });
    expect(json.results[1]).toMatchObject({ skipped: 'not built', figures: [] });
    expect(json.summary).toEqual({ scenarios: 2, skipped: ['bridge'], failed: [], targets: 1, met: 1, notMet: [] });
  });
});
