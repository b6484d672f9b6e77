/**
 * Certificate issuance throughput: one issuance is what the gateway does for an
 * approved pairing request — verifyCsr (parse + proof of possession) then
 * issueClient (build + sign). Measured for every device key type with native RSA
 * signing (the CA key is RSA-2048 whatever the device's key), and for RSA device keys
 * also with forge's own JS signing, on pre-made CSRs in the same run.
 */
import { CertificateAuthority, type SigningMode } from '../../src/identity/certificate-authority';
import { createCsr, verifyCsr } from '../../src/identity/csr';
import { generateKeyPair, KEY_TYPE_NAMES, KEY_TYPES, type KeyType } from '../../src/identity/keys';
import { measureSync, round, type Measurement } from '../measure';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from '../types';

const TARGET_PER_SEC = 500;
const LIFETIME_MS = 14 * 24 * 60 * 60 * 1000;
const TRUST_DOMAIN = 'openclaw-bench.local';

export async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  // Distinct RSA keys are costly to make (~0.1 s each); a small pool of CSRs per key
  // type is cycled, and every iteration verifies and signs one of them from scratch.
  const csrCount = opts.quick ? 4 : 32;
  const limits: Record<SigningMode, { warmup: number; minIterations: number; minMs: number }> = opts.quick
    ? { native: { warmup: 50, minIterations: 200, minMs: 800 }, forge: { warmup: 3, minIterations: 20, minMs: 800 } }
    : { native: { warmup: 300, minIterations: 2000, minMs: 5000 }, forge: { warmup: 10, minIterations: 100, minMs: 6000 } };

  const caPems = CertificateAuthority.create(TRUST_DOMAIN, Date.now());
  const ca = new CertificateAuthority(caPems.certPem, caPems.keyPem, TRUST_DOMAIN);
  const csrs = Object.fromEntries(
    KEY_TYPES.map((type) => [type, Array.from({ length: csrCount }, (_, i) => createCsr({ privateKeyPem: generateKeyPair(type).privateKeyPem, label: `bench-device-${i}` }))]),
  ) as Record<KeyType, string[]>;

  const issueOnce = (type: KeyType, i: number, mode: SigningMode): string => {
    const v = verifyCsr(csrs[type][i % csrCount]);
    return ca.issueClient({ publicKeyPem: v.publicKeyPem, role: 'node', label: v.commonName, now: Date.now(), lifetimeMs: LIFETIME_MS }, mode).certPem;
  };
  // Every combination must produce certificates that chain to the CA, or the numbers mean nothing.
  for (const type of KEY_TYPES) {
    for (const mode of ['native', 'forge'] as const) {
      if (!ca.issued(issueOnce(type, 0, mode))) throw new Error(`${mode} signing for a ${type} key produced a certificate that does not verify`);
    }
  }

  const native = {} as Record<KeyType, Measurement>;
  for (const type of KEY_TYPES) {
    opts.log?.(`  issuance: ${type} device keys, native signing`);
    native[type] = measureSync((i) => void issueOnce(type, i, 'native'), limits.native);
  }
  opts.log?.('  issuance: rsa device keys, forge signing');
  const forge = measureSync((i) => void issueOnce('rsa', i, 'forge'), limits.forge);

  const rsa = native.rsa;
  const figures: Figure[] = [
    {
      name: 'issuance (verifyCsr + issueClient), native signing',
      unit: 'certs/s',
      value: round(rsa.opsPerSec, 1),
      p50: round(rsa.p50, 3),
      p99: round(rsa.p99, 3),
      baseline: { name: 'forge signing', value: round(forge.opsPerSec, 1) },
      ratio: round(rsa.opsPerSec / forge.opsPerSec, 1),
      target: `>= ${TARGET_PER_SEC}/s native`,
      met: rsa.opsPerSec >= TARGET_PER_SEC,
    },
    {
      name: 'issuance (verifyCsr + issueClient), forge signing',
      unit: 'certs/s',
      value: round(forge.opsPerSec, 1),
      p50: round(forge.p50, 3),
      p99: round(forge.p99, 3),
    },
    ...KEY_TYPES.filter((t) => t !== 'rsa').map(
      (type): Figure => ({
        name: `issuance (verifyCsr + issueClient), native signing, ${KEY_TYPE_NAMES[type]} device keys`,
        unit: 'certs/s',
        value: round(native[type].opsPerSec, 1),
        p50: round(native[type].p50, 3),
        p99: round(native[type].p99, 3),
        baseline: { name: 'RSA-2048 device keys', value: round(rsa.opsPerSec, 1) },
        ratio: round(native[type].opsPerSec / rsa.opsPerSec, 2),
      }),
    ),
  ];
  return {
    scenario: 'issuance',
    figures,
    notes: [
      `RSA-2048 CA key; device keys RSA-2048 (first two rows), ${KEY_TYPES.filter((t) => t !== 'rsa').map((t) => KEY_TYPE_NAMES[t]).join(', ')}; ${csrCount} pre-made CSRs per key type cycled; p50/p99 in ms per certificate`,
      `native: ${KEY_TYPES.map((t) => `${t} ${native[t].iterations} certs in ${Math.round(native[t].elapsedMs)} ms`).join('; ')}; forge (rsa): ${forge.iterations} certs in ${Math.round(forge.elapsedMs)} ms`,
    ],
  };
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'issuance',
  description: 'certificate issuance (verify CSR + issue) per device key type (RSA, P-256, P-384, Ed25519), native RSA signing vs forge JS signing',
  run,
};
