import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time equality of a given secret with the expected one that does not leak the length
 * either: both sides are hashed first (site secrets, subscriber secrets, subscriber tokens, keys).
 */
export function equalSecrets(given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}
