/** `GET /supervisor`: the supervision tree. */
import { ERROR_RESPONSES, type AdminRoutes } from './admin-routes.ts';
import { SupervisorBody } from './schemas.ts';

export const supervisorRoutes: AdminRoutes = async (app, { sources }) => {
  app.get(
    '/supervisor',
    { schema: { summary: 'The supervision tree: each child, its state, restarts', tags: ['status'], response: { 200: SupervisorBody, ...ERROR_RESPONSES } } },
    async () => sources.supervisor(),
  );
};
