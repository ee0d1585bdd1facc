/**
 * Receiving a request: the `received` and `rport` Via parameters (RFC 3261 §18.2.1, RFC 3581 §4).
 *
 * RFC 3261 §18.2.1: "When the server transport receives a request over any transport, it MUST
 * examine the value of the "sent-by" parameter in the top Via header field value. If the host portion
 * of the "sent-by" parameter contains a domain name, or if it contains an IP address that differs from
 * the packet source address, the server MUST add a "received" parameter to that Via header field value.
 * This parameter MUST contain the source address from which the packet was received."
 *
 * RFC 3581 §4: "If this Via header field value contains an "rport" parameter with no value, it MUST set
 * the value of the parameter to the source port of the request. [...] In addition, the server MUST add
 * a received parameter if the "rport" parameter was present, even if the sent-by host equals the source
 * address."
 *
 * RFC 7118 §5: a WebSocket client's sent-by host is `*.invalid`; it always differs from the source, so
 * `received` is always added, and the name is never resolved (responses go back on the flow).
 *
 * The top Via value is rewritten in place of the original: its other parameters keep their text and
 * order, an existing `received` is replaced, `received` goes just before `rport` (or last).
 *
 * @module
 */
import { isIP } from 'node:net';
import type { SipRequest } from '../index.ts';
import type { FlowAddress } from './flow.ts';

/**
 * Adds `received`/fills `rport` on the top Via of `request` as received from `source`.
 * Returns true when the Via was changed.
 */
export function stampReceived(request: SipRequest, source: FlowAddress): boolean {
  const top = request.topVia;
  if (top === undefined) return false;
  const sourceAddress = normalizeAddress(source.address);
  const needReceived = top.rport !== undefined || !sameAddress(top.host, sourceAddress);
  const fillRport = top.rport === null;
  if (!needReceived && !fillRport) return false;
  if (needReceived && !fillRport && top.received !== undefined && sameAddress(top.received, sourceAddress)) return false;
  const value = rewriteViaParams(top.raw, needReceived ? sourceAddress : undefined, fillRport ? source.port : undefined);
  try {
    request.removeTopVia();
    request.prependVia(value);
  } catch {
    // Cannot happen for a Via that parsed; leave the message as it is rather than lose it.
    return false;
  }
  return true;
}

/**
 * `raw` (one Via value) with `received=<received>` set and bare `rport` filled with `rport`;
 * `undefined` leaves that parameter alone.
 */
export function rewriteViaParams(raw: string, received: string | undefined, rport: number | undefined): string {
  const text = raw.trim();
  const semi = text.indexOf(';');
  const head = (semi < 0 ? text : text.slice(0, semi)).trimEnd();
  const params = semi < 0 ? [] : splitParams(text.slice(semi + 1));
  const out: string[] = [];
  let placed = received === undefined;
  for (const param of params) {
    const name = paramName(param);
    if (name === 'received') {
      if (received === undefined) out.push(param);
      continue;
    }
    if (name === 'rport') {
      if (!placed) {
        out.push(`received=${received}`);
        placed = true;
      }
      out.push(rport !== undefined && !param.includes('=') ? `rport=${rport}` : param);
      continue;
    }
    out.push(param);
  }
  if (!placed) out.push(`received=${received}`);
  return [head, ...out].join(';');
}

/** Splits `a;b=c;d="x;y"` at semicolons outside quoted strings; each part trimmed, empty parts dropped. */
function splitParams(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === ';') {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim().replace(/\s*=\s*/, '=')).filter((p) => p !== '');
}

function paramName(param: string): string {
  const eq = param.indexOf('=');
  return (eq < 0 ? param : param.slice(0, eq)).trim().toLowerCase();
}

/** An IPv6 reference (`[2001:db8::1]`, as in a URI or Via) without its brackets; anything else as it is. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * A socket address as it should appear in `received` and in flows: IPv4-mapped IPv6 (`::ffff:1.2.3.4`)
 * as IPv4, IPv6 in canonical lower-case form without brackets.
 */
export function normalizeAddress(address: string): string {
  let a = unbracket(address);
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  if (isIP(a) !== 6) return a.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped !== null) return mapped[1]!;
  try {
    return new URL(`http://[${a}]/`).hostname.slice(1, -1);
  } catch {
    return a.toLowerCase();
  }
}

/** True when host (a Via sent-by host or `received` value) is the IP address `address` (normalized). */
export function sameAddress(host: string, address: string): boolean {
  const h = normalizeAddress(host);
  return isIP(h) !== 0 && h === address;
}
