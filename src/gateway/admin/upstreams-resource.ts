/** `GET /upstreams`, `GET|PUT|DELETE /upstreams/{name}`: the upstreams of the running config. */
import { UpstreamSchema } from '../../routes/schema.ts';
import { collectionRoutes } from './collection-routes.ts';

export const upstreamsResource = collectionRoutes({
  kind: 'upstream',
  key: 'upstreams',
  schema: UpstreamSchema,
  put: (config, name, body, options) => config.putUpstream(name, body, options),
  remove: (config, name, options) => config.deleteUpstream(name, options),
});
