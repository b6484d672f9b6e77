import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares a presented shared token or password with the configured one in constant
 * time: both sides are hashed first, so neither the content nor the length of the
 * secret leaks through timing. An empty configured secret never matches.
 */
export function sharedSecretMatches(presented: string, configured: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(configured, 'utf8').digest();
  return timingSafeEqual(a, b) && configured.length > 0;
}
