import { existsSync, readFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { errors } from '../errors';
import { writeFileAtomicSync, ensureDir } from '../store/atomic-file';
import { withFileLockSync } from '../store/file-lock';
import type { Clock } from '../clock';
import { CertificateAuthority } from './certificate-authority';
import type { KeyPairPem } from './keys';
import { newTrustDomain } from './spiffe';
import type { StatePaths } from './state-layout';

function readPem(path: string, what: string): string {
  const text = readFileSync(path, 'utf8');
  if (!text.includes('-----BEGIN')) throw errors.precondition('STATE_CORRUPT', `${what} at ${path} is not PEM`);
  return text;
}

/** Loads the CA from the state directory; undefined when there is none yet. */
export function loadCa(paths: StatePaths): CertificateAuthority | undefined {
  // The metadata is written last: without it, CA creation did not finish and is redone,
  // unless devices were already registered (then the CA was complete and is damaged now).
  if (!existsSync(paths.caMeta)) {
    const devicesKnown = [paths.devices, `${paths.devices}.imported`, paths.devicesJournal].some((p) => existsSync(p));
    if (existsSync(paths.caKey) && devicesKnown) {
      throw errors.precondition('STATE_CORRUPT', `${paths.caMeta} is missing but devices are registered; restore it from a backup`);
    }
    return undefined;
  }
  try {
    const certPem = readPem(paths.caCert, 'CA certificate');
    const keyPem = readPem(paths.caKey, 'CA key');
    const meta = JSON.parse(readFileSync(paths.caMeta, 'utf8')) as { trustDomain?: string };
    if (!meta.trustDomain) throw new Error('no trustDomain');
    return new CertificateAuthority(certPem, keyPem, meta.trustDomain);
  } catch (err) {
    if ((err as { code?: string }).code === 'FAILED_PRECONDITION') throw err;
    throw errors.precondition('STATE_CORRUPT', `the CA in ${paths.caDir} cannot be loaded (${(err as Error).message}); restore it or use a new state dir`);
  }
}

/**
 * Loads the CA, creating it first if the state directory has none. Creation holds
 * the state lock, so a gateway and `certs-tools init` starting together make one CA.
 * `keys`: the RSA-2048 pair to create it with, when made beforehand (unused if a CA exists).
 */
export function loadOrCreateCa(paths: StatePaths, clock: Clock, keys?: KeyPairPem): { ca: CertificateAuthority; created: boolean } {
  const existing = loadCa(paths);
  if (existing) return { ca: existing, created: false };
  ensureDir(paths.root);
  return withFileLockSync(paths.caMeta, () => {
    const again = loadCa(paths);
    if (again) return { ca: again, created: false };
    const trustDomain = newTrustDomain(randomBytes(5).toString('hex'));
    const { certPem, keyPem } = CertificateAuthority.create(trustDomain, clock.now(), undefined, keys);
    ensureDir(paths.caDir);
    chmodSync(paths.caDir, 0o700);
    // The key is written first and the metadata last: loadCa needs all three, and a
    // crash in between leaves files that a retry under the lock replaces.
    writeFileAtomicSync(paths.caKey, keyPem, 0o600);
    writeFileAtomicSync(paths.caCert, certPem, 0o644);
    writeFileAtomicSync(paths.caMeta, JSON.stringify({ trustDomain, createdAt: new Date(clock.now()).toISOString() }, null, 1) + '\n', 0o644);
    return { ca: new CertificateAuthority(certPem, keyPem, trustDomain), created: true };
  });
}
