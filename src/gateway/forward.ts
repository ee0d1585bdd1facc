/**
 * The proxy core: one `forward` path that carries a client request to an upstream target and its response
 * back, streaming both bodies with back-pressure (never buffered whole), on undici's `dispatch` primitive.
 *
 * - Target choice: the upstream's load balancer among targets in the rotation (healthy, not ejected:
 *   the target machines) whose breaker for this route admits (the breaker machines). None left → 503
 *   with `Retry-After` (the soonest a breaker goes half-open), without touching any backend.
 * - Back-pressure: when the client's socket buffer is full (`res.write` returns false) the upstream
 *   response is paused (`controller.pause()`) until `drain`; the request body is read by undici as the
 *   upstream socket accepts it.
 * - A client that goes away aborts the upstream request (`controller.abort`).
 * - Retries (RFC 9110 §9.2.2): only requests without a body, and only for the conditions the upstream's
 *   `retries.on` names; a status or reset retry also needs an idempotent method. A retry prefers another
 *   target, waits a full-jitter exponential backoff (or the upstream's `Retry-After`, up to
 *   `maxRetryAfterMs`), and needs room in the upstream's retry budget. Every attempt has its own
 *   response-head timeout (`perTryTimeoutMs`) inside the request's overall `requestMs`.
 * - Failures map to 502 / 504 (upstream-errors.ts).
 * - Every attempt's outcome goes to the route's breaker, the target's machine (outlier detection) and
 *   the {@link ProxyObserver} (metrics, logs).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { TandemError, UpstreamError } from '../errors.ts';
import type { ClockTimer } from '../fsm/index.ts';
import type { Admission } from '../routes/breaker.machine.ts';
import { sendError } from './error-response.ts';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import type { AttemptOutcome } from './observer.ts';
import type { RouteRuntime } from './route-runtime.ts';
import { classifyFailure, toUpstreamError, type FailureKind } from './upstream-errors.ts';
import type { TargetRuntime } from './upstream-runtime.ts';

/** One client request on its way through a route. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly rt: RouteRuntime;
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
  readonly idempotent: boolean;
  readonly #tried = new Set<number>();
  /** Clock time (ms) by which the response head must have come, across all attempts. */
  readonly deadline: number;
  attempt: Attempt | undefined;
  attempts = 0;
  bytesIn = 0;
  bytesOut = 0;
  target: string | undefined;
  error: TandemError | undefined;
  clientGone = false;
  #backoff: ClockTimer | undefined;
  #counted = false;

  constructor(ex: Exchange, done: (outcome: ForwardOutcome) => void) {
    this.ex = ex;
    this.#done = done;
    const h = ex.req.headers;
    this.hasBody = h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
    this.idempotent = IDEMPOTENT.has(ex.req.method ?? 'GET');
    this.deadline = ex.rt.clock.now() + ex.rt.upstream.upstream.timeouts.requestMs;
  }

  start(): void {
    const { req, res, rt } = this.ex;
    res.once('close', () => this.#closed());
    const declared = req.headers['content-length'];
    const limit = rt.route.bodyBytes;
    if (limit > 0 && declared !== undefined && Number(declared) > limit) {
      this.fail(new TandemError('TANDEM_ERR_BODY_TOO_LARGE', `request body of ${declared} bytes is larger than the limit of ${limit} bytes`));
      return;
    }
    rt.upstream.activeRequests++;
    rt.upstream.retryBudget.deposit();
    this.#counted = true;
    this.#dispatch();
  }

  #dispatch(): void {
    this.#backoff = undefined;
    const { req, rt } = this.ex;
    const { upstream } = rt;
    const source = { headers: req.headers, clientIp: this.ex.clientIp };
    let index = upstream.pick(source, this.#tried, rt.admit);
    // A retry prefers another target; when none is left, the one already tried will do.
    if (index === -1 && this.#tried.size > 0) index = upstream.pick(source, undefined, rt.admit);
    if (index === -1) {
      this.fail(
        this.#tried.size === 0 || this.error === undefined
          ? new UpstreamError('TANDEM_ERR_NO_HEALTHY_TARGET', `upstream "${upstream.upstream.name}" has no target available`, { retryAfterSeconds: rt.retryAfterSeconds() })
          : this.error,
      );
      return;
    }
    const admission: Admission = rt.breakers?.[index]!.acquire() ?? 'pass';
    this.#tried.add(index);
    const target = upstream.targets[index]!;
    this.target = target.target.authority;
    this.attempts++;
    const remaining = this.deadline - rt.clock.now();
    const perTry = upstream.upstream.retries.perTryTimeoutMs;
    const headersTimeout = Math.max(1, Math.min(perTry ?? remaining, remaining));
    const upstreamHost = rt.route.hostRewrite ?? (rt.route.preserveHost && req.headers.host !== undefined ? req.headers.host : target.target.authority);
    const headers = upstreamRequestHeaders(req.rawHeaders, {
      clientIp: this.ex.clientIp,
      proto: 'http',
      host: req.headers.host,
      upstreamHost,
      requestId: this.ex.requestId,
    });
    const attempt = new Attempt(this, target, admission, this.attempts > 1);
    this.attempt = attempt;
    target.active++;
    target.requests++;
    if (attempt.isRetry) upstream.activeRetries++;
    target.pool.dispatch(
      {
        path: this.ex.path,
        method: req.method ?? 'GET',
        headers,
        body: this.hasBody ? req : null,
        idempotent: this.idempotent,
        upgrade: null,
        headersTimeout,
        bodyTimeout: upstream.upstream.timeouts.idleMs,
      },
      attempt,
    );
  }

  /** May this failure be retried, by policy (not yet by budget)? */
  retryable(condition: FailureKind | number): boolean {
    const { retries } = this.ex.rt.upstream.upstream;
    if (this.clientGone || this.hasBody || this.attempts > retries.attempts) return false;
    if (typeof condition === 'number') return this.idempotent && retries.on.includes(condition);
    if (condition === 'connectFailure') return retries.on.includes('connectFailure');
    if (condition === 'reset' || condition === 'timeout') return this.idempotent && retries.on.includes(condition);
    return false;
  }

  /**
   * Plans a retry the policy allows: it also needs time before the deadline and a place in the
   * upstream's retry budget (taken here). `retryAfterMs` is the upstream's `Retry-After`. Returns the
   * backoff delay (ms), or undefined when no retry will be made.
   */
  planRetry(from: TargetRuntime, reason: string, retryAfterMs = 0): number | undefined {
    const { rt } = this.ex;
    const { retries } = rt.upstream.upstream;
    // Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
    const ceiling = Math.min(retries.maxBackoffMs, retries.backoffMs * 2 ** (this.attempts - 1));
    const delay = Math.max(Math.random() * ceiling, retryAfterMs);
    if (rt.clock.now() + delay >= this.deadline) return undefined;
    if (!rt.upstream.takeRetry()) {
      rt.observer.retryBudgetExhausted(rt, reason);
      return undefined;
    }
    rt.observer.retry(rt, from, reason, Math.round(delay), this.attempts + 1);
    return delay;
  }

  /** Sends the next attempt after `delay` ms (on the route's clock). */
  retryAfter(delay: number): void {
    const { rt } = this.ex;
    if (delay < 1) {
      this.#dispatch();
      return;
    }
    const timer = rt.clock.createTimer(() => {
      if (!this.clientGone) this.#dispatch();
    });
    timer.arm(rt.clock.now() + delay);
    this.#backoff = timer;
  }

  /** Answers the client with an error (or cuts the response if its head is already out). */
  fail(err: TandemError): void {
    this.error = err;
    if (this.clientGone) return;
    sendError(this.ex.res, err, this.ex.requestId);
  }

  #closed(): void {
    const { res, rt } = this.ex;
    if (!res.writableFinished) {
      this.clientGone = true;
      this.attempt?.abort(new ClientAbortedError());
      this.#backoff?.disarm();
    }
    if (this.#counted) rt.upstream.activeRequests--;
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

/** Parses `Retry-After` (seconds or an HTTP date) into ms from now; 0 when absent or invalid. */
function retryAfterMs(value: string | string[] | undefined): number {
  if (typeof value !== 'string') return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? 0 : Math.max(0, date - Date.now());
}

/** One try against one target: undici's dispatch handler. */
class Attempt implements Dispatcher.DispatchHandler {
  readonly #fw: Forwarding;
  readonly #target: TargetRuntime;
  readonly #admission: Admission;
  readonly isRetry: boolean;
  readonly #started: number;
  #controller: Dispatcher.DispatchController | undefined;
  #abortReason: Error | undefined;
  /** Set for a retryable answer that will be retried: its body is read and dropped, then the retry goes out. */
  #retryDelay: number | undefined;
  #settled = false;
  #ended = false;
  #onDrain: (() => void) | undefined;

  constructor(fw: Forwarding, target: TargetRuntime, admission: Admission, isRetry: boolean) {
    this.#fw = fw;
    this.#target = target;
    this.#admission = admission;
    this.isRetry = isRetry;
    this.#started = fw.ex.rt.clock.now();
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
    const limit = fw.ex.rt.route.bodyBytes;
    if (limit > 0 && fw.bytesIn > limit) {
      this.#controller?.abort(new TandemError('TANDEM_ERR_BODY_TOO_LARGE', `request body is larger than the limit of ${limit} bytes`));
    }
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    const fw = this.#fw;
    const failed = statusCode >= 500;
    this.#settle(failed ? 'http5xx' : 'ok');
    if (failed && fw.retryable(statusCode)) {
      const wait = statusCode === 503 || statusCode === 429 ? retryAfterMs(headers['retry-after']) : 0;
      // Only when the retry will happen is this answer dropped; else it goes to the client as it is.
      const delay = wait <= fw.ex.rt.upstream.upstream.retries.maxRetryAfterMs ? fw.planRetry(this.#target, `status ${statusCode}`, wait) : undefined;
      if (delay !== undefined) {
        this.#retryDelay = delay;
        return;
      }
    }
    const { res } = fw.ex;
    if (res.destroyed) return;
    const list = downstreamResponseHeaders(headers, fw.ex.requestId);
    if (statusMessage !== undefined && statusMessage !== '') res.writeHead(statusCode, statusMessage, list);
    else res.writeHead(statusCode, list);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#retryDelay !== undefined) return;
    const fw = this.#fw;
    fw.bytesOut += chunk.length;
    const { res } = fw.ex;
    if (!res.write(chunk) && !res.destroyed) {
      controller.pause();
      this.#onDrain ??= () => controller.resume();
      res.once('drain', this.#onDrain);
    }
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, _trailers: Record<string, string | string[] | undefined>): void {
    this.#end();
    const fw = this.#fw;
    if (this.#retryDelay !== undefined) {
      if (!fw.clientGone) fw.retryAfter(this.#retryDelay);
      return;
    }
    fw.ex.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const fw = this.#fw;
    if (err instanceof ClientAbortedError || fw.clientGone) {
      this.#settle('aborted');
      this.#end();
      return;
    }
    if (err instanceof TandemError) {
      this.#settle('aborted');
      this.#end();
      fw.fail(err);
      return;
    }
    if ((err as { code?: string }).code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || fw.ex.req.errored !== null) {
      this.#settle('aborted');
      this.#end();
      fw.fail(new TandemError('TANDEM_ERR_BAD_REQUEST', 'the request body ended before its declared length', { cause: err }));
      return;
    }
    const kind = classifyFailure(err);
    this.#settle(kind === 'invalidResponse' ? 'reset' : kind);
    this.#end();
    fw.error = toUpstreamError(kind, this.#target.target.authority, err);
    if (!fw.ex.res.headersSent && fw.retryable(kind)) {
      const delay = fw.planRetry(this.#target, kind);
      if (delay !== undefined) {
        fw.retryAfter(delay);
        return;
      }
    }
    fw.fail(fw.error);
  }

  /**
   * Records the attempt's verdict once (at the response head or the failure): breaker, target machine,
   * counters, observer. The in-flight counts are released at {@link #end}.
   */
  #settle(outcome: AttemptOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    const fw = this.#fw;
    const { rt } = fw.ex;
    const target = this.#target;
    const duration = rt.clock.now() - this.#started;
    if (outcome !== 'ok' && outcome !== 'aborted') target.failures++;
    const breaker = rt.breakers?.[target.index];
    if (breaker !== undefined) {
      if (outcome === 'aborted') breaker.release(this.#admission);
      else {
        const slow = rt.upstream.upstream.circuitBreaker?.slowCallMs;
        breaker.report(this.#admission, outcome === 'ok' && (slow === undefined || duration <= slow));
      }
    }
    if (target.report !== undefined && outcome !== 'aborted') target.report(outcome === 'ok' ? 'ok' : outcome === 'http5xx' ? 'http5xx' : 'gatewayFailure');
    rt.observer.attempt(rt, target, outcome, duration);
  }

  /** Releases the attempt's in-flight counts, once. */
  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#target.active--;
    if (this.isRetry) this.#fw.ex.rt.upstream.activeRetries--;
  }
}
