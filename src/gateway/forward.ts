/**
 * The proxy core: one `forward` path that carries a client request to an upstream target and its response
 * back, streaming both bodies with back-pressure (never buffered whole), on undici's `dispatch` primitive.
 *
 * - Back-pressure: when the client's socket buffer is full (`res.write` returns false) the upstream
 *   response is paused (`controller.pause()`) until `drain`; the request body is read by undici as the
 *   upstream socket accepts it.
 * - A client that goes away aborts the upstream request (`controller.abort`).
 * - Retries (RFC 9110 §9.2.2): only requests without a body, and only for the conditions the upstream's
 *   `retries.on` names; a status retry also needs an idempotent method. A retry prefers another target and
 *   waits a full-jitter exponential backoff.
 * - Failures map to 502 / 504 (upstream-errors.ts); 503 when no target is left.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { TandemError, UpstreamError } from '../errors.ts';
import type { Route } from '../routes/config.ts';
import { sendError } from './error-response.ts';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import { classifyFailure, toUpstreamError, type FailureKind } from './upstream-errors.ts';
import type { UpstreamRuntime } from './upstream-runtime.ts';

/** One client request on its way through a route. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: Route;
  readonly upstream: UpstreamRuntime;
  /** Path and query to send upstream (after stripPrefix). */
  readonly path: string;
  readonly requestId: string;
  readonly clientIp: string;
}

/** How a forwarded request ended; given to the access log. */
export interface ForwardOutcome {
  /** Status sent to the client (0 when the client left before a response head). */
  readonly status: number;
  /** `host:port` of the last target tried. */
  readonly target: string | undefined;
  /** Request body bytes sent upstream. */
  readonly bytesIn: number;
  /** Response body bytes sent to the client. */
  readonly bytesOut: number;
  readonly attempts: number;
  /** The error answered or that cut the response, if any. */
  readonly error: TandemError | undefined;
  /** The client closed the connection before the response was complete. */
  readonly clientAborted: boolean;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

class ClientAbortedError extends Error {
  readonly code = 'TANDEM_CLIENT_ABORTED';
  constructor() {
    super('the client closed the connection');
  }
}

/**
 * Forwards one exchange; `done` is called once, when the client response is finished or abandoned.
 * Never throws: every failure becomes a response or a closed connection.
 */
export function forward(ex: Exchange, done: (outcome: ForwardOutcome) => void): void {
  new Forwarding(ex, done).start();
}

class Forwarding {
  readonly ex: Exchange;
  readonly #done: (outcome: ForwardOutcome) => void;
  readonly hasBody: boolean;
  readonly #tried = new Set<number>();
  attempt: Attempt | undefined;
  attempts = 0;
  bytesIn = 0;
  bytesOut = 0;
  target: string | undefined;
  error: TandemError | undefined;
  clientGone = false;

  constructor(ex: Exchange, done: (outcome: ForwardOutcome) => void) {
    this.ex = ex;
    this.#done = done;
    const h = ex.req.headers;
    this.hasBody = h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
  }

