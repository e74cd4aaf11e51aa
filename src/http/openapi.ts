import { z } from 'zod';
import {
  components,
  consentStatusSchema,
  decisionSchema,
  emailParam,
  environmentParam,
  eventIdParam,
  extoleEventSchema,
  forgetBodySchema,
  forgetStartedSchema,
  healthSchema,
  historySchema,
  notReadySchema,
  problemSchema,
  readinessSchema,
  recentLimit,
  reconcileSchema,
  forgetsLimit,
  forgetsSchema,
  recentSchema,
  refusedLimit,
  refusedSchema,
  scopeParam,
  webhookAnswerSchema,
  workflowIdParam,
} from './contract';
import { MAX_EVENTS_PER_REQUEST } from './extole-events';
import { PROBLEM_MEDIA_TYPE } from './problem';

type Auth = 'admin' | 'extole' | 'metrics' | 'none';

/** One answer of a route: JSON by a schema (a problem for 4xx/5xx), or a page or text. */
type Answer = { description: string; schema?: z.ZodType; mediaType?: 'text/html' | 'text/plain'; retryAfter?: boolean };

interface Route {
  method: 'get' | 'post';
  /** OpenAPI form: `/consents/{email}`. */
  path: string;
  summary: string;
  auth: Auth;
  params?: Record<string, z.ZodType>;
  query?: Record<string, z.ZodType>;
  body?: { description: string; schema: z.ZodType };
  answers: Record<number, Answer>;
}

const problem = (description: string, extra: Partial<Answer> = {}): Answer => ({ description, schema: problemSchema, ...extra });
const unauthorized = problem('`unauthorized`: the bearer token is missing or wrong');
const temporalAway = problem('`temporal_unavailable`: Temporal could not be reached; retry later', { retryAfter: true });

const adminEmail = { email: emailParam };
const decision = (action: 'retry' | 'skip'): Route => ({
  method: 'post',
  path: `/changes/{eventId}/${action}`,
  summary: action === 'retry' ? 'Retry a parked change' : 'Skip a parked change (it is never applied)',
  auth: 'admin',
  params: { eventId: eventIdParam },
  query: { workflow_id: workflowIdParam },
  answers: {
    200: { description: 'what the change does now', schema: decisionSchema },
    401: unauthorized,
    404: problem('`not_found`: no change carries this event id'),
    409: problem('`not_parked`: the change is not waiting for a person; `ambiguous`: several parked changes carry the event id (see `workflowIds`)'),
    503: temporalAway,
  },
});

