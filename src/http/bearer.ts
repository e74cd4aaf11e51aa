import { createHash, timingSafeEqual } from 'node:crypto';

/** Constant-time check of an `Authorization: Bearer <token>` header. */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), digest(expected));
}
