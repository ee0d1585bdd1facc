/**
 * URIs in SIP messages (RFC 3261 §19.1, §25.1; RFC 3966 for `tel`): SIP and SIPS URIs parsed into
 * user, password, host, port, parameters and headers; `tel` URIs into number and parameters; any other
 * scheme (`absoluteURI`) kept opaque, so a proxy can answer 416 Unsupported URI Scheme (RFC 3261
 * §8.2.2.1) or route on what it understands.
 *
 * Every URI keeps `raw`, its exact text (a wire string); decoded fields follow RFC 3261 §19.1.4:
 * `%HH` escapes in the user part, password and parameters are decoded once (`%2541` → `%41`, never
 * `A`), so `sip:%75ser@h` and `sip:user@h` have the same `user`; `%00` decodes to U+0000 and does not
 * truncate anything. Scheme and parameter names are lower-cased; host case is kept as written.
 *
 * @module
 */
import {
  allEscaped,
  fromWire,
  HEADER_EXTRA,
  HOSTNAME,
  is,
  isDigit,
  isHex,
  lower,
  PARAM_EXTRA,
  PASSWORD_EXTRA,
  UNRESERVED,
  unescapePercent,
  URIC,
  USER_EXTRA,
} from './chars.ts';
import { fault, SyntaxFault } from './scanner.ts';

/** URI or header parameters: lower-cased names → decoded value, or `null` for a name without `=`. */
export type Params = ReadonlyMap<string, string | null>;

/** What kind of host a SIP URI or Via sent-by names. */
export type HostKind = 'domain' | 'ipv4' | 'ipv6';

/** `sip:` / `sips:` URI (RFC 3261 §19.1.1). */
export interface SipUri {
  readonly kind: 'sip';
  readonly scheme: 'sip' | 'sips';
  /** User part with escapes decoded (`sip:%75ser@h` → `user`); undefined without `user@`. */
  readonly user: string | undefined;
  /** User part as written, escapes kept. */
  readonly userRaw: string | undefined;
  readonly password: string | undefined;
  /** Host as written; an IPv6 reference keeps its brackets (`[2001:db8::1]`). */
  readonly host: string;
  readonly hostKind: HostKind;
  readonly port: number | undefined;
  /** `uri-parameters` (`;transport=tcp;lr`), names lower-cased, values decoded. */
  readonly params: Params;
  /** `headers` (`?Subject=x&Route=%3Csip:a%3E`), names as written, values decoded. */
  readonly headers: ReadonlyMap<string, string>;
  /** The URI exactly as written. */
  readonly raw: string;
}

/** `tel:` URI (RFC 3966): the subscriber number and its parameters. */
export interface TelUri {
  readonly kind: 'tel';
  readonly scheme: 'tel';
  /** `+1-201-555-0123`, visual separators kept. */
  readonly number: string;
  readonly params: Params;
  readonly raw: string;
}

/** Any other `absoluteURI` (RFC 3261 §25.1): scheme and opaque rest. */
export interface OtherUri {
  readonly kind: 'other';
  /** Lower-cased scheme, e.g. `http`, `isbn`, `soap.beep`. */
  readonly scheme: string;
  /** Everything after the first `:`. */
  readonly opaque: string;
  readonly raw: string;
}

export type Uri = SipUri | TelUri | OtherUri;

/**
 * Parses a URI; returns undefined when it is not a valid SIP, SIPS, tel or absolute URI.
 * Never throws.
 */
export function parseUri(text: string): Uri | undefined {
  try {
    return readUri(text);
  } catch (error) {
    if (error instanceof SyntaxFault) return undefined;
    throw error;
  }
}

/** Parses a URI or throws a {@link SyntaxFault} (internal). */
export function readUri(text: string): Uri {
  const colon = text.indexOf(':');
  if (colon <= 0) fault('URI without scheme');
  const scheme = lower(text.slice(0, colon));
  if (!isScheme(scheme)) fault('bad URI scheme');
  const rest = text.slice(colon + 1);
  if (scheme === 'sip' || scheme === 'sips') return readSipUri(scheme, rest, text);
  if (scheme === 'tel') return readTelUri(rest, text);
  if (!allEscaped(rest, URIC)) fault('bad character in URI');
  return { kind: 'other', scheme, opaque: rest, raw: text };
}

function isScheme(s: string): boolean {
  const c0 = s.charCodeAt(0);
  if (!((c0 | 0x20) >= 0x61 && (c0 | 0x20) <= 0x7a)) return false;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!(isDigit(c) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) || c === 0x2b || c === 0x2d || c === 0x2e)) return false;
  }
  return true;
}

