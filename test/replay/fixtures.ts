/**
 * The committed workflow histories that test/replay.test.ts replays against the current workflow
 * code, and what `npm run replay:capture` (scripts/capture-replay-fixtures.ts) writes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const FIXTURE_DIR = path.join(__dirname, 'fixtures');
export const INDEX_FILE = path.join(FIXTURE_DIR, 'index.json');

export const WORKFLOW_TYPES = ['consentLedgerWorkflow', 'applyConsentChangeWorkflow', 'emailHashKeyWorkflow', 'reconcileWorkflow', 'forgetPersonWorkflow'] as const;
export type WorkflowType = (typeof WORKFLOW_TYPES)[number];

/** One line of index.json: a history file and what replaying it needs. */
export interface FixtureEntry {
  /** File in FIXTURE_DIR: `<scenario>[.<part>].<workflowType>.json`. */
  file: string;
  scenario: string;
  workflowType: WorkflowType;
  /** Histories do not carry their workflow id; the ledger reads its own (it passes it to the child). */
  workflowId: string;
  /** What the history shows, for the person a failing replay sends here. */
  description: string;
  /** Payloads encrypted with REPLAY_PAYLOAD_KEY: replaying needs the codec and the failure converter. */
  encrypted: boolean;
  /** The commit whose workflow code produced the history (`-dirty` when the worktree had changes). */
  capturedFrom: string;
}

/** A fixed key for the encrypted fixtures. Not a secret: it never encrypts anything outside tests. */
export const REPLAY_PAYLOAD_KEY = `replay-fixtures:${Buffer.from('replay-fixtures-test-key-32bytes').toString('base64')}`;

export function readIndex(): FixtureEntry[] {
  try {
    return JSON.parse(readFileSync(INDEX_FILE, 'utf8')) as FixtureEntry[];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export function fixtureFileName(scenario: string, workflowType: WorkflowType, part?: string): string {
  return [scenario, part, workflowType, 'json'].filter((piece) => piece !== undefined).join('.');
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;

/**
 * What a fixture must not contain: any value of `forbidden` (secrets and tokens, by name) and any email address
 * outside example.com. Payload data is base64 in history JSON, so each string is also read decoded.
 */
export function privacyProblems(history: unknown, forbidden: Readonly<Record<string, string>>): string[] {
  const problems = new Set<string>();
  const inspect = (text: string) => {
    for (const [name, secret] of Object.entries(forbidden)) if (secret !== '' && text.includes(secret)) problems.add(`contains ${name}`);
    for (const email of text.match(EMAIL) ?? []) {
      if (!email.toLowerCase().endsWith('@example.com')) problems.add(`contains an email address outside example.com: ${email}`);
    }
  };
  const walk = (value: unknown) => {
    if (typeof value === 'string') {
      inspect(value);
      inspect(Buffer.from(value, 'base64').toString('utf8'));
    } else if (Array.isArray(value)) {
      value.forEach(walk);
    } else if (value && typeof value === 'object') {
      Object.values(value).forEach(walk);
    }
  };
  walk(history);
  return [...problems];
}
