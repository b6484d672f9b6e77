/**
 * Guards the committed protobuf-es output in src/gen: regenerates it into a
 * temporary directory with the project's own buf.gen.yaml (only `out` is
 * redirected) and requires byte-identical files. Also requires `buf lint`
 * to pass.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';

/** Repository root: the nearest ancestor of this file that holds buf.yaml. */
function findRepoRoot(start: string): string {
  let dir = start;
  while (!fs.existsSync(path.join(dir, 'buf.yaml'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`buf.yaml not found above ${start}`);
    dir = parent;
  }
  return dir;
}

const root = findRepoRoot(__dirname);
const binDir = path.join(root, 'node_modules', '.bin');
const bufBin = path.join(binDir, process.platform === 'win32' ? 'buf.cmd' : 'buf');
const genDir = path.join(root, 'src', 'gen');

/** Runs buf in the repository root with node_modules/.bin on PATH (for protoc-gen-es). */
function runBuf(args: string[]): { status: number | null; output: string } {
  const result = spawnSync(bufBin, args, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}` },
    timeout: 50_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/** All files below `dir`, as sorted '/'-separated relative paths. */
function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(child);
      else out.push(child);
    }
  };
  walk('');
  return out.sort();
}

describe('protobuf code generation', () => {
  let tmp: string;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-codegen-'));
  });

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('committed src/gen matches `buf generate` output', () => {
    const template = parse(fs.readFileSync(path.join(root, 'buf.gen.yaml'), 'utf8')) as {
      plugins: Array<{ out: string }>;
    };
    const outDir = path.join(tmp, 'gen');
    for (const plugin of template.plugins) {
      expect(path.normalize(plugin.out)).toBe(path.normalize('src/gen'));
      plugin.out = outDir;
    }
    const templatePath = path.join(tmp, 'buf.gen.yaml');
    fs.writeFileSync(templatePath, stringify(template));

    const gen = runBuf(['generate', '--template', templatePath]);
    if (gen.status !== 0) throw new Error(`buf generate failed (exit ${gen.status}):\n${gen.output}`);

    const expected = listFiles(outDir);
    const actual = listFiles(genDir);
    expect(expected.length).toBeGreaterThan(0);

    const problems: string[] = [];
    for (const file of expected) {
      if (!actual.includes(file)) problems.push(`missing: src/gen/${file}`);
      else if (!fs.readFileSync(path.join(genDir, file)).equals(fs.readFileSync(path.join(outDir, file)))) {
        problems.push(`differs: src/gen/${file}`);
      }
    }
    for (const file of actual) {
      if (!expected.includes(file)) problems.push(`stale: src/gen/${file}`);
    }
    if (problems.length > 0) {
      throw new Error(`generated code drifted; run npm run generate\n  ${problems.join('\n  ')}`);
    }
  });

  it('`buf lint` passes', () => {
    const lint = runBuf(['lint']);
    if (lint.status !== 0) throw new Error(`buf lint failed (exit ${lint.status}):\n${lint.output}`);
    expect(lint.status).toBe(0);
  });
});