/** Every route of the API; the contract test drives each answer listed here. */
export const ROUTES: readonly Route[] = [
  { method: 'get', path: '/', summary: 'The live view, a page for support (its data comes from the admin routes)', auth: 'none', answers: { 200: { description: 'the page', mediaType: 'text/html' } } },
  { method: 'get', path: '/openapi.json', summary: 'This document', auth: 'none', answers: { 200: { description: 'OpenAPI 3.1', schema: z.looseObject({ openapi: z.string() }) } } },
  { method: 'get', path: '/healthz', summary: 'The process is up', auth: 'none', answers: { 200: { description: 'up', schema: healthSchema } } },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: Temporal reachable (`?scope=intake`), and a worker polling the task queue',
    auth: 'none',
    query: { scope: scopeParam },
    answers: { 200: { description: 'ready', schema: readinessSchema }, 503: { description: '`not_ready`', schema: notReadySchema } },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics of this process',
    auth: 'metrics',
    answers: { 200: { description: 'Prometheus text format', mediaType: 'text/plain' }, 401: unauthorized },
  },
  {
    method: 'post',
    path: '/webhooks/extole',
    summary: 'Extole’s consent events, recorded durably in Temporal before the answer',
    auth: 'extole',
    body: {
      description: `One event or an array of 1 to ${MAX_EVENTS_PER_REQUEST}, as Extole sends them (snake_case; the aliases of the README's "Pointing Extole at the service" are accepted too). Verified on the raw bytes.`,
      schema: z.union([extoleEventSchema, z.array(extoleEventSchema).min(1).max(MAX_EVENTS_PER_REQUEST)]),
    },
    answers: {
      200: { description: 'recorded (exactly 200: Extole retries anything else); events refused one by one are listed in `rejected`', schema: webhookAnswerSchema },
      400: problem('`invalid_json`, or `invalid_events`: nothing in the request could be recorded (see `problems`)'),
      401: problem('`unauthorized`: no valid X-Extole-Signature or Authorization'),
      413: problem('`payload_too_large`: over 1 MiB'),
      415: problem('`unsupported_media_type`: not `application/json`; `bad_request`: a Content-Encoding the server cannot read'),
      503: temporalAway,
    },
  },
  {
    method: 'get',
    path: '/consents/{email}',
    summary: 'A person’s consent: per environment, the ledger and its changes',
    auth: 'admin',
    params: adminEmail,
    answers: { 200: { description: 'the person', schema: consentStatusSchema }, 401: unauthorized, 404: problem('`not_found`: no change recorded for this email'), 503: temporalAway },
  },
  {
    method: 'get',
    path: '/consents/{email}/history',
    summary: 'Every change received for a person, with what Listrak answered',
    auth: 'admin',
    params: adminEmail,
    answers: { 200: { description: 'the history', schema: historySchema }, 401: unauthorized, 404: problem('`not_found`: no change recorded for this email'), 503: temporalAway },
  },
  {
    method: 'post',
    path: '/consents/{email}/forget',
    summary: 'Forget a person: Listrak’s Privacy API is asked (when configured), this service erases the email and profile, keeping a tombstone',
    auth: 'admin',
    params: adminEmail,
    body: { description: 'Who asked, kept in the erasure record', schema: forgetBodySchema },
    answers: {
      202: { description: 'under way: follow it in GET /consents/{email} (`erasure`)', schema: forgetStartedSchema },
      400: problem('`invalid_body`: no `requestedBy`, or no address in the path'),
      401: unauthorized,
      409: problem('`forget_in_progress`: a forget of this person is still under way'),
      429: problem('`rate_limited`: Listrak’s Privacy API allows 20 requests per 10 seconds and 60 per minute; retry after Retry-After', { retryAfter: true }),
      502: problem('`listrak_refused`: Listrak’s Privacy API did not take the request; nothing was forgotten'),
      503: temporalAway,
    },
  },
  {
    method: 'get',
    path: '/forgets',
    summary: 'The most recent forgets, with each one’s erasure record (no email)',
    auth: 'admin',
    query: { limit: forgetsLimit },
    answers: { 200: { description: 'newest first', schema: forgetsSchema }, 400: problem('`invalid_limit`'), 401: unauthorized, 503: temporalAway },
  },
  {
    method: 'get',
    path: '/changes/recent',
    summary: 'The most recent changes',
    auth: 'admin',
    query: { limit: recentLimit, environment: environmentParam },
    answers: { 200: { description: 'newest first', schema: recentSchema }, 400: problem('`invalid_limit`, `invalid_environment`'), 401: unauthorized, 503: temporalAway },
  },
  {
    method: 'get',
    path: '/changes/refused',
    summary: 'Recent refusals at intake (this API process, since it started)',
    auth: 'admin',
    query: { limit: refusedLimit },
    answers: { 200: { description: 'newest first', schema: refusedSchema }, 400: problem('`invalid_limit`'), 401: unauthorized },
  },
  {
    method: 'get',
    path: '/reconcile',
    summary: 'The reconciliation sweeps with Listrak: per routed list, the run under way, the last finished, the next',
    auth: 'admin',
    query: { environment: environmentParam },
    answers: { 200: { description: 'per list and sweep', schema: reconcileSchema }, 400: problem('`invalid_environment`'), 401: unauthorized, 503: temporalAway },
  },
  decision('retry'),
  decision('skip'),
];

const SECURITY: Record<Exclude<Auth, 'none'>, Record<string, string[]>[]> = {
  admin: [{ adminToken: [] }],
  metrics: [{ metricsToken: [] }],
  extole: [{ extoleSignature: [] }, { extoleKey: [] }, { extoleBasic: [] }],
};

const REQUEST_ID_HEADER = { $ref: '#/components/headers/RequestId' };

