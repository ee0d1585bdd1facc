/**
 * What a resource module of the admin API is: a fastify plugin that adds the routes of one resource
 * (`health.ts`, `status.ts`, `supervisor.ts`, `metrics-route.ts`; later `routes`, `upstreams`, `config`).
 * Handlers read {@link AdminSources} and throw {@link TandemError}s; the server answers errors as
 * `{ code, message }`, checks the bearer token, and @fastify/swagger documents every route from its schema.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ErrorBody } from './schemas.ts';
import type { AdminSources } from './sources.ts';

export interface AdminRouteOptions {
  readonly sources: AdminSources;
}

/** One resource's routes. */
export type AdminRoutes = FastifyPluginAsync<AdminRouteOptions>;

/** Error answers every admin route can give (documented in the OpenAPI document). */
export const ERROR_RESPONSES = {
  401: { ...ErrorBody, description: 'Missing or wrong bearer token (`TANDEM_ERR_UNAUTHORIZED`).' },
  500: { ...ErrorBody, description: 'A bug in Tandem (`TANDEM_ERR_INTERNAL`); the log has the stack.' },
} as const;
