// Load generator, run as its own process: signed webhook deliveries sent open-loop at an even
// pace (like the raw client in raw-signal.ts, so the two are comparable), over keep-alive
// connections. argv: <url> <rate per second> <duration seconds> <secret>; prints one JSON line.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { signExtolePayload } from '../src/http/webhook-auth';

const [url = '', rate = '100', duration = '5', secret = ''] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const target = new URL(`${url}/webhooks/extole`);

function send(n: number, run: string): Promise<number> {
  const body = JSON.stringify({
    event_id: `load-${run}-${n}`,
    event_time: new Date().toISOString(),
    type: n % 2 ? 'opt_in' : 'opt_out',
    email: `load.${run}.${n}@example.com`,
  });
  return new Promise((resolve) => {
    const request = http.request(
      target,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-extole-signature': signExtolePayload(secret, body) },
      },
      (response) => {
        response.resume();
        response.once('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.once('error', () => resolve(0));
    request.end(body);
  });
}

async function main(): Promise<void> {
  const run = randomBytes(3).toString('hex');
  const total = Number(rate) * Number(duration);
  const interval = 1000 / Number(rate);
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const started = Date.now();
  const calls: Promise<void>[] = [];
  for (let n = 0; n < total; n++) {
    const wait = started + n * interval - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const t0 = performance.now();
    calls.push(
      send(n, run).then((status) => {
        if (status === 0) errors++;
        else if (status !== 200) non2xx++;
        else latencies.push(performance.now() - t0);
      }),
    );
  }
  await Promise.all(calls);
  const elapsed = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN).toFixed(1));
  process.stdout.write(`${JSON.stringify({ target: Number(rate), rps: Number((latencies.length / elapsed).toFixed(1)), p50: pick(0.5), p99: pick(0.99), non2xx, errors, total })}\n`);
  agent.destroy();
}

void main();
