/**
 * Header rules of a proxy (RFC 9110 §7.6): hop-by-hop fields are not forwarded in either direction —
 * Connection and every field it names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade (RFC 9110 §7.6.1) — and the request gains X-Forwarded-For/-Proto/-Host (the de-facto standard
 * RFC 7239 `Forwarded` formalises), Via (§7.6.3) and X-Request-Id.
 */
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** True for a field that belongs to one connection (fixed list, not counting those Connection names). */
export function isHopByHop(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName);
}

/** Field names listed in a Connection header, lower-case (`Connection: close, X-Foo` → {close, x-foo}). */
export function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const joined = Array.isArray(value) ? value.join(',') : value;
  let out: Set<string> | undefined;
  for (const token of joined.split(',')) {
    const t = token.trim().toLowerCase();
    if (t === '' || t === 'close' || t === 'keep-alive') continue;
    (out ??= new Set()).add(t);
  }
  return out;
}

/** What the gateway adds to a forwarded request. */
export interface ForwardedInfo {
  /** The peer address of the client connection. */
  readonly clientIp: string;
  /** `http` or `https`: the scheme the client used. */
  readonly proto: string;
  /** The Host the client sent (→ X-Forwarded-Host). */
  readonly host: string | undefined;
  /** The Host to send upstream. */
  readonly upstreamHost: string;
  readonly requestId: string;
}

/**
 * Builds the upstream request's header list (flat `[name, value, …]`, names as the client wrote them)
 * from the client's raw headers.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], info: ForwardedInfo): string[] {
  const out: string[] = [];
  let connection: Set<string> | undefined;
  let xff: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 10 && rawHeaders[i]!.toLowerCase() === 'connection') {
      const tokens = connectionTokens(rawHeaders[i + 1]);
      if (tokens !== undefined) connection = connection === undefined ? tokens : new Set([...connection, ...tokens]);
    }
  }
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || connection?.has(lower) === true) continue;
    switch (lower) {
      case 'host':
      case 'x-forwarded-proto':
      case 'x-forwarded-host':
      case 'x-request-id':
        continue;
      case 'x-forwarded-for':
        xff = xff === undefined ? rawHeaders[i + 1]! : `${xff}, ${rawHeaders[i + 1]!}`;
        continue;
    }
    out.push(name, rawHeaders[i + 1]!);
  }
  out.push(
    'host', info.upstreamHost,
    'x-forwarded-for', xff === undefined ? info.clientIp : `${xff}, ${info.clientIp}`,
    'x-forwarded-proto', info.proto,
    'x-request-id', info.requestId,
    'via', '1.1 tandem',
  );
  if (info.host !== undefined) out.push('x-forwarded-host', info.host);
  return out;
}

/**
 * Builds the client response's header list (flat) from the upstream's parsed headers, dropping
 * hop-by-hop fields.
 */
export function downstreamResponseHeaders(headers: IncomingHttpHeaders, requestId: string): (string | string[])[] {
  const connection = connectionTokens(headers['connection']);
  const out: (string | string[])[] = [];
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || connection?.has(name) === true) continue;
    const value = headers[name];
    if (value !== undefined) out.push(name, value);
  }
  if (headers['x-request-id'] === undefined) out.push('x-request-id', requestId);
  return out;
}
