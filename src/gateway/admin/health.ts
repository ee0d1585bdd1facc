/** `GET /healthz` (the process is alive) and `GET /readyz` (config loaded, every listener up). */
import { TandemError } from '../../errors.ts';
import { ERROR_RESPONSES, type AdminRoutes } from './admin-routes.ts';
import { ErrorBody, HealthBody, ReadyBody } from './schemas.ts';

/** Seconds a probe is told to wait before asking `/readyz` again. */
export const READY_RETRY_AFTER_SECONDS = 1;

export const healthRoutes: AdminRoutes = async (app, { sources }) => {
  app.get(
    '/healthz',
    { schema: { summary: 'Liveness: 200 while the process is alive', tags: ['health'], response: { 200: HealthBody, ...ERROR_RESPONSES } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: 200 when the config is loaded and every listener is up, else 503 with Retry-After',
        tags: ['health'],
        response: { 200: ReadyBody, 503: { ...ErrorBody, description: 'Not ready (yet, or any more while draining).' }, ...ERROR_RESPONSES },
      },
    },
    async () => {
      if (!sources.ready()) {
        throw new TandemError('TANDEM_ERR_NOT_READY', 'not ready: the config is not loaded or a listener is not up', {
          retryAfterSeconds: READY_RETRY_AFTER_SECONDS,
        });
      }
      return { status: 'ready' as const };
    },
  );
};
