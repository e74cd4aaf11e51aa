// The physical limit for intake: the same Temporal call (signalWithStart) from a trivial client,
// open-loop at a fixed rate. Run as its own process. argv: <temporal address> <rate> <seconds>.
// The call carries what the webhook's does: the two search attributes the server indexes, and
// payloads encrypted with TEMPORAL_PAYLOAD_KEY when it is set.
import { createHash, randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { emailHashKey, environmentKey } from '../src/temporal/search-attributes';
import { dataConverterFor } from '../src/temporal/encryption';
import { parsePayloadKeys } from '../src/config/payload-keys';

async function main(): Promise<void> {
  const [address = '', rate = '100', seconds = '5'] = process.argv.slice(2);
  const connection = await Connection.connect({ address });
  const payloadKey = process.env.TEMPORAL_PAYLOAD_KEY;
  const client = new Client({ connection, dataConverter: payloadKey ? dataConverterFor(parsePayloadKeys(payloadKey)) : undefined });
  const run = randomBytes(3).toString('hex');
  const latencies: number[] = [];
  let errors = 0;
  const total = Number(rate) * Number(seconds);
  const interval = 1000 / Number(rate);
  const started = Date.now();
  const calls: Promise<void>[] = [];
  for (let n = 0; n < total; n++) {
    const due = started + n * interval;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const email = `raw.${run}.${n}@example.com`;
    const emailHash = createHash('sha256').update(email).digest('hex');
    const t0 = performance.now();
    calls.push(
      client.workflow
        .signalWithStart('rawBaseline', {
          workflowId: `raw-${run}-${n}`,
          taskQueue: 'raw-baseline-no-worker',
          args: [{ key: { environment: 'production', listId: 1001, emailHash } }],
          signal: 'consentChange',
          signalArgs: [{ eventId: `raw-${run}-${n}`, type: 'opt_in', email, eventTime: new Date().toISOString(), receivedAt: new Date().toISOString() }],
          typedSearchAttributes: [
            { key: emailHashKey, value: emailHash },
            { key: environmentKey, value: 'production' },
          ],
        })
        .then(
          () => void latencies.push(performance.now() - t0),
          () => void errors++,
        ),
    );
  }
  await Promise.all(calls);
  const elapsed = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN).toFixed(1));
  process.stdout.write(`${JSON.stringify({ target: Number(rate), rps: Number((latencies.length / elapsed).toFixed(1)), p50: pick(0.5), p99: pick(0.99), errors, total })}\n`);
  await connection.close();
}

void main();
