/**
 * Writes docs/openapi.json from the API's contract (src/http/contract.ts): `npx tsx scripts/openapi.ts`.
 * test/openapi.test.ts fails while the file is stale.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { openApiDocument } from '../src/http/openapi';

export const OPENAPI_FILE = path.join(__dirname, '..', 'docs', 'openapi.json');

/** The file's exact text: what the script writes and the test compares. */
export function openApiText(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}

if (require.main === module) {
  writeFileSync(OPENAPI_FILE, openApiText());
  process.stdout.write(`wrote ${path.relative(process.cwd(), OPENAPI_FILE)}\n`);
}
