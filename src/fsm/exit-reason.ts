/**
 * Why a machine, supervisor or any other supervised child stopped.
 *
 * Mirrors OTP exit reasons: `normal`, `shutdown` and `{ shutdown: detail }` are *clean* (a
 * `transient` child is not restarted for them and nothing is logged as a crash); `killed` (a brutal
 * kill) and `{ error }` (a callback threw, returned an invalid result, or a child crashed) are
 * abnormal.
 *
 * @module
 */

/** The reason a child stopped. */
export type ExitReason =
  | 'normal'
  | 'shutdown'
  | 'killed'
  | { readonly shutdown: unknown }
  | { readonly error: unknown };

/**
 * True for the clean exit reasons `normal`, `shutdown` and `{ shutdown: detail }`.
 * OTP: supervisor's `transient` restart rule and gen_statem's `terminate/3` logging rule.
 */
export function isCleanExit(reason: ExitReason): boolean {
  return reason === 'normal' || reason === 'shutdown' || (typeof reason === 'object' && 'shutdown' in reason);
}

/** Returns a valid exit reason for `value`, wrapping anything else as `{ error: value }`. */
export function toExitReason(value: unknown): ExitReason {
  if (value === 'normal' || value === 'shutdown' || value === 'killed') return value;
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'shutdown' || keys[0] === 'error')) return value as ExitReason;
  }
  return { error: value };
}

/** A short human-readable rendering of a reason, for error messages and logs. */
export function describeExit(reason: ExitReason): string {
  if (typeof reason === 'string') return reason;
  if ('shutdown' in reason) return `shutdown (${describeValue(reason.shutdown)})`;
  return `error (${describeValue(reason.error)})`;
}

function describeValue(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
