/**
 * Certificate issuance throughput: one issuance is what the gateway does for an
 * approved pairing request — verifyCsr (parse + proof of possession) then
 * issueClient (build + sign). Measured with native RSA signing and with forge's own
 * JS signing, on the same pre-made CSRs in the same run.
 */
import { CertificateAuthority, type SigningMode } from '../../src/identity/certificate-authority';
import { createCsr, verifyCsr } from '../../src/identity/csr';
import { generateRsaKeyPair } from '../../src/identity/keys';
import { measureSync, round, type Measurement } from '../measure';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from '../types';

const TARGET_PER_SEC = 500;
const LIFETIME_MS = 14 * 24 * 60 * 60 * 1000;
const TRUST_DOMAIN = 'openclaw-bench.local';

export async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  // Distinct device keys are costly to make (~0.1 s each); a small pool of CSRs is
  // cycled, and every iteration verifies and signs one of them from scratch.
  const csrCount = opts.quick ? 4 : 32;
  const limits: Record<SigningMode, { warmup: number; minIterations: number; minMs: number }> = opts.quick
    ? { native: { warmup: 50, minIterations: 200, minMs: 800 }, forge: { warmup: 3, minIterations: 20, minMs: 800 } }
    : { native: { warmup: 300, minIterations: 2000, minMs: 5000 }, forge: { warmup: 10, minIterations: 100, minMs: 6000 } };

  const caPems = CertificateAuthority.create(TRUST_DOMAIN, Date.now());
  const ca = new CertificateAuthority(caPems.certPem, caPems.keyPem, TRUST_DOMAIN);
  const csrs = Array.from({ length: csrCount }, (_, i) => createCsr({ ...generateRsaKeyPair(2048), label: `bench-device-${i}` }));

  const issueOnce = (i: number, mode: SigningMode): string => {
    const v = verifyCsr(csrs[i % csrs.length]);
    return ca.issueClient({ publicKeyPem: v.publicKeyPem, role: 'node', label: v.commonName, now: Date.now(), lifetimeMs: LIFETIME_MS }, mode).certPem;
  };
  // Both modes must produce certificates that chain to the CA, or the numbers mean nothing.
  for (const mode of ['native', 'forge'] as const) {
    if (!ca.issued(issueOnce(0, mode))) throw new Error(`${mode} signing produced a certificate that does not verify`);
  }

  const results = {} as Record<SigningMode, Measurement>;
  for (const mode of ['native', 'forge'] as const) {
    results[mode] = measureSync((i) => void issueOnce(i, mode), limits[mode]);
  }

  const native = results.native;
  const forge = results.forge;
  const figures: Figure[] = [
    {
      name: 'issuance (verifyCsr + issueClient), native signing',
      unit: 'certs/s',
      value: round(native.opsPerSec, 1),
      p50: round(native.p50, 3),
      p99: round(native.p99, 3),
      baseline: { name: 'forge signing', value: round(forge.opsPerSec, 1) },
      ratio: round(native.opsPerSec / forge.opsPerSec, 1),
      target: `>= ${TARGET_PER_SEC}/s native`,
      met: native.opsPerSec >= TARGET_PER_SEC,
    },
    {
      name: 'issuance (verifyCsr + issueClient), forge signing',
      unit: 'certs/s',
      value: round(forge.opsPerSec, 1),
      p50: round(forge.p50, 3),
      p99: round(forge.p99, 3),
    },
  ];
  return {
    scenario: 'issuance',
    figures,
    notes: [
      `RSA-2048 CA and device keys; ${csrCount} pre-made CSRs cycled; p50/p99 in ms per certificate`,
      `native: ${native.iterations} certs in ${Math.round(native.elapsedMs)} ms; forge: ${forge.iterations} certs in ${Math.round(forge.elapsedMs)} ms`,
    ],
  };
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'issuance',
  description: 'certificate issuance (verify CSR + issue), native RSA signing vs forge JS signing',
  run,
};
