// `npm run sandbox [-- options]`: the local Listrak stand-in on LISTRAK_SANDBOX_PORT (default 4010).
import '../../config/dotenv';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ChaosProfile } from './chaos';
import { DEFAULT_SEED, ListrakSandbox, type SandboxSeed } from './sandbox';

const USAGE = `npm run sandbox -- [options]
  --port N                 port (default LISTRAK_SANDBOX_PORT or 4010)
  --seed FILE              JSON seed: clients, lists (fields, events), banned/suppressed/pending addresses
  --token-lifetime S       access token lifetime in seconds (default 3600)
  --errors 503:0.3,429:0.1 random error answers by status and rate (optionally 400:0.01:ERROR_CODE)
  --latency MIN-MAX        uniform extra latency in ms
  --timeout-rate R         share of requests that hang (--timeout-ms, default 30000) then drop
  --reset-rate R           share of requests whose connection is reset
  --burst-429 EVERY:LEN    after every EVERY requests, LEN answers of 429
  --payload-limit BYTES    bodies above this answer 404 (default 1048576)
  --random-seed N          seed of the random faults (default 1)`;

function chaosFrom(values: Record<string, string | undefined>): ChaosProfile {
  const profile: ChaosProfile = {};
  if (values['random-seed']) profile.seed = Number(values['random-seed']);
  if (values.errors) {
    profile.errors = values.errors.split(',').map((part) => {
      const [status, rate, error] = part.split(':');
      return { status: Number(status), rate: Number(rate), ...(error ? { error } : {}) };
    });
  }
  if (values.latency) {
    const [min = '0', max = min] = values.latency.split('-');
    profile.latencyMs = { min: Number(min), max: Number(max) };
  }
  if (values['timeout-rate']) profile.timeoutRate = Number(values['timeout-rate']);
  if (values['timeout-ms']) profile.timeoutMs = Number(values['timeout-ms']);
  if (values['reset-rate']) profile.resetRate = Number(values['reset-rate']);
  if (values['burst-429']) {
    const [every = '100', length = '10'] = values['burst-429'].split(':');
    profile.burst429 = { every: Number(every), length: Number(length) };
  }
  return profile;
}

async function main(): Promise<void> {
  const options = Object.fromEntries(
    ['port', 'seed', 'token-lifetime', 'errors', 'latency', 'timeout-rate', 'timeout-ms', 'reset-rate', 'burst-429', 'payload-limit', 'random-seed'].map(
      (name) => [name, { type: 'string' as const }],
    ),
  );
  const { values } = parseArgs({ options: { ...options, help: { type: 'boolean' } }, allowPositionals: false });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const strings = values as Record<string, string | undefined>;
  const port = Number(strings.port ?? process.env.LISTRAK_SANDBOX_PORT ?? 4010);
  const seedFile = strings.seed ?? process.env.LISTRAK_SANDBOX_SEED;
  const seed: SandboxSeed = seedFile ? (JSON.parse(readFileSync(seedFile, 'utf8')) as SandboxSeed) : DEFAULT_SEED;
  const sandbox = new ListrakSandbox(seed);
  if (strings['token-lifetime']) sandbox.tokenLifetimeSeconds = Number(strings['token-lifetime']);
  if (strings['payload-limit']) sandbox.payloadLimitBytes = Number(strings['payload-limit']);
  sandbox.chaos.configure(chaosFrom(strings));
  const urls = await sandbox.listen(port);
  process.stdout.write(
    [
      `Listrak sandbox listening on ${urls.url}`,
      `  LISTRAK_AUTH_URL=${urls.authUrl}`,
      `  LISTRAK_API_URL=${urls.apiUrl}`,
      ...seed.clients.map((client) => `  demo credentials: ${client.clientId} / ${client.clientSecret}`),
      ...seed.lists.map(
        (list) =>
          `  list ${list.listId} "${list.listName}": fields ${(list.segmentationFieldGroups ?? []).flatMap((group) => group.fields.map((field) => field.segmentationFieldId)).join(', ') || 'none'}; events ${(list.events ?? []).map((event) => event.eventId).join(', ') || 'none'}`,
      ),
      `  inspect: ${urls.url}/_sandbox/state, ${urls.url}/_sandbox/requests`,
      '',
    ].join('\n'),
  );
  const stop = () => void sandbox.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
  process.exit(2);
});
