/**
 * Installs the pinned real legacy clients into their cache folder by hand (what the
 * legacy-clients tests do on first use), and prints where they are and how long it took.
 *
 * Usage (after `npm run build`): node dist/test/legacy-clients/install-real-clients.js
 */
import { ensureRealClients } from './real-clients';

ensureRealClients().then(
  (c) => {
    // Each install already printed its time (stderr).
    if (c.installed.length === 0) process.stdout.write(`already installed in ${c.root}\n`);
    process.stdout.write(`node:          ${c.node}\nopenclaw CLI:  ${c.openclawCli}\nopenclaw-node: ${c.openclawNodeDir}\n`);
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
