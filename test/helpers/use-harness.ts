import { after, before } from 'node:test';
import type { SandboxSeed } from '../../src/dev/listrak-sandbox/sandbox';
import { createHarness, type Harness, type Service } from '../../src/dev/harness';

/**
 * The setup most test files share: one harness and one service for the enclosing `describe`,
 * started in a node:test `before` and closed in an `after`. Returns getters (valid in tests and
 * hooks, not while the describe body runs).
 */
export function useHarness(
  overrides: Record<string, string | undefined> = {},
  options: { timeSkipping?: boolean; seed?: SandboxSeed } = {},
): { harness: () => Harness; service: () => Service } {
  let harness: Harness | undefined;
  let service: Service | undefined;
  before(async () => {
    harness = await createHarness(options);
    service = await harness.start(overrides);
  });
  after(async () => {
    await harness?.close();
  });
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the ${what} is not started yet: use it inside a test or hook`);
    return value;
  };
  return { harness: () => started(harness, 'harness'), service: () => started(service, 'service') };
}
