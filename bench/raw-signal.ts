// The physical limit for intake: the same Temporal call (signalWithStart) from a trivial client,
// open-loop at a fixed rate. Run as its own process. argv: <temporal address> <rate> <seconds>.
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';

async function main(): Promise<void> {
  const [address = '', rate = '100', seconds = '5'] = process.argv.slice(2);
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
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
    const t0 = performance.now();
    calls.push(
      client.workflow
        .signalWithStart('rawBaseline', {
          workflowId: `raw-${run}-${n}`,
          taskQueue: 'raw-baseline-no-worker',
          args: [{ n }],
          signal: 'consentChange',
          signalArgs: [{ n, email: `raw.${n}@example.com` }],
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
