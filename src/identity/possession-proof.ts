import type { KeyObject } from 'node:crypto';
import { normalizeSerial } from './device-id';
import { signData, verifyData } from './keys';

/**
 * Proof that a device holds its key *now*: a signature over a fresh, single-use
 * challenge from the gateway. Unlike a CSR (which anyone who ever saw it can replay),
 * the signed message names the challenge, so it is good for one renewal only.
 * (A light module on purpose: the CLI loads it without node-forge.)
 */

/** Label that separates this signature from every other use of a device key. */
const PROOF_LABEL = 'openclaw-gateway renew-expired-certificate v1';

/** What the device signs: the label, its device id, the certificate serial and the challenge. */
export function renewalProofMessage(input: { deviceId: string; serial: string; challengeId: string; nonce: Uint8Array }): Buffer {
  return Buffer.from([PROOF_LABEL, input.deviceId, normalizeSerial(input.serial), input.challengeId, Buffer.from(input.nonce).toString('base64url')].join('\n'), 'utf8');
}

/** Signs a proof message with a device's private key (the key type's own algorithm: see keys.ts). */
export function signProof(privateKeyPem: string, message: Buffer): Buffer {
  return signData(privateKeyPem, message);
}

/** Checks a proof signature against the public key of a certificate; false (never throws) on anything wrong. */
export function verifyProof(publicKey: KeyObject | string, message: Buffer, signature: Uint8Array): boolean {
  return verifyData(publicKey, message, Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength));
}
