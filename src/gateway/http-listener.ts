/**
 * An HTTP listener: a fastify server whose every request goes through one catch-all handler and the
 * listener's current {@link RouteTable}. fastify's own routes are fixed once it is ready; Tandem's change
 * at runtime by swapping the table reference ({@link HttpListener.setTable}), so a lookup always sees one
 * whole table, old or new.
 *
 * Malformed requests never reach a handler: Node's HTTP parser (llhttp, strict mode) rejects them and
 * {@link clientError} answers 400 (431 for an oversized head) with `{ code, message }`. That includes
 * ambiguous framing (Content-Length with Transfer-Encoding, conflicting Content-Lengths: RFC 9112 §6.3),
 * which is therefore never forwarded.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import fastify, { type FastifyInstance } from 'fastify';
import { TandemError } from '../errors.ts';
import type { Config, Listener, Route } from '../routes/config.ts';
import { normalizePath, type RouteTable } from '../routes/route-table.ts';
import { rawErrorResponse, sendError } from './error-response.ts';
import { forward, type ForwardOutcome } from './forward.ts';
import type { Logger } from './logger.ts';
import type { RouteRuntime } from './route-runtime.ts';
import { WebSocketProxy, type WebSocketOutcome, type WebSocketSession } from './websocket-proxy.ts';


export interface HttpListenerOptions {
  readonly listener: Listener;
  readonly limits: Config['limits'];
  readonly table: RouteTable<RouteRuntime>;
  readonly log: Logger;
  readonly accessLog: boolean;
  /** Called once per proxied request when it ends (metrics). */
  readonly onRequest?: (listener: string, rt: RouteRuntime, status: number, durationMs: number) => void;
  /** Called with +1 when a WebSocket session is established on a route, -1 when it ends (metrics). */
  readonly onWebSocket?: (rt: RouteRuntime, delta: number) => void;
}

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,200}$/;
const FRAMING_ERRORS = new Set(['HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_TRANSFER_ENCODING', 'HPE_INVALID_CONTENT_LENGTH']);

export class HttpListener {
  readonly listener: Listener;
  readonly #app: FastifyInstance;
  readonly #log: Logger;
  readonly #accessLog: boolean;
  readonly #ws = new WebSocketProxy();
  readonly #maxPayloadBytes: number;
  readonly #observe: HttpListenerOptions['onRequest'];
  readonly #observeWs: HttpListenerOptions['onWebSocket'];
  #table: RouteTable<RouteRuntime>;
  #draining = false;
  #closing: Promise<void> | undefined;

