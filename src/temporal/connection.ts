import { Client, Connection } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { NativeConnection } from '@temporalio/worker';
import { activeTracing } from '../observability/tracing';
import type { Config } from '../config/config';
import { dataConverterFor } from './encryption';

/**
 * Connection options for the configured frontend: plain for a local server, TLS with an API key
 * for Temporal Cloud, TLS with client certificates (mTLS) for a secured self-hosted cluster.
 */
export function connectionOptions(config: Readonly<Config>) {
  const { address, apiKey, tls } = config.temporal;
  return {
    address,
    // The SDK drops unset options (it fills in its defaults for them).
    tls: tls ? { ...tls } : undefined,
    apiKey,
  };
}

/** A client for the configured namespace, decrypting payloads when TEMPORAL_PAYLOAD_KEY is set. */
export function temporalClient(config: Readonly<Config>, connection: Connection): Client {
  return new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config.temporal.payloadKeys),
    // Traced: the workflow start/signal is a span, and its context travels to the workflow.
    interceptors: activeTracing() ? { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } : undefined,
  });
}

export const connectClient = (config: Readonly<Config>) => Connection.connect(connectionOptions(config));
export const lazyClientConnection = (config: Readonly<Config>) => Connection.lazy(connectionOptions(config));
export const connectWorker = (config: Readonly<Config>) => NativeConnection.connect(connectionOptions(config));
