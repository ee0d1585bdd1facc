/** `GET /metrics`: the Prometheus text exposition. */
import Type from 'typebox';
import { ERROR_RESPONSES, type AdminRoutes } from './admin-routes.ts';

export const metricsRoutes: AdminRoutes = async (app, { sources }) => {
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        tags: ['metrics'],
        response: {
          200: { description: 'Prometheus text format.', content: { 'text/plain': { schema: Type.String() } } },
          ...ERROR_RESPONSES,
        },
      },
    },
    async (_request, reply) => {
      const { contentType, body } = await sources.metrics();
      return reply.type(contentType).send(body);
    },
  );
};