  constructor(options: HttpListenerOptions) {
    this.listener = options.listener;
    this.#table = options.table;
    this.#log = options.log.child({ component: 'listener', listener: options.listener.name });
    this.#accessLog = options.accessLog;
    this.#observe = options.onRequest;
    this.#observeWs = options.onWebSocket;
    this.#maxPayloadBytes = options.limits.bodyBytes > 0 ? options.limits.bodyBytes : 100 * 1024 * 1024;
    const maxHeaderSize = options.limits.headerBytes;
    this.#app = fastify({
      logger: false,
      return503OnClosing: false,
      forceCloseConnections: 'idle',
      // fastify applies its timeout options only to servers it creates itself: they are set below.
      serverFactory: (handler) => {
        const server = createServer({ maxHeaderSize, insecureHTTPParser: false }, handler);
        // Longer than the usual 60 s idle timeout of load balancers in front, so they close first.
        server.keepAliveTimeout = 72_000;
        // A whole request (head and body) may take as long as it streams; the head must come in 30 s.
        server.requestTimeout = 0;
        server.headersTimeout = 30_000;
        return server;
      },
      clientErrorHandler: (err, socket) => clientError(err, socket, this.#log),
    });
    // Bodies are streamed to the upstream untouched: no fastify parser may read them.
    this.#app.removeAllContentTypeParsers();
    this.#app.addContentTypeParser('*', (_req, _payload, done) => done(null));
    const handle = (request: { raw: IncomingMessage }, reply: { hijack(): void; raw: ServerResponse }): void => {
      reply.hijack();
      this.#handle(request.raw, reply.raw);
    };
    this.#app.all('*', handle);
    this.#app.setNotFoundHandler(handle);
    this.#app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
  }

  /** Swaps the route table; requests already routed keep the route they were given. */
  setTable(table: RouteTable<RouteRuntime>): void {
    this.#table = table;
  }

  /**
   * Binds the listener's address (port 0 picks a free port).
   *
   * @throws {TandemError} `TANDEM_ERR_LISTEN` when the address cannot be bound.
   */
  async listen(): Promise<AddressInfo> {
    try {
      await this.#app.listen({ host: this.listener.host, port: this.listener.port });
    } catch (err) {
      throw new TandemError('TANDEM_ERR_LISTEN', `listener "${this.listener.name}" cannot listen on ${this.listener.address}: ${(err as Error).message}`, { cause: err });
    }
    return this.#app.server.address() as AddressInfo;
  }

  /** The bound address (after {@link listen}). */
  address(): AddressInfo {
    return this.#app.server.address() as AddressInfo;
  }

  /**
   * Drains and stops: stops accepting, lets in-flight requests finish, answers requests that still arrive
   * on open connections with `Connection: close`, closes WebSockets with 1001; at `deadlineMs`, closes
   * whatever is left.
   */
  close(deadlineMs: number): Promise<void> {
    this.#closing ??= this.#close(deadlineMs);
    return this.#closing;
  }

  async #close(deadlineMs: number): Promise<void> {
    this.#draining = true;
    const server = this.#app.server;
    this.#ws.closeAll(1001, 'gateway shutting down');
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => {
      this.#log.warn({ deadlineMs }, 'drain deadline reached: closing remaining connections');
      server.closeAllConnections();
      this.#ws.terminateAll();
    }, deadlineMs);
    try {
      await this.#app.close();
    } finally {
      clearInterval(idle);
      clearTimeout(deadline);
    }
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const requestId = requestIdOf(req);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = normalizePath(q === -1 ? url : url.slice(0, q));
    if (this.#draining) res.shouldKeepAlive = false;
    if (path === undefined) {
      this.#reject(req, res, new TandemError('TANDEM_ERR_BAD_REQUEST', 'the request target must be a path starting with /'), requestId, started);
      return;
    }
    const hit = this.#table.lookup({ method: req.method ?? 'GET', host: req.headers.host, path, headers: req.headers });
    if (hit === undefined) {
      this.#reject(req, res, new TandemError('TANDEM_ERR_NO_ROUTE', `no route for ${req.method ?? 'GET'} ${path}`), requestId, started);
      return;
    }
    const rt = hit.value;
    if (rt.gate.quarantined) {
      this.#reject(req, res, new TandemError('TANDEM_ERR_ROUTE_QUARANTINED', `route "${rt.route.name}" is quarantined after repeated crashes`, { retryAfterSeconds: 5 }), requestId, started);
      return;
    }
    rt.gate.requests++;
    rt.inFlight++;
    const upstreamPath = upstreamPathOf(rt.route, path) + (q === -1 ? '' : url.slice(q));
    const clientIp = req.socket.remoteAddress ?? '';
    forward({ req, res, rt, path: upstreamPath, requestId, clientIp }, (outcome) => {
      rt.inFlight--;
      this.#completed(req, rt, requestId, clientIp, started, outcome);
    });
  }

  #reject(req: IncomingMessage, res: ServerResponse, err: TandemError, requestId: string, started: number): void {
    const remote = req.socket.remoteAddress;
    sendError(res, err, requestId);
    if (this.#accessLog) {
      this.#log.info({ method: req.method, path: req.url, status: err.status, code: err.code, durationMs: elapsed(started), requestId, remote }, 'request');
    }
  }

  #completed(req: IncomingMessage, rt: RouteRuntime, requestId: string, remote: string, started: number, o: ForwardOutcome): void {
    const durationMs = elapsed(started);
    this.#observe?.(this.listener.name, rt, o.status, durationMs);
    if (!this.#accessLog) return;
    this.#log.info(
      {
        route: rt.route.name,
        upstream: rt.upstream.upstream.name,
        target: o.target,
        method: req.method,
        path: req.url,
        status: o.status,
        durationMs,
        bytesIn: o.bytesIn,
        bytesOut: o.bytesOut,
        attempts: o.attempts,
        requestId,
        remote,
        code: o.error?.code,
        clientAborted: o.clientAborted || undefined,
      },
      'request',
    );
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const started = performance.now();
    const remote = req.socket.remoteAddress ?? '';
    const requestId = requestIdOf(req);
    socket.on('error', () => socket.destroy());
    const refuse = (err: TandemError): void => {
      socket.end(rawErrorResponse(err));
      if (this.#accessLog) this.#log.info({ method: req.method, path: req.url, status: err.status, code: err.code, durationMs: elapsed(started), requestId, websocket: true }, 'request');
    };
    if (this.#draining) return refuse(new TandemError('TANDEM_ERR_SHUTTING_DOWN'));
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      return refuse(new TandemError('TANDEM_ERR_BAD_REQUEST', 'only WebSocket upgrades are supported'));
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = normalizePath(q === -1 ? url : url.slice(0, q));
    if (path === undefined) return refuse(new TandemError('TANDEM_ERR_BAD_REQUEST', 'the request target must be a path starting with /'));
    const hit = this.#table.lookup({ method: req.method ?? 'GET', host: req.headers.host, path, headers: req.headers });
    if (hit === undefined) return refuse(new TandemError('TANDEM_ERR_NO_ROUTE', `no route for ${req.method ?? 'GET'} ${path}`));
    const rt = hit.value;
    const { route, upstream } = rt;
    if (rt.gate.quarantined) return refuse(new TandemError('TANDEM_ERR_ROUTE_QUARANTINED', `route "${route.name}" is quarantined after repeated crashes`, { retryAfterSeconds: 5 }));
    if (!route.websocket) return refuse(new TandemError('TANDEM_ERR_WEBSOCKET_NOT_ALLOWED', `route "${route.name}" does not accept WebSocket upgrades`));
    const index = upstream.pick({ headers: req.headers, clientIp: remote }, undefined, rt.admit);
    if (index === -1) return refuse(new TandemError('TANDEM_ERR_NO_HEALTHY_TARGET', undefined, { retryAfterSeconds: rt.retryAfterSeconds() }));
    const breaker = rt.breakers?.[index];
    const admission = breaker?.acquire() ?? 'pass';
    rt.gate.requests++;
    let session: WebSocketSession | undefined;
    this.#ws.handle(
      {
        req,
        socket,
        head,
        route,
        target: upstream.targets[index]!,
        path: upstreamPathOf(route, path) + (q === -1 ? '' : url.slice(q)),
        requestId,
        clientIp: remote,
        connectTimeoutMs: upstream.upstream.timeouts.connectMs,
        maxPayloadBytes: this.#maxPayloadBytes,
        onOpen: (s) => {
          session = s;
          rt.sessions.add(s);
          this.#observeWs?.(rt, 1);
        },
      },
      (o: WebSocketOutcome) => {
        if (session !== undefined) {
          rt.sessions.delete(session);
          this.#observeWs?.(rt, -1);
        }
        this.#observe?.(this.listener.name, rt, o.status, elapsed(started));
        if (breaker !== undefined) {
          if (o.status === 0) breaker.release(admission);
          else breaker.report(admission, o.status < 500);
        }
        if (!this.#accessLog) return;
        this.#log.info(
          { route: route.name, upstream: upstream.upstream.name, target: o.target, method: req.method, path: req.url, status: o.status, durationMs: elapsed(started), bytesIn: o.bytesIn, bytesOut: o.bytesOut, closeCode: o.closeCode, code: o.error?.code, requestId, remote, websocket: true },
          'request',
        );
      },
    );
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

/** The client's X-Request-Id when it is a sane token, else a new UUID. */
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** The path sent upstream: with `stripPrefix`, the route's prefix removed (`/api/x` → `/x`, `/api` → `/`). */
export function upstreamPathOf(route: Route, path: string): string {
  if (!route.stripPrefix || route.match.path.kind !== 'prefix' || route.match.path.prefix === '/') return path;
  const rest = path.slice(route.match.path.prefix.length);
  return rest === '' ? '/' : rest;
}

/** Answers what Node's HTTP parser refused, before any route sees it. */
export function clientError(err: Error & { code?: string }, socket: Socket, log: Logger): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let error: TandemError;
  if (err.code === 'HPE_HEADER_OVERFLOW') error = new TandemError('TANDEM_ERR_HEADERS_TOO_LARGE');
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') error = new TandemError('TANDEM_ERR_REQUEST_TIMEOUT');
  else if (err.code !== undefined && FRAMING_ERRORS.has(err.code)) error = new TandemError('TANDEM_ERR_AMBIGUOUS_FRAMING');
  else error = new TandemError('TANDEM_ERR_BAD_REQUEST', `malformed request: ${(err as { reason?: string }).reason ?? err.message}`);
  log.debug({ code: err.code, status: error.status }, 'client error');
  if (socket.writable) socket.end(rawErrorResponse(error));
  socket.destroy();
}