function readSipUri(scheme: 'sip' | 'sips', rest: string, raw: string): SipUri {
  let user: string | undefined;
  let userRaw: string | undefined;
  let password: string | undefined;
  // `user` and `password` cannot hold an unescaped `@`, and host, parameters and headers cannot either.
  const at = rest.indexOf('@');
  let hostStart = 0;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    userRaw = colon < 0 ? userinfo : userinfo.slice(0, colon);
    if (!allEscaped(userRaw, UNRESERVED | USER_EXTRA)) fault('bad SIP URI user part');
    if (colon >= 0) {
      const pw = userinfo.slice(colon + 1);
      if (!allEscaped(pw, UNRESERVED | PASSWORD_EXTRA, true)) fault('bad SIP URI password');
      password = fromWire(unescapePercent(pw));
    }
    user = fromWire(unescapePercent(userRaw));
    hostStart = at + 1;
  }
  let i = hostStart;
  let hostEnd: number;
  if (rest.charCodeAt(i) === 0x5b) {
    hostEnd = rest.indexOf(']', i);
    if (hostEnd < 0) fault('unterminated IPv6 reference');
    hostEnd++;
  } else {
    while (i < rest.length && rest.charCodeAt(i) !== 0x3a && rest.charCodeAt(i) !== 0x3b && rest.charCodeAt(i) !== 0x3f) i++;
    hostEnd = i;
  }
  const host = rest.slice(hostStart, hostEnd);
  const hostKind = hostKindOf(host);
  i = hostEnd;
  let port: number | undefined;
  if (rest.charCodeAt(i) === 0x3a) {
    const start = ++i;
    while (i < rest.length && isDigit(rest.charCodeAt(i))) i++;
    port = readPort(rest.slice(start, i));
  }
  const q = rest.indexOf('?', i);
  const paramsText = rest.slice(i, q < 0 ? rest.length : q);
  if (paramsText.length > 0 && paramsText.charCodeAt(0) !== 0x3b) fault('bad SIP URI host or port');
  const params = readUriParams(paramsText, PARAM_EXTRA);
  const headers = new Map<string, string>();
  if (q >= 0) {
    for (const pair of rest.slice(q + 1).split('&')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) fault('bad SIP URI header');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (!allEscaped(name, UNRESERVED | HEADER_EXTRA) || !allEscaped(value, UNRESERVED | HEADER_EXTRA, true)) {
        fault('bad SIP URI header');
      }
      headers.set(fromWire(unescapePercent(name)), fromWire(unescapePercent(value)));
    }
  }
  return { kind: 'sip', scheme, user, userRaw, password, host, hostKind, port, params, headers, raw };
}

function readTelUri(rest: string, raw: string): TelUri {
  const semi = rest.indexOf(';');
  const number = semi < 0 ? rest : rest.slice(0, semi);
  if (number.length === 0) fault('empty tel number');
  for (let i = 0; i < number.length; i++) {
    const c = number.charCodeAt(i);
    if (!(isHex(c) || c === 0x2a || c === 0x23 || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x28 || c === 0x29)) {
      fault('bad tel number');
    }
  }
  return { kind: 'tel', scheme: 'tel', number, params: readUriParams(semi < 0 ? '' : rest.slice(semi), PARAM_EXTRA), raw };
}

/** `*( ";" pname [ "=" pvalue ] )`, text starting at the first `;` (or empty). */
function readUriParams(text: string, extra: number): Params {
  const params = new Map<string, string | null>();
  if (text.length === 0) return params;
  const parts = text.slice(1).split(';');
  for (const part of parts) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    if (!allEscaped(name, UNRESERVED | extra)) fault('bad URI parameter');
    let value: string | null = null;
    if (eq >= 0) {
      const v = part.slice(eq + 1);
      if (!allEscaped(v, UNRESERVED | extra)) fault('bad URI parameter value');
      value = fromWire(unescapePercent(v));
    }
    params.set(lower(fromWire(unescapePercent(name))), value);
  }
  return params;
}

/** `port = 1*DIGIT`, at most 65535. */
export function readPort(digits: string): number {
  if (digits.length > 5 || !isAllDigits(digits)) fault('bad port');
  const port = Number(digits);
  if (port > 65535) fault('port out of range');
  return port;
}

function isAllDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return s.length > 0;
}

/**
 * Classifies and validates a `host` (RFC 3261 §25.1): `[IPv6reference]`, dotted IPv4, or a hostname
 * of alphanumeric labels joined by `.` (labels may hold `-`; one trailing `.` allowed).
 */
export function hostKindOf(host: string): HostKind {
  if (host.length === 0) fault('empty host');
  if (host.charCodeAt(0) === 0x5b) {
    if (host.charCodeAt(host.length - 1) !== 0x5d || host.length < 4) fault('bad IPv6 reference');
    let colons = 0;
    for (let i = 1; i < host.length - 1; i++) {
      const c = host.charCodeAt(i);
      if (c === 0x3a) colons++;
      else if (!(isHex(c) || c === 0x2e)) fault('bad IPv6 reference');
    }
    if (colons < 2) fault('bad IPv6 reference');
    return 'ipv6';
  }
  // One pass over the labels: alphanumeric and `-`, not starting or ending with `-`; all-numeric
  // hosts must be dotted-quad IPv4 with octets up to 255.
  let numeric = true;
  let octetTooBig = false;
  let labels = 0;
  let labelStart = 0;
  let octet = 0;
  let trailingDot = false;
  for (let i = 0; i <= host.length; i++) {
    const c = i < host.length ? host.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (i === labelStart) {
        if (i === host.length && labels > 0) {
          trailingDot = true;
          break;
        }
        fault('bad host');
      }
      if (host.charCodeAt(labelStart) === 0x2d || host.charCodeAt(i - 1) === 0x2d) fault('bad hostname');
      if (i - labelStart > 3 || octet > 255) octetTooBig = true;
      labels++;
      labelStart = i + 1;
      octet = 0;
    } else if (isDigit(c)) octet = octet * 10 + (c - 0x30);
    else if (is(c, HOSTNAME)) numeric = false;
    else fault('bad host');
  }
  if (numeric) {
    if (labels !== 4 || octetTooBig || trailingDot) fault('bad IPv4 address');
    return 'ipv4';
  }
  return 'domain';
}
