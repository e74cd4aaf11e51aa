import express, { type NextFunction, type Request, type Response } from 'express';
import type { Payload } from '@temporalio/common';
import type { Config } from '../config';
import { listen, type RunningServer } from '../http/server';
import { EncryptionCodec } from './encryption';

/**
 * A remote codec server for the Temporal UI and CLI (`POST /encode`, `POST /decode`, Temporal's
 * JSON protocol: `{"payloads":[{"metadata":{…base64},"data":"base64"}]}`): with payload encryption
 * on, the UI shows workflow inputs, signals and results decrypted, in the browser of whoever may
 * see them. It decrypts personal data, so it listens only when CODEC_SERVER_PORT is set, on
 * 127.0.0.1 unless CODEC_SERVER_HOST says otherwise (publish it only behind your SSO proxy), and
 * answers browsers from the Temporal UI's origin (TEMPORAL_UI_URL) only.
 */
export function createCodecServer(config: Readonly<Config>): express.Express {
  const keys = config.temporal.payloadKeys;
  if (!keys) throw new Error('the codec server needs TEMPORAL_PAYLOAD_KEY');
  const codec = new EncryptionCodec(keys);
  const uiOrigin = new URL(config.temporal.uiUrl ?? `http://localhost:${config.temporal.uiPort}`).origin;
  const app = express();
  app.disable('x-powered-by');

  app.use((req: Request, res: Response, next: NextFunction) => {
    const origin = req.get('origin');
    if (origin === uiOrigin) {
      res.set({
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'POST, OPTIONS',
        'access-control-allow-headers': 'content-type, x-namespace, authorization',
        'access-control-allow-credentials': 'true',
        vary: 'origin',
      });
    }
    if (req.method === 'OPTIONS') {
      res.sendStatus(origin === uiOrigin ? 204 : 403);
      return;
    }
    if (origin !== undefined && origin !== uiOrigin) {
      res.status(403).json({ error: 'forbidden_origin', message: `only ${uiOrigin} (TEMPORAL_UI_URL) may use this codec server` });
      return;
    }
    next();
  });

  app.use(express.json({ limit: '4mb' }));
  for (const direction of ['encode', 'decode'] as const) {
    app.post(`/${direction}`, async (req: Request, res: Response) => {
      const body = req.body as { payloads?: unknown };
      if (!Array.isArray(body?.payloads)) {
        res.status(400).json({ error: 'invalid_body', message: 'expected {"payloads":[…]}' });
        return;
      }
      try {
        const payloads = await codec[direction](body.payloads.map(fromJson));
        res.json({ payloads: payloads.map(toJson) });
      } catch (error) {
        res.status(400).json({ error: `cannot_${direction}`, message: (error as Error).message });
      }
    });
  }
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
export function startCodecServer(config: Readonly<Config>, port = config.codecServer?.port ?? 0): Promise<RunningServer> {
  return listen(createCodecServer(config), port, config.codecServer?.host ?? '127.0.0.1');
}
