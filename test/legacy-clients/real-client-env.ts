/**
 * The environment the real clients run with: their own HOME (so ~/.openclaw is a fresh
 * folder of the test, never the user's), Node 24 first on PATH, plain output, and none
 * of the settings of the surrounding shell or of `npm test` that could steer them
 * (OPENCLAW_*, XDG_* folders, NODE_OPTIONS, npm_*).
 */
import { dirname } from 'node:path';
import type { RealClients } from './real-clients';

export function realClientEnv(clients: RealClients, home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(OPENCLAW_|XDG_|npm_|NODE_)/i.test(k) || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  return {
    ...env,
    HOME: home,
    PATH: `${dirname(clients.node)}:${process.env.PATH ?? ''}`,
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    ...extra,
  };
}
