import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { parseAuthorization } from './bearer';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export type SignatureEncoding = 'hex' | 'base64';

/** Signs a raw webhook body the way Extole does (X-Extole-Signature), for tests and senders. */
export function signExtolePayload(secret: string, rawBody: string | Buffer, encoding: SignatureEncoding = 'hex'): string {
  return createHmac('sha256', secret).update(rawBody).digest(encoding);
}

export type AuthResult = { ok: true; method: 'signature' | 'bearer' | 'basic' } | { ok: false; reason: string };

/**
 * Checks one Extole delivery against the webhook key, on the raw bytes, before any parsing.
 * Accepts X-Extole-Signature (HMAC-SHA256, hex or base64), Bearer <key> or Basic <base64(key)>.
 */
export function verifyExtoleDelivery(
  secret: string,
  headers: { signature?: string | undefined; authorization?: string | undefined },
  rawBody: Buffer,
): AuthResult {
  const signature = headers.signature?.trim();
  if (signature) {
    const expected = createHmac('sha256', secret).update(rawBody).digest();
    const given = decodeSignature(signature);
    if (given && safeEqual(given, expected)) return { ok: true, method: 'signature' };
    return {
      ok: false,
      reason: 'X-Extole-Signature does not match the raw body: is the key right, or is a proxy re-encoding the JSON?',
    };
  }
  if (!headers.authorization?.trim()) {
    return { ok: false, reason: 'missing X-Extole-Signature or Authorization header' };
  }
  const parsed = parseAuthorization(headers.authorization);
  if (!parsed) {
    return { ok: false, reason: "Authorization must be 'Bearer <key>' or 'Basic <base64(key)>', with nothing after the credentials" };
  }
  if (parsed.scheme === 'bearer') {
    if (safeEqual(Buffer.from(parsed.credentials), Buffer.from(secret))) return { ok: true, method: 'bearer' };
    return { ok: false, reason: 'Bearer key does not match EXTOLE_WEBHOOK_SECRET' };
  }
  if (parsed.scheme === 'basic') {
    // Buffer.from(…, 'base64') skips characters that are not base64: check the form first.
    const decoded = BASE64.test(parsed.credentials) ? Buffer.from(parsed.credentials, 'base64') : Buffer.alloc(0);
    // Some senders put "key:" (user-id form) in Basic; accept the key with an empty password too.
    const candidates = [decoded, Buffer.from(`${decoded.toString('utf8').replace(/:$/, '')}`)];
    if (decoded.length > 0 && candidates.some((candidate) => safeEqual(candidate, Buffer.from(secret)))) return { ok: true, method: 'basic' };
    return { ok: false, reason: 'Basic credentials do not match base64(EXTOLE_WEBHOOK_SECRET)' };
  }
  return { ok: false, reason: `unsupported Authorization scheme '${parsed.scheme.slice(0, 20)}'` };
}

function decodeSignature(value: string): Buffer | undefined {
  const stripped = value.replace(/^sha256=/i, '');
  if (/^[0-9a-f]{64}$/i.test(stripped)) return Buffer.from(stripped, 'hex');
  const base64 = Buffer.from(stripped, 'base64');
  return base64.length === 32 ? base64 : undefined;
}

/** Constant-time comparison that also hides the lengths involved. */
function safeEqual(a: Buffer, b: Buffer): boolean {
  const digestA = createHash('sha256').update(a).digest();
  const digestB = createHash('sha256').update(b).digest();
  return timingSafeEqual(digestA, digestB) && a.length === b.length;
}
