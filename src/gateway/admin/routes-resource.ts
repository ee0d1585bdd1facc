/** `GET /routes`, `GET|PUT|DELETE /routes/{name}`: the routes of the running config. */
import { RouteSchema } from '../../routes/schema.ts';
import { collectionRoutes } from './collection-routes.ts';

export const routesResource = collectionRoutes({
  kind: 'route',
  key: 'routes',
  schema: RouteSchema,
  put: (config, name, body, options) => config.putRoute(name, body, options),
  remove: (config, name, options) => config.deleteRoute(name, options),
});
