import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import { logger } from '../observability/log';

/** The Temporal SDK's logs (worker, workflows, activities) as lines of the service's own log. */
export function sdkLogger(): Logger {
  const sdk = logger.child({ component: 'temporal' });
  const write = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const method = level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error';
    sdk[method]({ ...meta }, message);
  };
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}

/**
 * Installs the SDK runtime once per process: its logs go to pino, and its metrics (task latencies,
 * poller counts, sticky cache, activity schedule-to-start, …) to a Prometheus exporter on
 * `sdkMetricsBind` that the process's own /metrics appends.
 */
export function installRuntime({
  sdkMetricsBind,
  handleSignals,
}: {
  sdkMetricsBind?: string | undefined;
  /** true: the runtime stops workers on SIGINT/SIGTERM itself (worker-only processes). */
  handleSignals: boolean;
}): void {
  Runtime.install({
    logger: sdkLogger(),
    // Unset: the SDK's own signals (SIGINT, SIGTERM, …), and no metrics exporter.
    shutdownSignals: handleSignals ? undefined : [],
    telemetryOptions: sdkMetricsBind
      ? { metrics: { prometheus: { bindAddress: sdkMetricsBind, countersTotalSuffix: true, useSecondsForDurations: true } } }
      : undefined,
  });
}
