import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { PayloadKey } from '../config/payload-keys';

/**
 * Optional AES-256-GCM payload codec (TEMPORAL_PAYLOAD_KEY): workflow inputs, signals, results
 * and failure messages reach the Temporal server encrypted, so it never sees emails or profile
 * data in clear. Keys carry an id: the first key encrypts, every listed key decrypts (rotation:
 * put the new key first and keep the old ones until no open workflow uses them).
 */

const ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly keys: PayloadKey[]) {
    if (keys.length === 0) throw new Error('EncryptionCodec needs at least one key');
    this.byId = new Map(keys.map((entry) => [entry.id, entry.key]));
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keys[0]!;
    return Promise.resolve(
      payloads.map((payload) => {
        const iv = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', key, iv);
        const plain = temporal.api.common.v1.Payload.encode(payload).finish();
        const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
        return { metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCODING), [KEY_ID]: Buffer.from(id) }, data };
      }),
    );
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(
      payloads.map((payload) => {
        if (Buffer.from(payload.metadata?.[METADATA_ENCODING_KEY] ?? []).toString() !== ENCODING) return payload;
        const id = Buffer.from(payload.metadata?.[KEY_ID] ?? []).toString();
        const key = this.byId.get(id);
        if (!key) throw new Error(`payload encrypted with unknown key id '${id}': add it to TEMPORAL_PAYLOAD_KEY`);
        const data = Buffer.from(payload.data ?? []);
        const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
        decipher.setAuthTag(data.subarray(data.length - 16));
        const plain = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
        return temporal.api.common.v1.Payload.decode(plain);
      }),
    );
  }
}

/** The data converter for clients and workers: encrypted payloads and failure messages, or the default. */
export function dataConverterFor(payloadKeys: PayloadKey[] | undefined): DataConverter {
  if (!payloadKeys) return {};
  return {
    payloadCodecs: [new EncryptionCodec(payloadKeys)],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}
