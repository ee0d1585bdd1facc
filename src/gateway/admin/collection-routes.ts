/**
 * The routes of one named section of the config (`/routes`, `/upstreams`): list, read one, create or
 * replace one (`PUT`), delete one. Reads answer the document as written with the config's ETag; writes go
 * through the {@link ConfigSource} and answer `{ etag, applied, plan }` (plus `created` for `PUT`).
 */
import Type, { type TSchema } from 'typebox';
import { TandemError } from '../../errors.ts';
import { ERROR_RESPONSES } from './admin-routes.ts';
import type { ConfigSource, WriteOptions, WriteResult } from './config-source.ts';
import { ErrorBody, PutBody, WriteBody } from './schemas.ts';
import {
  type ConfigRoutes,
  DryRunQuery,
  IfMatchHeaders,
  section,
  sendConfig,
  useWriteValidation,
  validationErrors,
  WRITE_BODY_LIMIT,
  WRITE_ERRORS,
  type WriteRequest,
  writeOptions,
} from './write-support.ts';

export interface CollectionSpec {
  /** `route` or `upstream`: used in messages and summaries. */
  readonly kind: string;
  /** The document's key and the URL's first segment: `routes`, `upstreams`. */
  readonly key: 'routes' | 'upstreams';
  /** The config file's schema of one item (`RouteSchema`, `UpstreamSchema`); its `name` is the path's. */
  readonly schema: TSchema & { readonly properties: { readonly name: TSchema } };
  readonly put: (config: ConfigSource, name: string, body: Record<string, unknown>, options: WriteOptions) => Promise<WriteResult & { readonly created: boolean }>;
  readonly remove: (config: ConfigSource, name: string, options: WriteOptions) => Promise<WriteResult>;
}

interface Named {
  Params: { name: string };
}

export function collectionRoutes(spec: CollectionSpec): ConfigRoutes {
  const { kind, key, schema } = spec;
  const tags = [key];
  const Params = Type.Object({ name: schema.properties.name });
  const notFound = { ...ErrorBody, description: `No ${kind} of that name (\`TANDEM_ERR_NOT_FOUND\`).` };
  const readErrors = validationErrors(`${kind} name`, false);

  return async (app, { config, tokenId }) => {
    useWriteValidation(app);

    app.get(
      `/${key}`,
      {
        schema: {
          summary: `Every ${kind} of the running config, as written; the config's ETag in \`ETag\``,
          tags,
          response: { 200: Type.Array(schema, { description: `The document's ${key}.` }), ...ERROR_RESPONSES },
        },
      },
      async (_request, reply) => {
        const { document, etag } = config.current();
        return sendConfig(reply, section(document, key), etag);
      },
    );

    app.get<Named>(
      `/${key}/:name`,
      {
        schema: {
          summary: `One ${kind}, as written; the config's ETag in \`ETag\``,
          tags,
          params: Params,
          response: { 200: schema, 400: { ...ErrorBody, description: 'Not a valid name (`TANDEM_ERR_BAD_REQUEST`).' }, 404: notFound, ...ERROR_RESPONSES },
        },
        schemaErrorFormatter: readErrors,
      },
      async (request, reply) => {
        const { document, etag } = config.current();
        const item = section(document, key).find((i) => i['name'] === request.params.name);
        if (item === undefined) throw new TandemError('TANDEM_ERR_NOT_FOUND', `no ${kind} named "${request.params.name}"`);
        return sendConfig(reply, item, etag);
      },
    );

    app.put<Named & WriteRequest & { Body: Record<string, unknown> }>(
      `/${key}/:name`,
      {
        bodyLimit: WRITE_BODY_LIMIT,
        schema: {
          summary: `Create or replace one ${kind} (201 when created, 200 when replaced); \`?dryRun=true\` only plans`,
          tags,
          params: Params,
          querystring: DryRunQuery,
          headers: IfMatchHeaders,
          body: schema,
          response: { 200: PutBody, 201: PutBody, ...WRITE_ERRORS },
        },
        schemaErrorFormatter: validationErrors(kind, true),
      },
      async (request, reply) => {
        const { name } = request.params;
        if (request.body['name'] !== name) {
          throw new TandemError('TANDEM_ERR_CONFIG_INVALID', `invalid ${kind}: name: must be "${name}", the name in the path`, {
            details: [{ path: 'name', message: `must be "${name}", the name in the path (is ${JSON.stringify(request.body['name'])})` }],
          });
        }
        const options = writeOptions(request, tokenId);
        const result = await spec.put(config, name, request.body, options);
        const answer = { etag: result.etag, applied: result.applied, created: result.created, plan: result.plan };
        return reply.code(result.created && result.applied ? 201 : 200).header('etag', result.etag).send(answer);
      },
    );

    app.delete<Named & WriteRequest>(
      `/${key}/:name`,
      {
        schema: {
          summary: `Delete one ${kind}; \`?dryRun=true\` only plans`,
          tags,
          params: Params,
          querystring: DryRunQuery,
          headers: IfMatchHeaders,
          response: { 200: WriteBody, 404: notFound, ...WRITE_ERRORS },
        },
        schemaErrorFormatter: validationErrors(`${kind} name`, false),
      },
      async (request, reply) => {
        const result = await spec.remove(config, request.params.name, writeOptions(request, tokenId));
        return reply.code(200).header('etag', result.etag).send({ etag: result.etag, applied: result.applied, plan: result.plan });
      },
    );
  };
}
