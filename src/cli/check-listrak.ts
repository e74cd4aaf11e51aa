// `npm run check-listrak`: is this Listrak set-up ready for the integration? Exit 1 when not.
import '../config/dotenv';
import { configOrExit } from '../lifecycle/run-service';
import { ListrakClient } from '../listrak/client';
import { checkListrak, formatReport } from '../listrak/check';
import { listrakClientOptionsFor } from '../temporal/consent-worker';

async function main(): Promise<void> {
  const config = configOrExit();
  const report = await checkListrak(new ListrakClient(listrakClientOptionsFor(config)), config);
  process.stdout.write(`${formatReport(report, config.listrak.apiUrl)}\n`);
  process.exit(report.ok ? 0 : 1);
}

void main();
