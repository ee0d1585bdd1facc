/**
 * Header field names (RFC 3261 §7.3, §20): case-insensitive, with compact forms (§7.3.3) mapped to
 * their full names. A header's *key* is its lower-case full name (`v` and `VIA` → `via`).
 *
 * @module
 */
import { detach } from './chars.ts';

/** Compact forms: RFC 3261 §7.3.3 / §20, plus RFC 3265 (o, u), RFC 3515 (r), RFC 3892 (b), RFC 3841 (a, j, d), RFC 4028 (x), RFC 4474 (y, n). */
export const COMPACT_FORMS: Readonly<Record<string, string>> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

/** How Tandem writes the names of headers it adds (the usual RFC spelling). */
const CANONICAL: Readonly<Record<string, string>> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  'alert-info': 'Alert-Info',
  'identity-info': 'Identity-Info',
  rack: 'RAck',
  rseq: 'RSeq',
};

/** Lower-case full name of a header name as written (`MaX-fOrWaRdS` → `max-forwards`, `i` → `call-id`). */
export function headerKey(name: string): string {
  const known = KEYS.get(name);
  if (known !== undefined) return known;
  const lowered = name.toLowerCase();
  const key = lowered.length === 1 ? (COMPACT_FORMS[lowered] ?? lowered) : lowered;
  // Header names repeat on every message: remember the spellings seen, as copies of their own (a name
  // cut from a message must not keep the message alive). Bounded: emptied when full; long names are
  // not kept.
  if (name.length <= KEY_CACHE_NAME_CHARS) {
    if (KEYS.size >= KEY_CACHE_ENTRIES) KEYS.clear();
    KEYS.set(detach(name), detach(key));
  }
  return key;
}

const KEY_CACHE_ENTRIES = 512;
const KEY_CACHE_NAME_CHARS = 32;

/** Header names as written → their keys. */
const KEYS = new Map<string, string>();

/** The spelling Tandem uses when it writes a header: `call-id` → `Call-ID`, `record-route` → `Record-Route`. */
export function canonicalName(name: string): string {
  const key = headerKey(name);
  const known = CANONICAL[key];
  if (known !== undefined) return known;
  return key.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}
