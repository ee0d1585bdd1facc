/**
 * The one place undici's errors become Tandem's: connect failures → 502 `TANDEM_ERR_UPSTREAM_CONNECT`,
 * timeouts → 504 `TANDEM_ERR_UPSTREAM_TIMEOUT`, resets and invalid responses → 502
 * `TANDEM_ERR_UPSTREAM_RESPONSE`.
 */
import { UpstreamError } from '../errors.ts';

/** How an attempt failed: decides the status and whether a retry is safe. */
export type FailureKind = 'connectFailure' | 'timeout' | 'reset' | 'invalidResponse';

const CONNECT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

/** Classifies an error undici reported for one attempt. */
export function classifyFailure(err: unknown): FailureKind {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (CONNECT_CODES.has(code)) return 'connectFailure';
    if (TIMEOUT_CODES.has(code)) return 'timeout';
    if (RESET_CODES.has(code)) return 'reset';
  }
  return 'invalidResponse';
}

/** The error a client sees for a failed attempt on `target` (`host:port`). */
export function toUpstreamError(kind: FailureKind, target: string, cause: unknown): UpstreamError {
  switch (kind) {
    case 'connectFailure':
      return new UpstreamError('TANDEM_ERR_UPSTREAM_CONNECT', `could not connect to upstream target ${target}`, { cause });
    case 'timeout':
      return new UpstreamError('TANDEM_ERR_UPSTREAM_TIMEOUT', `upstream target ${target} did not answer in time`, { cause });
    case 'reset':
      return new UpstreamError('TANDEM_ERR_UPSTREAM_RESPONSE', `upstream target ${target} closed the connection`, { cause });
    case 'invalidResponse':
      return new UpstreamError('TANDEM_ERR_UPSTREAM_RESPONSE', `upstream target ${target} sent an invalid response`, { cause });
  }
}
