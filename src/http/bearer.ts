import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Splits an Authorization header into its scheme (lower case) and its one credential. Anything
 * else is refused: no credential, a second word after it (`Bearer <key> junk`), leading space.
 */
export function parseAuthorization(header: string | undefined): { scheme: string; credentials: string } | undefined {
  const match = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +([^\s]+)$/.exec(header ?? '');
  if (!match?.[1] || !match[2]) return undefined;
  return { scheme: match[1].toLowerCase(), credentials: match[2] };
}

/** Constant-time check of an `Authorization: Bearer <token>` header. */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  const parsed = parseAuthorization(header);
  const digest = (value: string) => createHash('sha256').update(value).digest();
  // Compared even when the scheme is wrong, so the answer takes the same time either way.
  const same = timingSafeEqual(digest(parsed?.credentials ?? ''), digest(expected));
  return parsed?.scheme === 'bearer' && same;
}
