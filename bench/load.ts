// Load generator, run as its own process: webhook deliveries at a fixed rate with autocannon.
// argv: <url> <rate per second> <duration seconds> <secret>; prints one JSON line.
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { signExtolePayload } from '../src/http/webhook-auth';

const [url = '', rate = '100', duration = '5', secret = ''] = process.argv.slice(2);
const run = randomBytes(3).toString('hex');
let sequence = 0;

const instance = autocannon(
  {
    url: `${url}/webhooks/extole`,
    method: 'POST',
    connections: 32,
    overallRate: Number(rate),
    duration: Number(duration),
    requests: [
      {
        setupRequest: (request) => {
          const n = sequence++;
          const body = JSON.stringify({
            event_id: `load-${run}-${n}`,
            event_time: new Date().toISOString(),
            type: n % 2 ? 'opt_in' : 'opt_out',
            email: `load.${run}.${n}@example.com`,
          });
          return {
            ...request,
            body,
            headers: { ...request.headers, 'content-type': 'application/json', 'x-extole-signature': signExtolePayload(secret, body) },
          };
        },
      },
    ],
  },
  (error, result) => {
    if (error) throw error;
    process.stdout.write(
      `${JSON.stringify({ target: Number(rate), rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors + result.timeouts, total: result.requests.total })}\n`,
    );
  },
);
process.once('SIGINT', () => instance.stop());
