// `npm run sandbox [-- options]`: the local Listrak stand-in on LISTRAK_SANDBOX_PORT (default 4010).
import '../../config/dotenv';
import { parseArgs } from 'node:util';
import { processEnvironment } from '../../config/environment';
import { parseSandboxSettings, SANDBOX_FLAGS } from '../../config/sandbox';
import { sandboxFromSettings } from './sandbox';

const USAGE = `npm run sandbox -- [options]
  --port N                 port (default LISTRAK_SANDBOX_PORT or 4010)
  --seed FILE              JSON seed: clients, lists (fields, events), banned/suppressed/pending addresses
                           (default LISTRAK_SANDBOX_SEED, else the built-in seed)
  --token-lifetime S       access token lifetime in seconds (default 3600)
  --errors 503:0.3,429:0.1 random error answers by status and rate (optionally 400:0.01:ERROR_CODE)
  --latency MIN-MAX        uniform extra latency in ms
  --timeout-rate R         share of requests that hang (--timeout-ms, default 30000) then drop
  --reset-rate R           share of requests whose connection is reset
  --burst-429 EVERY:LEN    after every EVERY requests, LEN answers of 429
  --payload-limit BYTES    bodies above this answer 404 (default 1048576)
  --random-seed N          seed of the random faults (default 1)`;

async function main(): Promise<void> {
  const options = Object.fromEntries(SANDBOX_FLAGS.map((name) => [name, { type: 'string' as const }]));
  const { values } = parseArgs({ options: { ...options, help: { type: 'boolean' } }, allowPositionals: false });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { help: _help, ...flags } = values as Record<string, string | undefined>;
  const settings = parseSandboxSettings(processEnvironment(), flags);
  const sandbox = sandboxFromSettings(settings);
  const seed = sandbox.seed;
  const urls = await sandbox.listen(settings.port);
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
