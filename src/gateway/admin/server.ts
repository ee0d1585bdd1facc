/**
 * The admin API server: a fastify instance of its own on `admin.address`, separate from the data-plane
 * listeners. The state endpoints render {@link AdminSources} snapshots; with a {@link ConfigSource}, the
 * config resources (`config-routes.ts`, `routes-resource.ts`, `upstreams-resource.ts`) read and change the
 * running config through it. One module per resource adds its routes; this file composes them with what
 * every request shares:
 *
 * - the bearer token: when one is configured, EVERY request (health probes included) needs
 *   `Authorization: Bearer <token>`, else 401 with `WWW-Authenticate: Bearer realm="tandem"`; without a
 *   token the server refuses to listen on anything but a loopback address;
 * - errors as `{ code, message }` from the registry: 404 `TANDEM_ERR_NOT_FOUND` for unknown paths, 500
 *   `TANDEM_ERR_INTERNAL` (logged with its stack, never sent) for anything a handler did not expect;
 * - one debug log line per request, without the Authorization header.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { TandemError } from '../../errors.ts';
import { clientError } from '../http-listener.ts';
import type { Logger } from '../logger.ts';
import type { AdminRoutes } from './admin-routes.ts';
import { BearerToken, isLoopback } from './auth.ts';
import { configRoutes } from './config-routes.ts';
import type { ConfigSource } from './config-source.ts';
import { healthRoutes } from './health.ts';
import { metricsRoutes } from './metrics-route.ts';
import { registerOpenApi } from './openapi.ts';
import { routesResource } from './routes-resource.ts';
import type { AdminSources } from './sources.ts';
import { statusRoutes } from './status.ts';
import { supervisorRoutes } from './supervisor.ts';
import { upstreamsResource } from './upstreams-resource.ts';
import type { ConfigRoutes } from './write-support.ts';

/** The resource modules, in the order they are registered. A new resource is one more module here. */
const RESOURCES: readonly AdminRoutes[] = [healthRoutes, statusRoutes, supervisorRoutes, metricsRoutes];

/** The config resources (reads and writes), registered when a {@link ConfigSource} is given. */
const CONFIG_RESOURCES: readonly ConfigRoutes[] = [configRoutes, routesResource, upstreamsResource];

export interface AdminServerOptions {
  /** `admin.address` host: an IP address or `localhost`. */
  readonly host: string;
  /** `admin.address` port; 0 picks a free one (see {@link AdminServer.address}). */
  readonly port: number;
  /** `admin.token`. `undefined` or empty: no token, and only a loopback host is allowed. */
  readonly token: string | undefined;
  readonly sources: AdminSources;
  /**
   * The running config as a versioned document. When given, the server also serves `GET|PUT /config` and
   * the `/routes` and `/upstreams` resources (reads and writes); without it, those paths are 404.
   */
  readonly config?: ConfigSource | undefined;
  readonly log: Logger;
}

/** The body and header of a 401. */
const UNAUTHORIZED = new TandemError('TANDEM_ERR_UNAUTHORIZED');
const WWW_AUTHENTICATE = 'Bearer realm="tandem"';

export class AdminServer {
  readonly #app: FastifyInstance;
  readonly #log: Logger;
  readonly #host: string;
  readonly #port: number;
  readonly #token: BearerToken | undefined;
  readonly #sources: AdminSources;
  readonly #config: ConfigSource | undefined;
  #listening = false;

