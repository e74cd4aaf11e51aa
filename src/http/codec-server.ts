import express, { type NextFunction, type Request, type Response } from 'express';
import type { Payload } from '@temporalio/common';
import type { Config } from '../config/config';
import { bearerMatches } from './bearer';
import { listen, type RunningServer } from './server';
import { EncryptionCodec } from '../temporal/encryption';

/**
 * Who may ask this codec server to decrypt. A token (CODEC_SERVER_TOKEN, sent as
 * `Authorization: Bearer <token>`: the Temporal CLI's --codec-auth, or an SSO proxy in front of
 * the UI) and/or, for `npm start`'s own dev UI only, which cannot send a token: a browser request
 * from exactly the UI's origin to a loopback listener (a browser cannot forge `Origin`).
 */
export interface CodecAccess {
  token?: string | undefined;
  trustUiOrigin?: boolean;
}

/**
 * A remote codec server for the Temporal UI and CLI (`POST /decode`, Temporal's JSON protocol:
 * `{"payloads":[{"metadata":{…base64},"data":"base64"}]}`): with payload encryption on, the UI
 * shows workflow inputs, signals and results decrypted, in the browser of whoever may see them.
 * It decrypts personal data, so every request needs credentials (CodecAccess), names this
 * namespace (`X-Namespace`, which the UI and the CLI send), and a browser may call it from the
 * Temporal UI's origin (TEMPORAL_UI_URL) only.
 *
 * There is no `/encode`: the UI needs it only to start a workflow or send a signal with input
 * from the browser, which this service never asks of anyone (retry and skip carry no input; the
 * consent CLI sends them). An open /encode would let its callers write payloads that workers
 * accept as the service's own, under the production key.
 */
export function createCodecServer(config: Readonly<Config>, access: CodecAccess): express.Express {
  const keys = config.temporal.payloadKeys;
  if (!keys) throw new Error('the codec server needs TEMPORAL_PAYLOAD_KEY');
  if (access.token === undefined && !access.trustUiOrigin) throw new Error('the codec server needs a credential to check: CODEC_SERVER_TOKEN');
  const codec = new EncryptionCodec(keys);
  const uiOrigin = new URL(config.temporal.uiUrl ?? `http://localhost:${config.temporal.uiPort}`).origin;
  const namespace = config.temporal.namespace;
  const app = express();
  app.disable('x-powered-by');

  app.use((req: Request, res: Response, next: NextFunction) => {
    const origin = req.get('origin');
    if (origin === uiOrigin) {
      res.set({
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'POST, OPTIONS',
        'access-control-allow-headers': 'content-type, x-namespace, authorization, authorization-extras',
        // The UI's TEMPORAL_CODEC_INCLUDE_CREDENTIALS sends cookies (an SSO proxy's session).
        'access-control-allow-credentials': 'true',
        vary: 'origin',
      });
    }
    // A preflight carries no credentials; it only learns what the browser may send.
    if (req.method === 'OPTIONS') {
      res.sendStatus(origin === uiOrigin ? 204 : 403);
      return;
    }
    if (origin !== undefined && origin !== uiOrigin) {
      res.status(403).json({ error: 'forbidden_origin', message: `only ${uiOrigin} (TEMPORAL_UI_URL) may use this codec server from a browser` });
      return;
    }
    const byToken = access.token !== undefined && bearerMatches(req.get('authorization'), access.token);
    const byUi = access.trustUiOrigin === true && origin === uiOrigin;
    if (!byToken && !byUi) {
      res.set('www-authenticate', 'Bearer').status(401).json({
        error: 'unauthorized',
        message: access.token !== undefined ? 'send Authorization: Bearer <CODEC_SERVER_TOKEN>' : `only the Temporal UI at ${uiOrigin} may use this codec server`,
      });
      return;
    }
    if (req.get('x-namespace') !== namespace) {
      res.status(403).json({ error: 'forbidden_namespace', message: `this codec server decodes namespace '${namespace}' only (X-Namespace)` });
      return;
    }
    next();
  });

  app.use(express.json({ limit: '4mb' }));
  app.post('/decode', async (req: Request, res: Response) => {
    const body = req.body as { payloads?: unknown };
    if (!Array.isArray(body?.payloads)) {
      res.status(400).json({ error: 'invalid_body', message: 'expected {"payloads":[…]}' });
      return;
    }
    try {
      const payloads = await codec.decode(body.payloads.map(fromJson));
      res.json({ payloads: payloads.map(toJson) });
    } catch (error) {
      res.status(400).json({ error: 'cannot_decode', message: (error as Error).message });
    }
  });
  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: 'not_found', message: 'this codec server only decodes (POST /decode); there is no /encode' });
  });
  return app;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

function fromJson(payload: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')])),
    data: Buffer.from(payload.data ?? '', 'base64'),
  };
}

function toJson(payload: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
    data: Buffer.from(payload.data ?? []).toString('base64'),
  };
}

/** Starts the codec server on CODEC_SERVER_HOST (default 127.0.0.1) and CODEC_SERVER_PORT, or `port`. */
export function startCodecServer(config: Readonly<Config>, access: CodecAccess, port = config.codecServer?.port ?? 0): Promise<RunningServer> {
  return listen(createCodecServer(config, access), port, config.codecServer?.host ?? '127.0.0.1');
}
