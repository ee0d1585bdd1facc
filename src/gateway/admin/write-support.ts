/**
 * What the admin API's config resources (`config-routes.ts`, `routes-resource.ts`, `upstreams-resource.ts`)
 * share: their plugin options, the request validation, the write options taken from a request, and the
 * answers.
 *
 * Validation: request bodies are checked by fastify against the config file's own TypeBox schemas
 * (`src/routes/schema.ts`), with an Ajv instance of these plugins that neither fills in `default`s, nor
 * coerces types, nor removes fields: the ConfigSource stores the document as written. A failure answers
 * 400 `TANDEM_ERR_CONFIG_INVALID` with `details: [{ path, message }]`, paths relative to the body
 * (`match.pathPrefix`, `targets[0].url`).
 *
 * Answers that carry config (the document, a route, an upstream) are sent as JSON strings: fastify's
 * serializer would otherwise fill in the schemas' defaults and show a document that was never written.
 * Their response schemas are there for the OpenAPI document.
 */
import { Ajv, type ErrorObject } from 'ajv';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import Type from 'typebox';
import { TandemError } from '../../errors.ts';
import { schemaProblems } from '../../routes/config-validate.ts';
import { ERROR_RESPONSES } from './admin-routes.ts';
import type { ConfigSource, WriteOptions } from './config-source.ts';
import { ErrorBody } from './schemas.ts';

export interface ConfigRouteOptions {
  readonly config: ConfigSource;
  /** The non-secret id of the admin token (for the audit log), `undefined` without a token. */
  readonly tokenId: string | undefined;
}

/** One config resource's routes. */
export type ConfigRoutes = FastifyPluginAsync<ConfigRouteOptions>;

/** Largest body a write accepts (bytes); larger → 413 `TANDEM_ERR_BODY_TOO_LARGE`. */
export const WRITE_BODY_LIMIT = 1024 * 1024;

/** Bodies: exactly as written. */
const bodyAjv = new Ajv({ allErrors: true, verbose: true, strict: false, useDefaults: false, coerceTypes: false, removeAdditional: false });
/** Path parameters, query string and headers are strings: `?dryRun=true` becomes `true`. */
const requestAjv = new Ajv({ allErrors: true, verbose: true, strict: false, useDefaults: false, coerceTypes: true, removeAdditional: false });

/**
 * Makes the routes of this plugin context validate with the Ajv instances above (fastify's own would fill
 * in defaults and coerce types in bodies).
 */
export function useWriteValidation(app: Parameters<ConfigRoutes>[0]): void {
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : requestAjv).compile(schema));
}

/** `?dryRun=true`. */
export const DryRunQuery = Type.Object({
  dryRun: Type.Optional(Type.Boolean({ description: 'Validate and plan only: the answer has the plan and `applied: false`; nothing changes.' })),
});

/** `If-Match` (documented as a header parameter). */
export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'The ETag last read (`GET /config`); a different current ETag → 409 `TANDEM_ERR_CONFIG_CONFLICT`. `*` matches any.' })),
});

export interface WriteRequest {
  Querystring: { dryRun?: boolean };
  Headers: { 'if-match'?: string };
}

/** The error answers of every write. */
export const WRITE_ERRORS = {
  400: { ...ErrorBody, description: 'Invalid body (`TANDEM_ERR_CONFIG_INVALID`, with `details: [{ path, message }]`) or not JSON (`TANDEM_ERR_BAD_REQUEST`). Nothing changes.' },
  409: { ...ErrorBody, description: '`If-Match` is not the current ETag (`TANDEM_ERR_CONFIG_CONFLICT`). Nothing changes.' },
  413: { ...ErrorBody, description: 'Body larger than 1 MiB (`TANDEM_ERR_BODY_TOO_LARGE`).' },
  422: { ...ErrorBody, description: 'Unknown upstream or listener, or an upstream still used by a route (`TANDEM_ERR_CONFIG_REFERENCE`). Nothing changes.' },
  ...ERROR_RESPONSES,
} as const;

/** The write options of a request: `If-Match`, `?dryRun`, and who asked. */
export function writeOptions(request: FastifyRequest<WriteRequest>, tokenId: string | undefined): WriteOptions {
  const ifMatch = request.headers['if-match']?.trim();
  return {
    // `If-Match: *` matches any current version (RFC 9110 §13.1.1): the config always exists.
    ifMatch: ifMatch === undefined || ifMatch === '' || ifMatch === '*' ? undefined : ifMatch,
    dryRun: request.query.dryRun === true,
    actor: { source: 'admin', tokenId, remote: request.ip ?? request.socket.remoteAddress },
  };
}

/** Sends config as written (no serializer defaults), with the config's ETag. */
export function sendConfig(reply: FastifyReply, value: unknown, etag: string): FastifyReply {
  return reply.header('etag', etag).type('application/json; charset=utf-8').send(JSON.stringify(value));
}

/** The document's `routes` or `upstreams`, each one an object with a `name`. */
export function section(document: Record<string, unknown>, key: 'routes' | 'upstreams'): Record<string, unknown>[] {
  const items = document[key];
  return Array.isArray(items) ? items.filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null) : [];
}

/**
 * The `schemaErrorFormatter` of a route: body problems (and, for writes, a bad name in the path) are
 * `TANDEM_ERR_CONFIG_INVALID`; a bad query string, or a bad name when reading, `TANDEM_ERR_BAD_REQUEST`.
 * Both carry `details: [{ path, message }]`.
 */
export function validationErrors(what: string, write: boolean) {
  return (errors: FastifySchemaValidationError[], dataVar: string): Error => {
    const details = schemaProblems(errors as unknown as ErrorObject[]);
    const summary = details.map((d) => `${d.path}: ${d.message}`);
    const head = summary.length <= 3 ? summary.join('; ') : `${summary.slice(0, 3).join('; ')}; and ${summary.length - 3} more`;
    if (dataVar === 'body' || (dataVar === 'params' && write)) {
      return new TandemError('TANDEM_ERR_CONFIG_INVALID', `invalid ${what}: ${head}`, { details });
    }
    return new TandemError('TANDEM_ERR_BAD_REQUEST', `invalid ${dataVar === 'querystring' ? 'query string' : dataVar}: ${head}`, { details });
  };
}

