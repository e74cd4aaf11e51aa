import { createHmac } from 'node:crypto';

/** Listrak treats addresses case-insensitively; so does every ordering decision here. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Keyed hash of an address: what workflow ids, search attributes and logs carry instead of the
 * address. Changing EMAIL_HASH_KEY starts new ledgers (ordering state is keyed by it).
 */
export function hashEmail(key: string, email: string): string {
  return createHmac('sha256', key).update(normalizeEmail(email)).digest('hex').slice(0, 32);
}
