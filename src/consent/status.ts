import { createChangeCommands } from './change-commands';
import { createChangeListing } from './change-listing';
import { createPersonView } from './person-view';
import { createTemporalReads, type TemporalReadsOptions } from './temporal-reads';

export {
  ChangeAmbiguousError,
  ChangeNotFoundError,
  ChangeNotParkedError,
  describeDecision,
  type DecisionResult,
  type RetryParkedResult,
} from './change-commands';
export type { RecentChange } from './change-listing';
export type { ChangeView, EnvironmentView } from './person-view';

/**
 * What the status endpoints and the `consent` CLI read from Temporal and send to it: a person's
 * view, the change listing, and the commands on parked changes, over the same reads.
 */
export function createOperations(options: TemporalReadsOptions) {
  const reads = createTemporalReads(options);
  const listing = createChangeListing(reads);
  const commands = createChangeCommands(reads, listing);
  return {
    ...createPersonView(reads),
    recentChanges: listing.recentChanges,
    describeChange: listing.describeChange,
    ...commands,
    uiLink: reads.uiLink,
  };
}

export type Operations = ReturnType<typeof createOperations>;
