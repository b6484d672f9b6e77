import type { Collection, StoreBackend } from '../../store/collection';

/** Name of the collection of expired-renewal challenges. */
export const RENEWAL_CHALLENGES = 'renewal_challenges';

/**
 * A challenge handed to a device whose certificate expired, as stored (keyed by its
 * challenge id). Nothing in it is secret: the nonce is sent to the device, and only the
 * device's private key can sign it.
 */
export interface RenewalChallengeRecord {
  id: string;
  deviceId: string;
  serial: string;
  /** Who asked for it (device id + address): a challenge is answered from the address that asked. */
  requester: string;
  /** The nonce, base64. */
  nonce: string;
  createdAt: number;
  expiresAt: number;
}

/** Checks a challenge record read from storage. */
export function validateRenewalChallenge(raw: unknown): RenewalChallengeRecord {
  const c = raw as RenewalChallengeRecord;
  if (
    !c ||
    typeof c !== 'object' ||
    typeof c.id !== 'string' ||
    typeof c.deviceId !== 'string' ||
    typeof c.serial !== 'string' ||
    typeof c.requester !== 'string' ||
    typeof c.nonce !== 'string' ||
    typeof c.createdAt !== 'number' ||
    typeof c.expiresAt !== 'number'
  ) {
    throw new Error('expected a renewal challenge record');
  }
  return c;
}

/**
 * Opens the challenges collection. Challenges live a minute, so nothing of an earlier
 * release is imported and `migrate-store` does not copy them.
 */
export function openRenewalChallenges(backend: StoreBackend): Promise<Collection<RenewalChallengeRecord>> {
  return backend.collection(RENEWAL_CHALLENGES, validateRenewalChallenge);
}
