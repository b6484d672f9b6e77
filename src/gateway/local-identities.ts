import { certIdentity, hasCertsDir, readCertsDir, writeIssuedIdentity, type DeviceRegistry, type StatePaths } from '../identity';

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
export function ensureLocalIdentity(registry: DeviceRegistry, paths: StatePaths, spec: { name: string; role: string; label: string }, now: number): { dir: string; issued: boolean } {
  const dir = paths.identity(spec.name);
  if (hasCertsDir(dir)) {
    try {
      const current = readCertsDir(dir);
      const id = certIdentity(current.certPem);
      const record = registry.authenticate(id);
      const left = id.notAfter - now;
      if (record && left > (id.notAfter - id.notBefore) / 3 && current.caPem.trim() === registry.ca.certPem.trim()) return { dir, issued: false };
    } catch {
      /* unusable: provision anew below */
    }
  }
  const issued = registry.provision({ role: spec.role, label: spec.label });
  writeIssuedIdentity(dir, issued, registry.ca, { issuedBy: 'gateway-first-start' });
  return { dir, issued: true };
}
