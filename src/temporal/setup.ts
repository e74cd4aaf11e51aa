import type { Connection } from '@temporalio/client';
import { msNumberToTs, tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from './search-attributes';
import { logger } from '../observability/log';

/**
 * Registers the custom search attributes the workflows set. Idempotent. On clusters where the
 * service may not register them (Temporal Cloud), it logs what to create by hand.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = ALL_SEARCH_ATTRIBUTE_KEYS.filter((key) => !(key.name in (existing.customAttributes ?? {})));
  if (missing.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
    logger.info({ names: missing.map((key) => key.name) }, 'registered search attributes');
  } catch (error) {
    logger.warn(
      { names: missing.map((key) => key.name), error: (error as Error).message },
      'could not register search attributes; create them as Keyword in the namespace',
    );
  }
}

const DAY_SECONDS = 86_400;

/**
 * Sets how long the namespace keeps closed workflows (their histories, results and visibility
 * rows): the change workflows support reads and the export copies out (docs/operations.md).
 */
export async function setNamespaceRetention(connection: Connection, namespace: string, days: number): Promise<void> {
  await connection.workflowService.updateNamespace({
    namespace,
    config: { workflowExecutionRetentionTtl: msNumberToTs(days * DAY_SECONDS * 1000) },
  });
}

/** The namespace's retention of closed workflows, in days. */
export async function namespaceRetentionDays(connection: Connection, namespace: string): Promise<number> {
  const described = await connection.workflowService.describeNamespace({ namespace });
  return tsToMs(described.config?.workflowExecutionRetentionTtl) / (DAY_SECONDS * 1000);
}
