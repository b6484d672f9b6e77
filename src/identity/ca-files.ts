import { certValidity, renewalDue } from './renewal-policy';
import { existsSync, readFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { errors } from '../errors';
import { writeFileAtomicSync, ensureDir } from '../store/atomic-file';
import { withFileLockSync } from '../store/file-lock';
import type { Clock } from '../clock';
import { CertificateAuthority } from './certificate-authority';
import { generateRsaKeyPair } from './keys';
import { newTrustDomain } from './spiffe';
import { gatewayServerName } from './gateway-name';

export { gatewayServerName };
import type { StatePaths } from './state-layout';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Server certificates live 90 days and are re-issued at start when a third is left. */
export const SERVER_CERT_LIFETIME_MS = 90 * DAY_MS;

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
 */
export function loadOrCreateCa(paths: StatePaths, clock: Clock): { ca: CertificateAuthority; created: boolean } {
  const existing = loadCa(paths);
  if (existing) return { ca: existing, created: false };
  ensureDir(paths.root);
  return withFileLockSync(paths.caMeta, () => {
    const again = loadCa(paths);
    if (again) return { ca: again, created: false };
    const trustDomain = newTrustDomain(randomBytes(5).toString('hex'));
    const { certPem, keyPem } = CertificateAuthority.create(trustDomain, clock.now());
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

/** The names every server certificate covers, plus configured extra names. */
export function serverNames(trustDomain: string, extra: readonly string[] = []): string[] {
  const names = [gatewayServerName(trustDomain), 'localhost', '127.0.0.1', '::1', hostname(), ...extra];
  return [...new Set(names.filter((n) => n && n.length > 0))];
}

/**
 * Makes sure the server certificate exists, is signed by the CA, covers every name
 * asked for and has more than a third of its life left; re-issues it otherwise.
 * Names it already covers are kept when it is re-issued: a name added once (e.g. with
 * `certs-tools init --san`) is not dropped by a later start that did not ask for it,
 * and replicas with different host names sharing one state dir agree after one issue.
 * (To drop names, remove the server folder: the next start issues a new certificate.)
 * Returns whether it was (re)issued.
 */
export function ensureServerCert(paths: StatePaths, ca: CertificateAuthority, names: string[], clock: Clock): boolean {
  /** Names the current certificate covers, when it is this CA's and readable; [] otherwise. */
  const current = (): { names: string[]; fresh: boolean } => {
    if (!existsSync(paths.serverCert) || !existsSync(paths.serverKey) || !existsSync(paths.serverMeta)) return { names: [], fresh: false };
    try {
      const certPem = readFileSync(paths.serverCert, 'utf8');
      if (!ca.issued(certPem)) return { names: [], fresh: false };
      const meta = JSON.parse(readFileSync(paths.serverMeta, 'utf8')) as { names?: string[] };
      const have = Array.isArray(meta.names) ? meta.names.filter((n) => typeof n === 'string' && n.length > 0) : [];
      const covered = names.every((n) => have.includes(n));
      return { names: have, fresh: covered && !renewalDue(certValidity(certPem), clock.now()) };
    } catch {
      return { names: [], fresh: false };
    }
  };
  if (current().fresh) return false;
  return withFileLockSync(paths.serverMeta, () => {
    const now = current();
    if (now.fresh) return false;
    const wanted = [...new Set([...now.names, ...names])].sort();
    const keys = generateRsaKeyPair(2048);
    const issued = ca.issueServer({ publicKeyPem: keys.publicKeyPem, names: wanted, now: clock.now(), lifetimeMs: SERVER_CERT_LIFETIME_MS });
    ensureDir(paths.serverDir);
    writeFileAtomicSync(paths.serverKey, keys.privateKeyPem, 0o600);
    writeFileAtomicSync(paths.serverCert, issued.certPem + ca.certPem, 0o644);
    writeFileAtomicSync(paths.serverMeta, JSON.stringify({ names: wanted, serial: issued.serial, notAfter: issued.notAfter }, null, 1) + '\n', 0o644);
    return true;
  });
}
