// `npm run sandbox`: the local Listrak stand-in on LISTRAK_SANDBOX_PORT (default 4010).
import '../env';
import { readFileSync } from 'node:fs';
import { DEFAULT_SEED, ListrakSandbox, type SandboxSeed } from './sandbox';

async function main(): Promise<void> {
  const port = Number(process.env.LISTRAK_SANDBOX_PORT ?? 4010);
  const seedFile = process.env.LISTRAK_SANDBOX_SEED;
  const seed: SandboxSeed = seedFile ? (JSON.parse(readFileSync(seedFile, 'utf8')) as SandboxSeed) : DEFAULT_SEED;
  const sandbox = new ListrakSandbox(seed);
  const urls = await sandbox.listen(port);
  process.stdout.write(
    [
      `Listrak sandbox listening on ${urls.url}`,
      `  LISTRAK_AUTH_URL=${urls.authUrl}`,
      `  LISTRAK_API_URL=${urls.apiUrl}`,
      ...seed.clients.map((client) => `  client: ${client.clientId} / ${client.clientSecret}`),
      `  lists: ${seed.lists.map((list) => list.listId).join(', ')}; events: ${seed.events.map((event) => event.id).join(', ')}`,
      `  inspect: ${urls.url}/_sandbox/state, ${urls.url}/_sandbox/requests`,
      '',
    ].join('\n'),
  );
  const stop = () => void sandbox.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main();
