import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * Listrak's published Swagger 2.0 contract for the Email API, used by the sandbox to route and
 * validate every request it serves. `email-api-swagger.json` beside this file is a copy of
 * ../shared/listrak/email-api-swagger.json (a test keeps them equal).
 */

export const SWAGGER_FILE = path.join(__dirname, 'email-api-swagger.json');

interface SwaggerParameter {
  name: string;
  in: 'path' | 'query' | 'body' | 'header' | 'formData';
  required?: boolean;
  type?: string;
  format?: string;
  schema?: Record<string, unknown>;
}

interface SwaggerOperation {
  operationId: string;
  parameters?: SwaggerParameter[];
}

interface Swagger {
  basePath: string;
  paths: Record<string, Record<string, SwaggerOperation>>;
  definitions: Record<string, unknown>;
}

export interface ContractOperation {
  operationId: string;
  method: string;
  /** Path template under the API base, e.g. `/v1/List/{listId}/Contact`. */
  template: string;
  parameters: SwaggerParameter[];
  validateParams: ValidateFunction;
  validateBody?: ValidateFunction;
  bodyRequired: boolean;
}

export type RouteMatch =
  | { operation: ContractOperation; pathParams: Record<string, string> }
  | { error: 'ERROR_UNKNOWN_ROUTE' | 'ERROR_UNSUPPORTED_METHOD' };

export interface ValidationProblem {
  /** The parameter (or body path) at fault, e.g. `listId`, `contactResource.emailAddress`. */
  parameter: string;
  message: string;
}

const INT32 = { type: 'number' as const, validate: (value: number) => Number.isInteger(value) && value >= -2147483648 && value <= 2147483647 };
const INT64 = { type: 'number' as const, validate: (value: number) => Number.isSafeInteger(value) };

export class ListrakContract {
  private readonly routes: { regex: RegExp; names: string[]; template: string; operations: Map<string, ContractOperation> }[] = [];

  constructor(readonly swagger: Swagger) {
    const bodies = new Ajv({ strict: false, allErrors: true });
    const params = new Ajv({ strict: false, allErrors: true, coerceTypes: true });
    for (const ajv of [bodies, params]) {
      addFormats(ajv);
      ajv.addFormat('int32', INT32);
      ajv.addFormat('int64', INT64);
      ajv.addFormat('double', { type: 'number' as const, validate: () => true });
      ajv.addFormat('float', { type: 'number' as const, validate: () => true });
    }
    bodies.addSchema({ $id: 'listrak', definitions: swagger.definitions });

    for (const [template, methods] of Object.entries(swagger.paths)) {
      const names: string[] = [];
      const pattern = template.replace(/\./g, '\\.').replace(/\{(\w+)\}/g, (_match, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      const operations = new Map<string, ContractOperation>();
      for (const [method, operation] of Object.entries(methods)) {
        const parameters = operation.parameters ?? [];
        const simple = parameters.filter((parameter) => parameter.in === 'path' || parameter.in === 'query');
        const paramSchema = {
          type: 'object',
          properties: Object.fromEntries(
            simple.map((parameter) => [parameter.name, parameterSchema(parameter)]),
          ),
          required: simple.filter((parameter) => parameter.required).map((parameter) => parameter.name),
        };
        const body = parameters.find((parameter) => parameter.in === 'body');
        operations.set(method.toUpperCase(), {
          operationId: operation.operationId,
          method: method.toUpperCase(),
          template,
          parameters,
          validateParams: params.compile(paramSchema),
          validateBody: body?.schema ? bodies.compile(rebase(body.schema)) : undefined,
          bodyRequired: body?.required ?? false,
        } satisfies ContractOperation);
      }
      this.routes.push({ regex: new RegExp(`^${pattern}$`, 'i'), names, template, operations });
    }
  }

  static load(file = SWAGGER_FILE): ListrakContract {
    return new ListrakContract(JSON.parse(readFileSync(file, 'utf8')) as Swagger);
  }

  /** Finds the operation for a request path under the API base (e.g. `/v1/List/12/Contact`). */
  match(method: string, requestPath: string): RouteMatch {
    let pathKnown = false;
    for (const route of this.routes) {
      const found = route.regex.exec(requestPath);
      if (!found) continue;
      pathKnown = true;
      const operation = route.operations.get(method.toUpperCase());
      if (!operation) continue;
      const pathParams = Object.fromEntries(route.names.map((name, index) => [name, decodeURIComponent(found[index + 1] ?? '')]));
      return { operation, pathParams };
    }
    return { error: pathKnown ? 'ERROR_UNSUPPORTED_METHOD' : 'ERROR_UNKNOWN_ROUTE' };
  }

  /** Validates path and query parameters (types, formats, required) and the JSON body. */
  validate(
    operation: ContractOperation,
    pathParams: Record<string, string>,
    query: Record<string, unknown>,
    body: unknown,
  ): ValidationProblem[] {
    const problems: ValidationProblem[] = [];
    const known = new Set(operation.parameters.map((parameter) => parameter.name.toLowerCase()));
    // Listrak matches query parameter names case-insensitively; unknown ones are ignored.
    const values: Record<string, unknown> = { ...pathParams };
    for (const [name, value] of Object.entries(query)) {
      const parameter = operation.parameters.find((candidate) => candidate.name.toLowerCase() === name.toLowerCase());
      if (parameter && known.has(name.toLowerCase())) values[parameter.name] = value;
    }
    if (!operation.validateParams(values)) {
      for (const error of operation.validateParams.errors ?? []) {
        const parameter = error.instancePath.replace(/^\//, '') || String((error.params as { missingProperty?: string }).missingProperty ?? '');
        problems.push({ parameter, message: `An invalid value was supplied for ${parameter}.` });
      }
    }
    if (operation.validateBody) {
      const bodyName = operation.parameters.find((parameter) => parameter.in === 'body')?.name ?? 'body';
      if (body === undefined) {
        if (operation.bodyRequired) problems.push({ parameter: bodyName, message: `A value is required for ${bodyName}.` });
      } else if (!operation.validateBody(body)) {
        for (const error of operation.validateBody.errors ?? []) {
          const missing = (error.params as { missingProperty?: string }).missingProperty;
          const where = [bodyName, ...error.instancePath.split('/').filter(Boolean), ...(missing ? [missing] : [])].join('.');
          problems.push({ parameter: where, message: `An invalid value was supplied for ${where}: ${error.message ?? 'invalid'}.` });
        }
      }
    }
    return problems;
  }
}

/** The JSON schema of a path or query parameter: its Swagger type, and its format where it has one. */
function parameterSchema(parameter: SwaggerParameter): { type: string; format?: string } {
  const schema: { type: string; format?: string } = { type: parameter.type ?? 'string' };
  if (parameter.format) schema.format = parameter.format;
  return schema;
}

/** Points a Swagger schema's `#/definitions/…` references at the registered definitions. */
function rebase(schema: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema).replace(/"#\/definitions\//g, '"listrak#/definitions/')) as Record<string, unknown>;
}
