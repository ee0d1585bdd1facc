/**
 * Mutations of valid SIP messages for property tests (fast-check): byte flips, truncation, insertion
 * of separators and other text, deletion, and duplication of a header line.
 */
import fc from 'fast-check';

export type Mutation =
  | { op: 'flip'; at: number; byte: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'delete'; at: number; length: number }
  | { op: 'duplicateLine'; line: number };

export interface MutationOptions {
  /** The texts an insertion inserts. */
  readonly inserts: readonly string[];
  /** The largest offset drawn (taken modulo the message length + 1). */
  readonly maxAt: number;
  /** The most bytes one deletion removes. */
  readonly maxDeleteLength: number;
  /** The largest header-line index drawn for a duplication (taken modulo the header count). */
  readonly maxLine: number;
}

/** One mutation: weights flip 3, truncate 1, insert 4, delete 1, duplicate a header line 2. */
export function mutationArbitrary(options: MutationOptions): fc.Arbitrary<Mutation> {
  const at = fc.nat({ max: options.maxAt });
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('flip' as const), at, byte: fc.integer({ min: 0, max: 255 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('insert' as const), at, text: fc.constantFrom(...options.inserts) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at, length: fc.integer({ min: 1, max: options.maxDeleteLength }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('duplicateLine' as const), line: fc.nat({ max: options.maxLine }) }) },
  );
}

/** `seed` with `mutations` applied in order (offsets wrap around the current length). */
export function mutate(seed: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = seed;
  for (const m of mutations) {
    const i = m.op === 'duplicateLine' || b.length === 0 ? 0 : m.at % (b.length + 1);
    switch (m.op) {
      case 'flip':
        if (i < b.length) {
          b = Buffer.from(b);
          b[i] = m.byte;
        }
        break;
      case 'truncate':
        b = b.subarray(0, i);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, i), Buffer.from(m.text, 'utf8'), b.subarray(i)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + m.length)]);
        break;
      case 'duplicateLine': {
        const lines = b.toString('latin1').split('\r\n');
        const headEnd = lines.indexOf('');
        const n = headEnd > 1 ? 1 + (m.line % (headEnd - 1)) : -1;
        if (n > 0) {
          lines.splice(n, 0, lines[n]!);
          b = Buffer.from(lines.join('\r\n'), 'latin1');
        }
        break;
      }
    }
  }
  return b;
}
