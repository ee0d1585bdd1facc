/**
 * Character classes of the RFC 3261 §25.1 grammar as one 256-entry bit table, and the conversion
 * between JavaScript strings and "wire strings".
 *
 * A wire string holds one message byte per UTF-16 code unit (latin1), so string offsets are byte
 * offsets and `Buffer.from(wire, 'latin1')` gives back the exact bytes. The parser works on wire
 * strings only; values that RFC 3261 defines as UTF-8 text (display names, reason phrases, quoted
 * parameter values, unknown header values) are decoded with {@link fromWire} when handed to callers.
 *
 * @module
 */

/** `token` characters (RFC 3261 §25.1): alphanum / `-.!%*_+\`'~`. */
export const TOKEN = 1;
/** `word` characters (Call-ID, §25.1): token characters plus `()<>:\"/[]?{}`. */
export const WORD = 2;
/** `unreserved` (§25.1): alphanum / mark `-_.!~*'()`. */
export const UNRESERVED = 4;
/** `user-unreserved` (§25.1) `&=+$,;?/`, allowed in a SIP URI user part besides unreserved. */
export const USER_EXTRA = 8;
/** `param-unreserved` (§25.1) `[]/:&+$`, allowed in URI parameters besides unreserved. */
export const PARAM_EXTRA = 16;
/** `hnv-unreserved` (§25.1) `[]/?:+$`, allowed in URI header names and values besides unreserved. */
export const HEADER_EXTRA = 32;
/** `uric` (RFC 2396, used by absoluteURI): reserved `;/?:@&=+$,` plus unreserved and `%`. */
export const URIC = 64;
/** Hostname characters: alphanum, `-`, `.`. */
export const HOSTNAME = 128;
/** `password` extras `&=+$,` besides unreserved. */
export const PASSWORD_EXTRA = 256;

const table = new Uint16Array(256);
function mark(chars: string, bit: number): void {
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)]! |= bit;
}
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
mark(ALNUM + "-.!%*_+`'~", TOKEN);
mark(ALNUM + "-.!%*_+`'~" + '()<>:\\"/[]?{}', WORD);
mark(ALNUM + "-_.!~*'()", UNRESERVED);
mark('&=+$,;?/', USER_EXTRA);
mark('[]/:&+$', PARAM_EXTRA);
mark('[]/?:+$', HEADER_EXTRA);
mark(ALNUM + "-_.!~*'()" + ';/?:@&=+$,%', URIC);
mark(ALNUM + '-.', HOSTNAME);
mark('&=+$,', PASSWORD_EXTRA);

/** True when the character code `c` belongs to every class in `bits`. */
export function is(c: number, bits: number): boolean {
  return c < 256 && (table[c]! & bits) !== 0;
}

/** True when every character of `s` (non-empty) is in class `bits`. */
export function all(s: string, bits: number): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!is(s.charCodeAt(i), bits)) return false;
  return true;
}

/** True for SP and HTAB (`WSP`). */
export function isWsp(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** True for ASCII digits. */
export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** True for ASCII hex digits. */
export function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

/** True when any code unit of `s` is above 0x7f. */
function hasHigh(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return true;
  return false;
}

/** Wire string (latin1 bytes) → JavaScript string, decoding UTF-8 when a byte is above 0x7f. */
export function fromWire(wire: string): string {
  return hasHigh(wire) ? Buffer.from(wire, 'latin1').toString('utf8') : wire;
}

/** JavaScript string → wire string, encoding as UTF-8 when a character is above 0x7f. */
export function toWire(text: string): string {
  return hasHigh(text) ? Buffer.from(text, 'utf8').toString('latin1') : text;
}

/** Lower-cases ASCII letters only (header names, parameter names, schemes). */
export function lower(s: string): string {
  return s.toLowerCase();
}

/**
 * Decodes `%HH` escapes once (RFC 3261 §19.1.4: an escaped character is equivalent to the character;
 * no recursive unescaping, so `%2541` decodes to `%41`). The result is a wire string (bytes).
 * Returns `s` itself when it holds no `%`. Callers validate escapes before calling.
 */
export function unescapePercent(s: string): string {
  if (s.indexOf('%') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) {
      out += String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out += s[i];
  }
  return out;
}

/**
 * True when `s` consists of characters of class `bits` and well-formed `%HH` escapes
 * (`escaped`, RFC 3261 §25.1). The empty string passes only when `allowEmpty`.
 */
export function allEscaped(s: string, bits: number, allowEmpty = false): boolean {
  if (s.length === 0) return allowEmpty;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (!isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) return false;
      i += 2;
    } else if (!is(c, bits)) return false;
  }
  return true;
}

/**
 * A copy of the wire string `s` that shares no memory with the string it was cut from. V8 keeps
 * substrings (and concatenations of them) as views of their parent: a transaction key or a To tag kept
 * for the 32 s a transaction waits would keep the whole header section it was sliced from alive.
 * Strings that are not one char per byte are returned as they are.
 */
export function detach(s: string): string {
  if (s.length < 13) return s; // V8 copies short substrings anyway
  const copy = Buffer.from(s, 'latin1').toString('latin1');
  return copy === s ? copy : s;
}
