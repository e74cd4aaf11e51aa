// OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set.
// Entry points import this module first, before express and http are loaded, so that the HTTP
// instrumentation can patch them. The exporter reads the standard OTEL_EXPORTER_OTLP_* variables
// (OTLP over HTTP; OTEL_SERVICE_NAME names the service).
import type { IncomingMessage } from 'node:http';
import type { Span } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { loggablePath } from './log';

export interface Tracing {
  spanProcessor: SpanProcessor;
  resource: Resource;
  shutdown(): Promise<void>;
}

/** The service name spans carry (OTEL_SERVICE_NAME). */
export function tracingServiceName(env: NodeJS.ProcessEnv = process.env): string {
  return env.OTEL_SERVICE_NAME || 'listrak-consent-sync';
}

function startTracing(): Tracing {
  const resource = new Resource({ 'service.name': tracingServiceName() });
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 1_000 });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  // Paths such as /consents/{email} must not carry the address into a trace backend.
  const scrub = (span: Span, request: unknown) => {
    const url = (request as IncomingMessage).url;
    if (typeof url !== 'string') return;
    span.setAttribute('http.target', loggablePath(url));
    span.setAttribute('url.path', loggablePath(url));
    span.setAttribute('http.url', loggablePath(url));
  };
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => /^\/(healthz|readyz|metrics)\b/.test(request.url ?? ''),
        requestHook: (span, request) => scrub(span, request),
      }),
    ],
  });
  return { spanProcessor, resource, shutdown: () => provider.shutdown() };
}

/** Set when tracing is on in this process. */
export const tracing: Tracing | undefined =
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? startTracing() : undefined;
