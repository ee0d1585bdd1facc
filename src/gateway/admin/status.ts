/** `GET /status` (every route and upstream target) and `GET /status/routes/{name}` (one route). */
import Type from 'typebox';
import { TandemError } from '../../errors.ts';
import { ERROR_RESPONSES, type AdminRoutes } from './admin-routes.ts';
import { ErrorBody, RouteStatus, StatusBody } from './schemas.ts';

export const statusRoutes: AdminRoutes = async (app, { sources }) => {
  app.get(
    '/status',
    { schema: { summary: 'Every route and upstream target with its state machines’ states and counters', tags: ['status'], response: { 200: StatusBody, ...ERROR_RESPONSES } } },
    async () => sources.status(),
  );

  app.get<{ Params: { name: string } }>(
    '/status/routes/:name',
    {
      schema: {
        summary: 'One route’s status',
        tags: ['status'],
        params: Type.Object({ name: Type.String({ description: 'Route name.' }) }),
        response: { 200: RouteStatus, 404: { ...ErrorBody, description: 'No route of that name (`TANDEM_ERR_NOT_FOUND`).' }, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const route = sources.status().routes.find((r) => r.name === request.params.name);
      if (route === undefined) throw new TandemError('TANDEM_ERR_NOT_FOUND', `no route named "${request.params.name}"`);
      return route;
    },
  );
};
