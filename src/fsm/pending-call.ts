/**
 * The `from` handle of a call: settles the caller's promise at most once (the machine tracks
 * which calls are still pending).
 *
 * @module
 */
import type { ClockTimer } from './clock.ts';

function noop(): void {}

/** The `from` of a call: settles the caller's promise once. */
export class PendingCall {
  resolve: (value: unknown) => void = noop;
  reject: (error: unknown) => void = noop;
  timer: ClockTimer | null = null;
}
