// A stand-in for the change workflow in `npm run bench:export`: same type name, same input, a
// result of the same shape, but no Listrak activity, so 100,000 closed ones are cheap to make.
import type { ApplyChangeInput, ApplyResult } from '../src/shared';

export function applyConsentChangeWorkflow(input: ApplyChangeInput): Promise<ApplyResult> {
  const written = input.change.eventTimeMs + 1_000;
  return Promise.resolve({ outcome: 'applied', writeStartedAtMs: written - 40, writeFinishedAtMs: written, attempt: 1 });
}
