import { renewalDue } from '../identity/renewal-policy';
import lockfile from 'proper-lockfile';
import { ensureDir } from '../store/atomic-file';
import { certIdentity, hasCertsDir, readCertsDir, writeIssuedIdentity, type DeviceRegistry, type KeyPairPem, type StatePaths } from '../identity';

/** The identities the gateway provisions for its own components on first start. */
export const LOCAL_IDENTITIES = [
  { name: 'cli', role: 'operator', label: 'local-cli' },
  { name: 'worker', role: 'backend', label: 'local-worker' },
  { name: 'bridge', role: 'bridge', label: 'local-bridge' },
] as const;

/**
 * Makes sure a local component has a valid certificate folder: kept when its
 * certificate is current in the registry with more than a third of its life left,
 * provisioned (or rotated) otherwise. Returns the folder.
 */
export async function ensureLocalIdentity(registry: DeviceRegistry, paths: StatePaths, spec: { name: string; role: string; label: string }, now: number, keys?: KeyPairPem): Promise<{ dir: string; issued: boolean }> {
  const dir = paths.identity(spec.name);
  if (localIdentityCurrent(registry, dir, now)) return { dir, issued: false };
  const issued = await registry.provision({ role: spec.role, label: spec.label, keys });
  writeIssuedIdentity(dir, issued, registry.ca, { issuedBy: 'gateway-first-start' });
  return { dir, issued: true };
}

/** Whether a local component's folder holds a current certificate that is not due for renewal (identity's one threshold). */
export function localIdentityCurrent(registry: DeviceRegistry, dir: string, now: number): boolean {
  if (hasCertsDir(dir)) {
    try {
      const current = readCertsDir(dir);
      const id = certIdentity(current.certPem);
      const record = registry.authenticate(id);
      if (record && !renewalDue(id, now) && current.caPem.trim() === registry.ca.certPem.trim()) return true;
    } catch {
      /* unusable: provisioned anew */
    }
  }
  return false;
}

/** Runs `fn` holding the lock of the local identities' folder (shared by every process on this host). */
export async function withIdentitiesLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  ensureDir(dir);
  const deadline = Date.now() + 60_000;
  let release: (() => Promise<void>) | undefined;
  for (let step = 20; !release; step = Math.min(step * 2, 250)) {
    try {
      release = await lockfile.lock(dir, { realpath: false, stale: 20_000, update: 5_000, lockfilePath: `${dir}.lock`, onCompromised: () => undefined });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED' || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, step));
    }
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
