import { readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../test/helpers/harness';
import { historyFromJSON } from '../test/replay/history-json';
import { dataConverterFor, parsePayloadKeys } from '../src/temporal/encryption';
async function main() {
  const history = historyFromJSON(JSON.parse(readFileSync(process.argv[2]!, 'utf8')));
  const key = process.argv[3];
  try {
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(Boolean(key)), ...(key ? { dataConverter: dataConverterFor(parsePayloadKeys(key)) } : {}) }, history, 'x');
    console.log('REPLAY OK');
  } catch (e) { console.log('REPLAY FAILED', (e as Error).message); }
}
void main();
