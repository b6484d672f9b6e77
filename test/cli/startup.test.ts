/**
 * Start-up cost guards: each command loads only what it needs (no node-forge, pino or
 * unrelated generated code for `cron list`; no grpc-js for `config` and `--help`), and
 * the compile cache is written once and then reused.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { useTmpDirs } from '../helpers/tmp';
import { cliFor, type CliRunner } from './cli-harness';

const tmp = useTmpDirs('openclaw-cli-startup-');
let t: TestGateway;
let cli: CliRunner;
let preload: string;

beforeAll(async () => {
  t = await startTestGateway();
  cli = cliFor(t, tmp());
  preload = join(tmp(), 'list-modules.js');
  // Loaded with --require into the child: writes every module it loaded at exit.
  writeFileSync(preload, "process.on('exit', () => require('fs').writeFileSync(process.env.MODULES_OUT, JSON.stringify(Object.keys(require.cache))));\n");
});
afterAll(async () => {
  await t.close();
});

async function modulesOf(...args: string[]): Promise<string[]> {
  const out = join(tmp(), 'modules.json');
  const runner = cli.with({ env: { NODE_OPTIONS: `--require ${preload}`, MODULES_OUT: out } });
  await runner.ok(...args);
  return JSON.parse(readFileSync(out, 'utf8')) as string[];
}

const has = (mods: string[], part: string) => mods.some((m) => m.includes(part));

test('cron list loads grpc-js and the cron protos only', async () => {
  const mods = await modulesOf('cron', 'list');
  expect(has(mods, '/@grpc/grpc-js/')).toBe(true);
  expect(has(mods, '/gen/openclaw/cron/v1/cron_pb')).toBe(true);
  for (const unwanted of ['/node-forge/', '/pino/', 'sessions_pb', 'events_pb', 'devices_pb', 'config_pb', 'pair-command', 'session-commands', '/transport/grpc/server/', '/transport/grpc/service-definition', '/@bufbuild/protobuf/dist/commonjs/index.js']) {
    expect({ unwanted, loaded: has(mods, unwanted) }).toEqual({ unwanted, loaded: false });
  }
});

test('config and --help never load grpc-js or generated code', async () => {
  for (const args of [['config'], ['--help']]) {
    const mods = await modulesOf(...args);
    expect({ args, grpc: has(mods, '/@grpc/grpc-js/'), gen: has(mods, '/gen/openclaw/') }).toEqual({ args, grpc: false, gen: false });
  }
});

test('the compile cache is filled on the second run, then reused, and can be turned off', async () => {
  const dir = join(tmp(), 'cache');
  const cached = cli.with({ env: { OPENCLAW_CLI_COMPILE_CACHE: dir } });
  const first = await cached.ok('cron', 'list');
  // A first run (e.g. in a throw-away container) only leaves a marker.
  expect(readdirSync(dir)).toEqual(['seen']);
  expect(await cached.ok('cron', 'list')).toBe(first);
  const file = readdirSync(dir).find((f) => f !== 'seen')!;
  expect(file).toMatch(/^v8-v\d+\.\d+\.\d+-\w+\.bin$/);
  const written = statSync(join(dir, file)).mtimeMs;
  expect(await cached.ok('cron', 'list')).toBe(first);
  expect(statSync(join(dir, file)).mtimeMs).toBe(written);

  const off = join(tmp(), 'off');
  await cli.with({ env: { OPENCLAW_CLI_COMPILE_CACHE: '0', XDG_CACHE_HOME: off } }).ok('cron', 'list');
  expect(existsSync(off)).toBe(false);
});

test('warm-compile-cache fills a cache that the everyday commands then run from without compiling anything new', () => {
  const dir = join(tmp(), 'warmed');
  const warm = spawnSync(process.execPath, [join(__dirname, '..', '..', 'src', 'cli', 'warm-compile-cache.js'), dir], { encoding: 'utf8', timeout: 120_000 });
  expect({ status: warm.status, stderr: warm.stderr }).toEqual({ status: 0, stderr: '' });
  const file = readdirSync(dir).find((f) => f !== 'seen')!;
  expect(file).toMatch(/^v8-v\d+\.\d+\.\d+-\w+\.bin$/);
  // Readable by whoever runs the CLI (an image's unprivileged user), as is the marker.
  expect(statSync(join(dir, file)).mode & 0o777).toBe(0o644);
  const written = statSync(join(dir, file)).mtimeMs;
  return cli
    .with({ env: { OPENCLAW_CLI_COMPILE_CACHE: dir } })
    .ok('cron', 'list')
    .then(() => expect(statSync(join(dir, file)).mtimeMs).toBe(written));
}, 150_000);
