/** One AES-256-GCM payload key of TEMPORAL_PAYLOAD_KEY, with the id the encrypted payloads carry. */
export interface PayloadKey {
  id: string;
  key: Buffer;
}

/**
 * Parses `id:base64key[,id2:base64key2]` (32-byte keys). Errors name the entry by its position,
 * never by its text: a malformed entry may be all key (a missing id, swapped halves).
 */
export function parsePayloadKeys(value: string): PayloadKey[] {
  const entries = value.split(',');
  return entries.map((entry, index) => {
    const which = `entry ${index + 1} of ${entries.length}`;
    const parts = entry.trim().split(':');
    const [id, encoded] = parts;
    const expected = 'each entry must be keyId:<32 bytes in base64> (a short id such as k1, a colon, then the key)';
    if (parts.length !== 2 || !id || !encoded) throw new Error(`${expected}; ${which} is not an id and a key separated by one ':'`);
    if (!/^[\w.-]{1,32}$/.test(id)) throw new Error(`${expected}; ${which} has a key id that is not 1 to 32 letters, digits, '.', '_' or '-' (are id and key swapped?)`);
    const key = Buffer.from(encoded, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || key.length !== 32) throw new Error(`${expected}; the key of ${which} is not 32 bytes of base64`);
    return { id, key };
  });
}
