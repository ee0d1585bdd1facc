/**
 * Error answers of the data plane: `{ code, message }` as JSON with the registry's status, the request id,
 * and `Retry-After` on 503. When the response head is already out, the only honest signal left is to cut
 * the connection, so the client sees a truncated response rather than a wrong one.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { TandemError } from '../errors.ts';

/** Answers `err` on `res`, or destroys `res` when its head was already sent. */
export function sendError(res: ServerResponse, err: TandemError, requestId: string): void {
  if (res.destroyed || res.writableEnded) return;
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const body = JSON.stringify({ code: err.code, message: err.message });
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
  };
  if (err.status === 503) headers['retry-after'] = err.retryAfterSeconds ?? 1;
  // A request whose body was refused may still be arriving: do not keep reading it on this connection.
  if (err.code === 'TANDEM_ERR_BODY_TOO_LARGE' || err.code === 'TANDEM_ERR_BAD_REQUEST') headers['connection'] = 'close';
  res.writeHead(err.status, headers);
  res.end(body);
}

/** The raw HTTP/1.1 bytes of an error answer, for sockets that never became a request (parse errors). */
export function rawErrorResponse(err: TandemError): string {
  const body = JSON.stringify({ code: err.code, message: err.message });
  const retryAfter = err.status === 503 ? `Retry-After: ${err.retryAfterSeconds ?? 1}\r\n` : '';
  return `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}\r\n${retryAfter}Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
