/**
 * Tandem's error registry: every error a client, an operator or a caller of the library can see has a
 * stable `TANDEM_ERR_*` code, an HTTP status (or SIP status for the SIP data plane), a default message and
 * optional `details` (`[{ path, message }]`). Clients see `{ code, message }` (plus `details` where they
 * help), never a stack. `docs/errors.md` lists every code; a test keeps the two in step.
 *
 * Errors of dependencies (undici, ws, the YAML parser) are translated to these at one boundary each.
 */
import { FSM_ERROR_CODES } from './fsm/errors.ts';
import { SIP_TRANSPORT_ERROR_CODES } from './sip/transport/errors.ts';

/** One problem inside an error, e.g. a config validation failure at a JSON path. */
export interface ErrorDetail {
  /** Where the problem is, e.g. `routes[2].upstream`. */
  readonly path: string;
  readonly message: string;
}

/** What the registry knows of a code. */
export interface ErrorDefinition {
  /** HTTP status the data plane or admin API answers with (500 for errors that never reach a client). */
  readonly status: number;
  /** Default message; specific errors pass a more precise one. */
  readonly message: string;
  /** One line for docs/errors.md: when it happens. */
  readonly description: string;
}

/**
 * The registry. Adding a code here (and to docs/errors.md, which a test checks) is all a new error needs.
 */
export const ERROR_CODES = {
  TANDEM_ERR_NO_ROUTE: {
    status: 404,
    message: 'no route matches this request',
    description: 'No route of the listener matches the request host, path, method and headers.',
  },
  TANDEM_ERR_BAD_REQUEST: {
    status: 400,
    message: 'malformed request',
    description: 'The HTTP request could not be parsed, or its target is not a valid path.',
  },
  TANDEM_ERR_AMBIGUOUS_FRAMING: {
    status: 400,
    message: 'ambiguous message framing (Content-Length with Transfer-Encoding, or several Content-Lengths)',
    description:
      'The request framing could be read two ways (request smuggling, RFC 9112 §6.3); it is refused and never forwarded.',
  },
  TANDEM_ERR_WEBSOCKET_NOT_ALLOWED: {
    status: 400,
    message: 'this route does not accept WebSocket upgrades',
    description: 'A WebSocket upgrade arrived on a route without `websocket: true`.',
  },
  TANDEM_ERR_REQUEST_TIMEOUT: {
    status: 408,
    message: 'the request was not received in time',
    description: 'The client did not send a complete request head within the server request timeout.',
  },
  TANDEM_ERR_BODY_TOO_LARGE: {
    status: 413,
    message: 'request body too large',
    description: 'The request body is larger than `limits.bodyBytes`.',
  },
  TANDEM_ERR_HEADERS_TOO_LARGE: {
    status: 431,
    message: 'request header fields too large',
    description: 'The request head is larger than `limits.headerBytes`.',
  },
  TANDEM_ERR_UPSTREAM_CONNECT: {
    status: 502,
    message: 'could not connect to the upstream',
    description: 'Every attempt to open a connection to a target failed (refused, unreachable, connect timeout).',
  },
  TANDEM_ERR_UPSTREAM_RESPONSE: {
    status: 502,
    message: 'the upstream sent an invalid response or closed the connection',
    description: 'The target reset the connection or answered with something that is not valid HTTP.',
  },
  TANDEM_ERR_UPSTREAM_TIMEOUT: {
    status: 504,
    message: 'the upstream did not answer in time',
    description: 'No response head within `timeouts.requestMs`, or the body stalled longer than `timeouts.idleMs`.',
  },
  TANDEM_ERR_NO_HEALTHY_TARGET: {
    status: 503,
    message: 'no healthy target for this upstream',
    description: 'The upstream has no target that can take the request; the answer carries `Retry-After`.',
  },
  TANDEM_ERR_ROUTE_QUARANTINED: {
    status: 503,
    message: 'this route is quarantined after repeated crashes',
    description: 'The route machine crashed more often than its restart intensity allows; the route answers 503 (with `Retry-After`) while the other routes keep serving.',
  },
  TANDEM_ERR_UNAUTHORIZED: {
    status: 401,
    message: 'missing or wrong bearer token',
    description: 'An admin API request without `Authorization: Bearer <token>` matching `admin.token`.',
  },
  TANDEM_ERR_NOT_FOUND: {
    status: 404,
    message: 'not found',
    description: 'An admin API path or resource (route, upstream) that does not exist.',
  },
  TANDEM_ERR_NOT_READY: {
    status: 503,
    message: 'not ready',
    description: 'GET /readyz before the config is loaded and every listener is up, or while the gateway drains.',
  },
  TANDEM_ERR_SHUTTING_DOWN: {
    status: 503,
    message: 'the gateway is shutting down',
    description: 'A request arrived on a connection while the gateway drains; the answer carries `Retry-After`.',
  },
  TANDEM_ERR_INTERNAL: {
    status: 500,
    message: 'internal error',
    description: 'A bug in Tandem; the log has the stack.',
  },
  TANDEM_ERR_CONFIG_INVALID: {
    status: 400,
    message: 'invalid config',
    description: 'The config failed validation; `details` lists every problem with its path. Nothing changes.',
  },
  TANDEM_ERR_CONFIG_REFERENCE: {
    status: 422,
    message: 'the change refers to something that does not exist, or removes something still in use',
    description: 'A route names an unknown upstream or listener, or an upstream to delete is still used by a route. Nothing changes.',
  },
  TANDEM_ERR_CONFIG_CONFLICT: {
    status: 409,
    message: 'the config changed since it was read',
    description: '`If-Match` does not match the running config\'s ETag: read it again (`GET /config`) and retry. Nothing changes.',
  },
  TANDEM_ERR_CONFIG_READ: {
    status: 400,
    message: 'the config could not be read or parsed',
    description: 'The config file is missing, unreadable, or not valid YAML/JSON.',
  },
  TANDEM_ERR_LISTEN: {
    status: 409,
    message: 'a listener could not bind its address',
    description: 'A listener or the admin API could not listen on its address (in use, no permission). At start the process exits; a live change that needs the address is rolled back whole.',
  },
} as const satisfies Record<string, ErrorDefinition>;