/** A route's schema: the contract's named schemas as references to the document's components. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const id = components.get(schema)?.id;
  if (id !== undefined) return { $ref: componentRef(id) };
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema: converted }) => {
      const named = components.get(zodSchema as unknown as z.ZodType)?.id;
      if (named === undefined) return;
      for (const key of Object.keys(converted)) delete (converted as Record<string, unknown>)[key];
      converted.$ref = componentRef(named);
    },
  }) as Record<string, unknown>;
  return rest;
}

function componentRef(id: string): string {
  return `#/components/schemas/${id}`;
}

function parameter(name: string, where: 'path' | 'query', schema: z.ZodType): Record<string, unknown> {
  const { description, ...rest } = jsonSchema(schema);
  return { name, in: where, required: where === 'path', description, schema: rest };
}

function answer(status: number, { description, schema, mediaType, retryAfter }: Answer): Record<string, unknown> {
  const type = mediaType ?? (status >= 400 ? PROBLEM_MEDIA_TYPE : 'application/json');
  const headers: Record<string, unknown> = { 'X-Request-Id': REQUEST_ID_HEADER };
  if (retryAfter) headers['Retry-After'] = { description: 'seconds to wait before retrying', schema: { type: 'integer' } };
  return { description, headers, content: { [type]: { schema: schema ? jsonSchema(schema) : { type: 'string' } } } };
}

function operation(route: Route): Record<string, unknown> {
  const parameters = [
    ...Object.entries(route.params ?? {}).map(([name, schema]) => parameter(name, 'path', schema)),
    ...Object.entries(route.query ?? {}).map(([name, schema]) => parameter(name, 'query', schema)),
  ];
  const described: Record<string, unknown> = {
    operationId: `${route.method}${route.path.replace(/[{}]/g, '').replace(/(^|[/._-])(\w)/g, (_match, _sep: string, char: string) => char.toUpperCase())}`,
    summary: route.summary,
    security: route.auth === 'none' ? [] : SECURITY[route.auth],
    parameters,
    responses: {
      ...Object.fromEntries(Object.entries(route.answers).map(([status, answered]) => [status, answer(Number(status), answered)])),
      default: answer(500, problem('`internal_error` (see the service log for the request id), `not_found` for a path no route serves, or `bad_request`')),
    },
  };
  if (route.body) {
    described.requestBody = { required: true, description: route.body.description, content: { 'application/json': { schema: jsonSchema(route.body.schema, 'input') } } };
  }
  return described;
}

/** The OpenAPI 3.1 document of the API, built from the contract's zod schemas (served at GET /openapi.json; docs/openapi.json). */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) (paths[route.path] ??= {})[route.method] = operation(route);
  const { schemas } = z.toJSONSchema(components, { target: 'draft-2020-12', uri: componentRef, unrepresentable: 'any' }) as { schemas: Record<string, Record<string, unknown>> };
  return {
    openapi: '3.1.1',
    info: {
      title: 'listrak-consent-sync',
      version: '1',
      description:
        'Syncs marketing consent from Extole webhooks to Listrak. Every answer is JSON in camelCase; the webhook takes Extole’s events as Extole sends them (snake_case). ' +
        'Every error is an RFC 9457 problem (`application/problem+json`) with `type`, `title`, `status`, `detail`, `instance`, the request id as `requestId` and the code as `error`; ' +
        'the request id is also in the X-Request-Id header of every answer (taken from the request’s X-Request-Id when given).',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(schemas).map(([id, { $schema: _schema, $id: _id, ...schema }]) => [id, schema])),
      headers: { RequestId: { description: 'the request id: the one sent in X-Request-Id, or one made for the request', schema: { type: 'string' } } },
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, when set' },
        extoleSignature: { type: 'apiKey', in: 'header', name: 'X-Extole-Signature', description: 'HMAC-SHA256 of the raw body with EXTOLE_WEBHOOK_SECRET, hex or base64' },
        extoleKey: { type: 'http', scheme: 'bearer', description: 'EXTOLE_WEBHOOK_SECRET' },
        extoleBasic: { type: 'http', scheme: 'basic', description: 'base64(EXTOLE_WEBHOOK_SECRET), with or without a trailing colon' },
      },
    },
  };
}
