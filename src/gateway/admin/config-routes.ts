/** `GET /config` (the running document as written, with its ETag) and `PUT /config` (replace it whole). */
import { ConfigSchema } from '../../routes/schema.ts';
import { ERROR_RESPONSES } from './admin-routes.ts';
import { WriteBody } from './schemas.ts';
import {
  type ConfigRoutes,
  DryRunQuery,
  IfMatchHeaders,
  sendConfig,
  useWriteValidation,
  validationErrors,
  WRITE_BODY_LIMIT,
  WRITE_ERRORS,
  type WriteRequest,
  writeOptions,
} from './write-support.ts';

export const configRoutes: ConfigRoutes = async (app, { config, tokenId }) => {
  useWriteValidation(app);

  app.get(
    '/config',
    {
      schema: {
        summary: 'The running config document as written (`${env:…}` references kept), its version in `ETag`',
        tags: ['config'],
        response: { 200: ConfigSchema, ...ERROR_RESPONSES },
      },
    },
    async (_request, reply) => {
      const { document, etag } = config.current();
      return sendConfig(reply, document, etag);
    },
  );

  app.put<WriteRequest & { Body: Record<string, unknown> }>(
    '/config',
    {
      bodyLimit: WRITE_BODY_LIMIT,
      schema: {
        summary: 'Replace the whole config atomically (applied by diff); `?dryRun=true` only plans',
        tags: ['config'],
        querystring: DryRunQuery,
        headers: IfMatchHeaders,
        body: ConfigSchema,
        response: { 200: WriteBody, ...WRITE_ERRORS },
      },
      schemaErrorFormatter: validationErrors('config', true),
    },
    async (request, reply) => {
      const result = await config.replace(request.body, writeOptions(request, tokenId));
      return reply.header('etag', result.etag).send({ etag: result.etag, applied: result.applied, plan: result.plan });
    },
  );
};
