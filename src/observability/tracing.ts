// OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set
// (config.tracing). Entry points start it from configuration before they load express and http,
// so that the HTTP instrumentation can patch them. Spans go by OTLP over HTTP to config.tracing's
// URL; the exporter itself still honours the standard OTEL_EXPORTER_OTLP_HEADERS and timeouts.
import type { IncomingMessage } from 'node:http';
import type { Span } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { Config } from '../config/config';
import { loggablePath } from './log';

type TracingSettings = NonNullable<Config['tracing']>;

export interface Tracing {
  spanProcessor: SpanProcessor;
  resource: Resource;
  shutdown(): Promise<void>;
}

/** The resource every span carries: this service's name (OTEL_SERVICE_NAME). */
export function tracingResource(settings: TracingSettings): Resource {
  return new Resource({ 'service.name': settings.serviceName });
}

function startExporting(settings: TracingSettings): Tracing {
  const resource = tracingResource(settings);
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.tracesUrl }), { scheduledDelayMillis: 1_000 });
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

let active: Tracing | undefined;

/**
 * Starts tracing when configuration asks for it (once per process; a second call returns the
 * first). Call it before express and http are loaded.
 */
export function startTracing(settings: TracingSettings | undefined): Tracing | undefined {
  if (settings && !active) active = startExporting(settings);
  return active;
}

/** The tracing this process started, if any (the Temporal client and worker add their interceptors). */
export function activeTracing(): Tracing | undefined {
  return active;
}