/** Every code of the data plane, admin API and CLI. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options every Tandem error takes. */
export interface TandemErrorOptions {
  readonly cause?: unknown;
  readonly details?: readonly ErrorDetail[];
  /** Seconds a client should wait before retrying; sent as `Retry-After` with 503. */
  readonly retryAfterSeconds?: number;
}

/**
 * Base of every Tandem error. `code` and `status` come from {@link ERROR_CODES}.
 */
export class TandemError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: readonly ErrorDetail[];
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message?: string, options: TandemErrorOptions = {}) {
    const definition: ErrorDefinition = ERROR_CODES[code];
    super(message ?? definition.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TandemError';
    this.code = code;
    this.status = definition.status;
    this.details = options.details ?? [];
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The JSON body a client sees: `{ code, message, details? }`. */
  toJSON(): { code: string; message: string; details?: readonly ErrorDetail[] } {
    return this.details.length > 0
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

/** A config that failed validation or could not be read: `details` holds every problem with its path. */
export class ConfigError extends TandemError {
  constructor(
    code: 'TANDEM_ERR_CONFIG_INVALID' | 'TANDEM_ERR_CONFIG_READ' | 'TANDEM_ERR_CONFIG_REFERENCE' | 'TANDEM_ERR_CONFIG_CONFLICT',
    message: string,
    options: TandemErrorOptions = {},
  ) {
    super(code, message, options);
    this.name = 'ConfigError';
  }
}

/** A failure reaching or reading an upstream target (502/503/504). */
export class UpstreamError extends TandemError {
  constructor(
    code:
      | 'TANDEM_ERR_UPSTREAM_CONNECT'
      | 'TANDEM_ERR_UPSTREAM_RESPONSE'
      | 'TANDEM_ERR_UPSTREAM_TIMEOUT'
      | 'TANDEM_ERR_NO_HEALTHY_TARGET',
    message?: string,
    options: TandemErrorOptions = {},
  ) {
    super(code, message, options);
    this.name = 'UpstreamError';
  }
}

/** True for any Tandem error. */
export function isTandemError(value: unknown): value is TandemError {
  return value instanceof TandemError;
}

/**
 * Every code Tandem can produce: the data plane's, the admin API's and CLI's ({@link ERROR_CODES}) and the
 * state machine engine's and supervisor's (`TANDEM_ERR_FSM_*`, `TANDEM_ERR_SUP_*`, defined in `src/fsm`,
 * which depends on nothing of the project) and the SIP transports' (`TANDEM_ERR_SIP_*`, with SIP statuses).
 * docs/errors.md lists exactly these.
 */
export const ALL_ERROR_CODES: Readonly<Record<string, ErrorDefinition>> = { ...ERROR_CODES, ...FSM_ERROR_CODES, ...SIP_TRANSPORT_ERROR_CODES };
