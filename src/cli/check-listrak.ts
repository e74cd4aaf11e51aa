// `npm run check-listrak`: is this Listrak set-up ready for the integration? Exit 1 when not.
import '../config/dotenv';
import { loadConfig } from '../config/config';
import { ListrakClient } from '../listrak/client';
import { checkListrak, formatReport } from '../listrak/check';
import { exitOnConfigError } from '../config/startup';

async function main(): Promise<void> {
  const config = exitOnConfigError(loadConfig);
  const client = new ListrakClient({ authUrl: config.listrak.authUrl, apiUrl: config.listrak.apiUrl, timeoutMs: 10_000 });
  const report = await checkListrak(client, config);
  process.stdout.write(`${formatReport(report, config.listrak.apiUrl)}\n`);
  process.exit(report.ok ? 0 : 1);
}

void main();
