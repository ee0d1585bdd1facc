/**
 * An index-based scanner over one unfolded header value (a wire string), with the RFC 3261 §25.1
 * separators: `SWS` (optional linear white space), `SEMI`, `EQUAL`, `SLASH`, `COLON`, `COMMA`,
 * `LAQUOT`, `RAQUOT`, `token`, `quoted-string`. Every loop advances by at least one character and
 * no regular expression is used, so scanning is linear in the input, whatever the input.
 *
 * Header values are unfolded before scanning (CRLF followed by SP/HT becomes SP, RFC 3261 §7.3.1),
 * so LWS here is a run of SP/HT.
 *
 * Syntax errors throw {@link SyntaxFault}; the public parse API catches it and returns a result.
 *
 * @module
 */
import { fromWire, is, isDigit, isWsp, TOKEN } from './chars.ts';

/** A grammar violation inside the parser. Never escapes the public parse API. */
export class SyntaxFault extends Error {
  override readonly name = 'SyntaxFault';
}

/** Throws a {@link SyntaxFault} with `message`. */
export function fault(message: string): never {
  throw new SyntaxFault(message);
}

export class Scanner {
  readonly text: string;
  pos: number;
  readonly end: number;

  constructor(text: string, pos = 0, end = text.length) {
    this.text = text;
    this.pos = pos;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Code of the current character, or -1 at the end. */
  peek(): number {
    return this.pos < this.end ? this.text.charCodeAt(this.pos) : -1;
  }

  /** Skips SP/HT; returns true when at least one was skipped (`LWS` present). */
  sws(): boolean {
    const start = this.pos;
    while (this.pos < this.end && isWsp(this.text.charCodeAt(this.pos))) this.pos++;
    return this.pos > start;
  }

  /** `SWS c SWS` when the next non-blank character is `c`; returns whether it was there. */
  sep(c: number): boolean {
    const save = this.pos;
    this.sws();
    if (this.peek() !== c) {
      this.pos = save;
      return false;
    }
    this.pos++;
    this.sws();
    return true;
  }

  /** Like {@link sep}, but a missing separator is a fault. */
  expectSep(c: number, what: string): void {
    if (!this.sep(c)) fault(`expected ${what}`);
  }

  /** Reads a run of characters of class `bits`; faults when empty. */
  run(bits: number, what: string): string {
    const start = this.pos;
    while (this.pos < this.end && is(this.text.charCodeAt(this.pos), bits)) this.pos++;
    if (this.pos === start) fault(`expected ${what}`);
    return this.text.slice(start, this.pos);
  }

  /** `token` (RFC 3261 §25.1). */
  token(what = 'token'): string {
    return this.run(TOKEN, what);
  }

  /** `1*DIGIT` as a string. */
  digits(what: string): string {
    const start = this.pos;
    while (this.pos < this.end && isDigit(this.text.charCodeAt(this.pos))) this.pos++;
    if (this.pos === start) fault(`expected ${what}`);
    return this.text.slice(start, this.pos);
  }

  /**
   * `quoted-string` (§25.1) starting at the current `"`: returns the content with quoted-pairs
   * resolved (`\"` → `"`, `\\` → `\`), still as a wire string. A missing closing quote is a fault;
   * CR and LF may not be quoted (`quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)`).
   */
  quoted(): string {
    if (this.peek() !== 0x22) fault('expected quoted-string');
    let out = '';
    let from = ++this.pos;
    while (this.pos < this.end) {
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x22) {
        out += this.text.slice(from, this.pos++);
        return out;
      }
      if (c === 0x5c) {
        const n = this.text.charCodeAt(this.pos + 1);
        if (this.pos + 1 >= this.end || n === 0x0a || n === 0x0d || n > 0x7f) fault('bad quoted-pair');
        out += this.text.slice(from, this.pos);
        from = this.pos + 1;
        this.pos += 2;
        continue;
      }
      if (c < 0x20 && c !== 0x09) fault('control character in quoted-string');
      this.pos++;
    }
    return fault('unterminated quoted-string');
  }

  /** Faults unless only SP/HT remain. */
  finish(what: string): void {
    this.sws();
    if (this.pos < this.end) fault(`unexpected ${JSON.stringify(fromWire(this.text[this.pos]!))} in ${what}`);
  }
}

/**
 * Splits a header value at top-level commas (RFC 3261 §7.3.1: `Header: v1, v2` ≡ two lines). Commas
 * inside quoted strings (with `\` escapes) and inside `<...>` are not separators. Elements are
 * trimmed of SP/HT; an empty element (`a,,b`) or an unterminated quote or `<` is a fault.
 * Returns `[]` for an empty value.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = value.length;
  if (isBlank(value)) return out;
  while (i <= n) {
    const c = i < n ? value.charCodeAt(i) : 0x2c;
    if (c === 0x22) {
      i++;
      while (i < n && value.charCodeAt(i) !== 0x22) i += value.charCodeAt(i) === 0x5c ? 2 : 1;
      if (i >= n) fault('unterminated quoted-string');
      i++;
      continue;
    }
    if (c === 0x3c) {
      const close = value.indexOf('>', i + 1);
      if (close < 0) fault('unterminated <');
      i = close + 1;
      continue;
    }
    if (c === 0x2c) {
      const element = trim(value, start, i);
      if (element.length === 0) fault('empty list element');
      out.push(element);
      start = i + 1;
    }
    i++;
  }
  return out;
}

/** True when `s` holds only SP/HT. */
export function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isWsp(s.charCodeAt(i))) return false;
  return true;
}

/** `s.slice(from, to)` without leading and trailing SP/HT. */
export function trim(s: string, from = 0, to = s.length): string {
  while (from < to && isWsp(s.charCodeAt(from))) from++;
  while (to > from && isWsp(s.charCodeAt(to - 1))) to--;
  return s.slice(from, to);
}
