import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { openApiDocument } from './openapi';

/** One HTTP answer as a client received it. */
export interface Answer {
  method: string;
  /** The requested path, query string allowed. */
  path: string;
  status: number;
  contentType: string;
  /** The body as text. */
  text: string;
  requestId: string | null;
}

type Document = { paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, unknown> }> }>> };

const escapePointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/** `/consents/{email}/history` matches `/consents/a%40b.c/history`: a `{name}` segment matches any one segment. */
function matches(template: string, path: string): boolean {
  const wanted = template.split('/');
  const given = (path.split(/[?#]/, 1)[0] ?? '').split('/');
  return wanted.length === given.length && wanted.every((segment, index) => (segment.startsWith('{') ? given[index] !== '' : segment === given[index]));
}

/**
 * Checks answers against the service's OpenAPI document with a real JSON Schema validator: the
 * status is documented for the route, the media type is the documented one, the body validates,
 * and a problem (status ≥ 400) carries the status, the request id of the X-Request-Id header and a
 * type naming its code. The test harness runs every answer the suite receives through it.
 * Returns what is wrong, or undefined; the template the answer matched is in `template`.
 */
export function contractChecker(document: Document = openApiDocument() as Document) {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  ajv.addVocabulary(['openapi', 'info', 'jsonSchemaDialect', 'paths', 'components']);
  ajv.addSchema({ ...document, $id: 'https://contract.invalid/openapi.json' });
  const templates = Object.keys(document.paths);

  return (answer: Answer): { template?: string; problem?: string } => {
    const method = answer.method.toLowerCase();
    const where = `${answer.method.toUpperCase()} ${answer.path.split('?')[0] ?? ''} → ${answer.status}`;
    const template = templates.find((candidate) => document.paths[candidate]?.[method] && matches(candidate, answer.path));
    // Outside the document (an unknown path, another method): the 404/405 problem of every route.
    const documented = template === undefined ? undefined : document.paths[template]?.[method]?.responses[String(answer.status)];
    if (template !== undefined && !documented) return { template, problem: `${where}: the status is not in the document for ${template}` };
    const mediaType = documented ? Object.keys(documented.content)[0] : 'application/problem+json';
    if (answer.contentType.split(';')[0] !== mediaType) return { template, problem: `${where}: content type ${answer.contentType}, documented ${mediaType}` };
    if (!answer.requestId) return { template, problem: `${where}: no X-Request-Id` };
    let body: unknown = answer.text;
    if (mediaType?.endsWith('json')) {
      try {
        body = JSON.parse(answer.text);
      } catch {
        return { template, problem: `${where}: the body is not JSON` };
      }
    }
    const pointer = template === undefined ? '/components/schemas/Problem' : ['', 'paths', template, method, 'responses', String(answer.status), 'content', mediaType!, 'schema'].map(escapePointer).join('/');
    const validate = ajv.getSchema(`https://contract.invalid/openapi.json#${pointer}`);
    if (!validate) return { template, problem: `${where}: no schema at ${pointer}` };
    if (!validate(body)) return { template, problem: `${where}: ${ajv.errorsText(validate.errors)} in ${answer.text.slice(0, 500)}` };
    if (answer.status >= 400) {
      const problem = body as { status?: number; requestId?: string; type?: string; error?: string };
      if (problem.status !== answer.status) return { template, problem: `${where}: the problem says status ${problem.status}` };
      if (problem.requestId !== answer.requestId) return { template, problem: `${where}: the problem's request id is not the header's` };
      if (!problem.type?.endsWith(`:${problem.error}`)) return { template, problem: `${where}: the type does not name the code` };
      if (answer.text.includes('@')) return { template, problem: `${where}: an address in a problem` };
    }
    return { template };
  };
}
