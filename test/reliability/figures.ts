import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/dev/paths';
import { SCALE } from '../../src/dev/cluster';

export const RESULTS_DIR = path.join(PROJECT_ROOT, 'reliability-results');

/** Prints a suite's figures and keeps them in reliability-results/<scale>-<suite>.json. */
export function recordFigures(suite: string, figures: Record<string, unknown>): void {
  const entry = { suite, scale: SCALE, at: new Date().toISOString(), figures };
  process.stdout.write(`FIGURES ${JSON.stringify(entry)}\n`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path.join(RESULTS_DIR, `${SCALE}-${suite}.json`), `${JSON.stringify(entry, null, 2)}\n`);
}