  constructor(options: AdminServerOptions) {
    this.#host = options.host;
    this.#port = options.port;
    this.#token = options.token === undefined || options.token === '' ? undefined : new BearerToken(options.token);
    this.#sources = options.sources;
    this.#config = options.config;
    this.#log = options.log.child({ component: 'admin' });
    this.#app = fastify({
      logger: false,
      forceCloseConnections: true,
      return503OnClosing: false,
      clientErrorHandler: (err, socket) => clientError(err, socket, this.#log),
    });
  }

  /**
   * Checks the address against the token rule, registers the routes and binds (port 0 picks a free port).
   *
   * @throws {TandemError} `TANDEM_ERR_LISTEN` when no token is configured and the host is not loopback, or
   * when the address cannot be bound.
   */
  async listen(): Promise<AddressInfo> {
    if (this.#token === undefined && !isLoopback(this.#host)) {
      throw new TandemError(
        'TANDEM_ERR_LISTEN',
        `the admin API refuses to listen on ${this.#host}:${this.#port} without a token: set admin.token, or use a loopback address (127.0.0.1, ::1, localhost)`,
      );
    }
    if (this.#listening) throw new TandemError('TANDEM_ERR_LISTEN', 'the admin API is already listening');
    this.#listening = true;
    await this.#setup();
    try {
      await this.#app.listen({ host: this.#host, port: this.#port });
    } catch (err) {
      throw new TandemError('TANDEM_ERR_LISTEN', `the admin API cannot listen on ${this.#host}:${this.#port}: ${(err as Error).message}`, { cause: err });
    }
    const address = this.address();
    this.#log.info({ address: address.address, port: address.port, auth: this.#token !== undefined }, 'admin API listening');
    return address;
  }

  /** The bound address (after {@link listen}). */
  address(): AddressInfo {
    return this.#app.server.address() as AddressInfo;
  }

  /** Stops listening and closes every admin connection. */
  async close(): Promise<void> {
    await this.#app.close();
  }

  async #setup(): Promise<void> {
    const app = this.#app;
    app.addHook('onRequest', async (request, reply) => {
      if (this.#token !== undefined && !this.#token.matches(request.headers.authorization)) {
        return reply.code(401).header('www-authenticate', WWW_AUTHENTICATE).send(UNAUTHORIZED.toJSON());
      }
    });
    app.addHook('onResponse', async (request, reply) => {
      this.#log.debug(
        { method: request.method, path: request.url, status: reply.statusCode, durationMs: Math.round(reply.elapsedTime * 1000) / 1000, remote: request.ip },
        'admin request',
      );
    });
    app.setNotFoundHandler((request, reply) => {
      const path = request.url.length > 200 ? `${request.url.slice(0, 200)}…` : request.url;
      this.#sendError(reply, new TandemError('TANDEM_ERR_NOT_FOUND', `no admin endpoint ${request.method} ${path}`));
    });
    app.setErrorHandler((err: FastifyError, request, reply) => this.#sendError(reply, this.#translate(err, request)));

    await registerOpenApi(app, { version: tandemVersion(), bearer: this.#token !== undefined });
    for (const resource of RESOURCES) await app.register(resource, { sources: this.#sources });
    const config = this.#config;
    if (config !== undefined) {
      for (const resource of CONFIG_RESOURCES) await app.register(resource, { config, tokenId: this.#token?.id });
    }
  }

  /** Tandem errors pass through; fastify's client errors become 400/404; anything else is a logged 500. */
  #translate(err: FastifyError, request: FastifyRequest): TandemError {
    if (err instanceof TandemError) return err;
    const status = err.statusCode ?? 500;
    if (status === 404) return new TandemError('TANDEM_ERR_NOT_FOUND', err.message, { cause: err });
    if (status === 413) return new TandemError('TANDEM_ERR_BODY_TOO_LARGE', undefined, { cause: err });
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const type = request.headers['content-type'];
      return new TandemError('TANDEM_ERR_BAD_REQUEST', `the body must be JSON (Content-Type: application/json)${type === undefined ? '' : `, not ${type.slice(0, 100)}`}`, { cause: err });
    }
    if (status >= 400 && status < 500) return new TandemError('TANDEM_ERR_BAD_REQUEST', err.message, { cause: err });
    this.#log.error({ err, method: request.method, path: request.url }, 'admin request failed');
    return new TandemError('TANDEM_ERR_INTERNAL', undefined, { cause: err });
  }

  #sendError(reply: FastifyReply, err: TandemError): void {
    if (err.status === 503) reply.header('retry-after', String(err.retryAfterSeconds ?? 1));
    // The error body is sent as a string so no route's response schema can drop or reject its fields.
    void reply.code(err.status).type('application/json; charset=utf-8').send(JSON.stringify(err.toJSON()));
  }
}

/** Creates an {@link AdminServer} and listens. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server = new AdminServer(options);
  await server.listen();
  return server;
}

let version: string | undefined;

/** Tandem's package version (for the OpenAPI document), read once. */
function tandemVersion(): string {
  if (version === undefined) {
    try {
      // src/gateway/admin/ and dist/gateway/admin/ are both three levels below the package root.
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      version = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}
