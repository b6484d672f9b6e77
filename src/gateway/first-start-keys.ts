/**
 * A first start (no CA in the state folder yet) needs two RSA keys, the CA's and the
 * server's, each a good part of a second of CPU. They are started here, off the main
 * thread and at the same time, as early as the state folder is known, so they are made
 * while the rest of the gateway loads and starts. Light on purpose: the gateway's program
 * calls it before loading the gateway's modules.
 */
import { existsSync } from 'node:fs';
import { generateKeyPairAsync, type KeyPairPem } from '../identity/keys';
import type { StatePaths } from '../identity/state-layout';

/** The two keys being made; each is used only if its file is still missing when it is needed. */
export interface FirstStartKeys {
  ca: Promise<KeyPairPem>;
  server: Promise<KeyPairPem>;
}

/** Starts both keys when the state folder has no CA yet; undefined otherwise. */
export function beginFirstStartKeys(paths: StatePaths): FirstStartKeys | undefined {
  if (existsSync(paths.caMeta)) return undefined;
  const keys = { ca: generateKeyPairAsync('rsa'), server: generateKeyPairAsync('rsa') };
  // A failure is taken where the key is awaited; until then it must not count as unhandled.
  for (const p of Object.values(keys)) p.catch(() => undefined);
  return keys;
}