  start(): void {
    const { req, res, route } = this.ex;
    res.once('close', () => this.#closed());
    const declared = req.headers['content-length'];
    if (route.bodyBytes > 0 && declared !== undefined && Number(declared) > route.bodyBytes) {
      this.fail(new TandemError('TANDEM_ERR_BODY_TOO_LARGE', `request body of ${declared} bytes is larger than the limit of ${route.bodyBytes} bytes`));
      return;
    }
    this.#dispatch();
  }

  #dispatch(): void {
    const { upstream, req, route } = this.ex;
    const index = upstream.pick({ headers: req.headers, clientIp: this.ex.clientIp }, this.#tried);
    if (index === -1) {
      const err = this.#tried.size === 0
        ? new UpstreamError('TANDEM_ERR_NO_HEALTHY_TARGET', `upstream "${upstream.upstream.name}" has no target available`, { retryAfterSeconds: 1 })
        : this.error ?? new UpstreamError('TANDEM_ERR_NO_HEALTHY_TARGET', undefined, { retryAfterSeconds: 1 });
      this.fail(err);
      return;
    }
    this.#tried.add(index);
    const target = upstream.targets[index]!;
    this.target = target.target.authority;
    this.attempts++;
    const upstreamHost = route.hostRewrite ?? (route.preserveHost && req.headers.host !== undefined ? req.headers.host : target.target.authority);
    const headers = upstreamRequestHeaders(req.rawHeaders, {
      clientIp: this.ex.clientIp,
      proto: 'http',
      host: req.headers.host,
      upstreamHost,
      requestId: this.ex.requestId,
    });
    const attempt = new Attempt(this, target);
    this.attempt = attempt;
    target.active++;
    target.pool.dispatch(
      {
        path: this.ex.path,
        method: req.method ?? 'GET',
        headers,
        body: this.hasBody ? req : null,
        idempotent: IDEMPOTENT.has(req.method ?? 'GET'),
        upgrade: null,
      },
      attempt,
    );
  }

  /** May this failure be retried on another target? */
  retryable(condition: FailureKind | number): boolean {
    const { retries } = this.ex.upstream.upstream;
    if (this.clientGone || this.hasBody || this.attempts > retries.attempts) return false;
    if (typeof condition === 'number') return IDEMPOTENT.has(this.ex.req.method ?? 'GET') && retries.on.includes(condition);
    if (condition === 'connectFailure') return retries.on.includes('connectFailure');
    if (condition === 'reset') return IDEMPOTENT.has(this.ex.req.method ?? 'GET') && retries.on.includes('reset');
    return false;
  }

  retry(): void {
    const base = this.ex.upstream.upstream.retries.backoffMs;
    const delay = Math.random() * base * 2 ** (this.attempts - 1);
    if (delay < 1) this.#dispatch();
    else setTimeout(() => (this.clientGone ? undefined : this.#dispatch()), delay);
  }

  /** Answers the client with an error (or cuts the response if its head is already out). */
  fail(err: TandemError): void {
    this.error = err;
    if (this.clientGone) return;
    sendError(this.ex.res, err, this.ex.requestId);
  }

  #closed(): void {
    const { res } = this.ex;
    if (!res.writableFinished) {
      this.clientGone = true;
      this.attempt?.abort(new ClientAbortedError());
    }
    this.#done({
      status: res.headersSent ? res.statusCode : 0,
      target: this.target,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      attempts: this.attempts,
      error: this.error,
      clientAborted: this.clientGone,
    });
  }
}

/** One try against one target: undici's dispatch handler. */
class Attempt implements Dispatcher.DispatchHandler {
  readonly #fw: Forwarding;
  readonly #target: UpstreamRuntime['targets'][number];
  #controller: Dispatcher.DispatchController | undefined;
  #abortReason: Error | undefined;
  #discard = false;
  #settled = false;
  #onDrain: (() => void) | undefined;

  constructor(fw: Forwarding, target: UpstreamRuntime['targets'][number]) {
    this.#fw = fw;
    this.#target = target;
  }

  abort(reason: Error): void {
    if (this.#controller !== undefined) this.#controller.abort(reason);
    else this.#abortReason = reason;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason);
  }

  onBodySent(chunk: Buffer): void {
    const fw = this.#fw;
    fw.bytesIn += chunk.length;
    const limit = fw.ex.route.bodyBytes;
    if (limit > 0 && fw.bytesIn > limit) {
      this.#controller?.abort(new TandemError('TANDEM_ERR_BODY_TOO_LARGE', `request body is larger than the limit of ${limit} bytes`));
    }
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    const fw = this.#fw;
    if (fw.retryable(statusCode) && statusCode >= 500) {
      this.#discard = true;
      fw.error = new UpstreamError('TANDEM_ERR_UPSTREAM_RESPONSE', `upstream target ${this.#target.target.authority} answered ${statusCode}`);
      return;
    }
    const { res } = fw.ex;
    if (res.destroyed) return;
    const list = downstreamResponseHeaders(headers, fw.ex.requestId);
    if (statusMessage !== undefined && statusMessage !== '') res.writeHead(statusCode, statusMessage, list);
    else res.writeHead(statusCode, list);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#discard) return;
    const fw = this.#fw;
    fw.bytesOut += chunk.length;
    const { res } = fw.ex;
    if (!res.write(chunk) && !res.destroyed) {
      controller.pause();
      this.#onDrain ??= () => controller.resume();
      res.once('drain', this.#onDrain);
    }
  }

  onResponseEnd(): void {
    this.#settle();
    if (this.#discard) {
      this.#fw.retry();
      return;
    }
    this.#fw.ex.res.end();
  }

  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    this.#settle();
    const fw = this.#fw;
    if (err instanceof ClientAbortedError || fw.clientGone) return;
    if (err instanceof TandemError) {
      fw.fail(err);
      return;
    }
    if ((err as { code?: string }).code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || fw.ex.req.errored !== null) {
      fw.fail(new TandemError('TANDEM_ERR_BAD_REQUEST', 'the request body ended before its declared length', { cause: err }));
      return;
    }
    const kind = classifyFailure(err);
    fw.error = toUpstreamError(kind, this.#target.target.authority, err);
    if (!fw.ex.res.headersSent && fw.retryable(kind)) {
      fw.retry();
      return;
    }
    fw.fail(fw.error);
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#target.active--;
  }
}
