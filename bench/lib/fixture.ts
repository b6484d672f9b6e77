/**
 * Gateway state directories for bench servers. Creating a CA, a server certificate and
 * the local identities costs about a second of RSA key generation, so it is done once
 * per harness run (by a real gateway start in a child) and every bench gateway gets a
 * private copy of that state: a warm start, with its own files. All of it lives in
 * one temporary folder removed when the harness exits.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildServer } from './child';

let root: string | undefined;
let template: Promise<string> | undefined;
let counter = 0;

/** The harness run's scratch folder (created on first use; see releaseScratch). */
export function scratchDir(): string {
  if (!root) {
    root = mkdtempSync(join(tmpdir(), 'ocgw-bench-'));
    // A backstop only: worker processes of a test runner may be killed without 'exit'.
    const dir = root;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return root;
}

/** Removes the scratch folder and forgets the template (the harness calls it after each run). */
export function releaseScratch(): void {
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
  template = undefined;
}

/** A new empty folder inside the scratch folder. */
export function freshDir(prefix: string): string {
  return mkdtempSync(join(scratchDir(), `${prefix}-`));
}

/** A private copy of a provisioned gateway state (CA, server cert, cli/worker/bridge identities). */
export async function provisionedStateDir(): Promise<string> {
  template ??= (async () => {
    const dir = join(scratchDir(), 'template-state');
    const gw = await ChildServer.start('gateway-server', { stateDir: dir, worker: false }, { name: 'template gateway' });
    await gw.stop();
    return dir;
  })();
  const source = await template;
  const copy = join(scratchDir(), `state-${++counter}`);
  cpSync(source, copy, { recursive: true });
  return copy;
}
