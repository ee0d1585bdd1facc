/**
 * What a supervisor supervises. {@link Child} is deliberately small so that machines
 * (`MachineRef`), supervisors (`SupervisorRef`, `DynamicSupervisorRef`) and any other worker — a
 * listener, a connection pool — can sit in one supervision tree.
 *
 * @module
 */
import type { ExitReason } from './exit-reason.ts';

/** Options of a graceful stop. */
export interface StopOptions {
  /**
   * How long to wait for the child to terminate, in ms. On expiry the returned promise rejects
   * (the child is *not* killed: the caller decides). Default: wait forever.
   */
  readonly timeoutMs?: number;
}

/** A JSON-able description for supervision trees and the admin API. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** A supervisable process. */
export interface Child {
  /** Resolves (never rejects) with the reason once the child has stopped, whatever the cause. */
  readonly exited: Promise<ExitReason>;
  /**
   * Asks the child to stop with `reason` (running its cleanup) and resolves once it has exited.
   * Idempotent: resolves at once if the child already exited.
   */
  stop(reason?: ExitReason, options?: StopOptions): Promise<void>;
  /** Stops the child now, without cleanup; it exits with reason `killed` (OTP `brutal_kill`). */
  kill(): void;
  /** Optional: a JSON-able view of the child's state for `tree()` (a supervisor returns its subtree). */
  describe?(): JsonValue;
}

/**
 * Internal protocol: a child that can report its exit to a callback without a promise per watcher.
 * `child[WATCH_EXIT](listener)` calls `listener(reason)` (or `listener.onChildExit(reason, child)`) once,
 * when the child exits (synchronously,
 * inside its exit; at once if it already exited). Machines implement it: supervisors and the SIP
 * transaction layer watch thousands of short-lived machines, and a promise chain per watcher costs
 * memory for as long as each machine lives.
 * @internal
 */
export const WATCH_EXIT: unique symbol = Symbol('tandem.watchExit');

/**
 * What {@link WATCH_EXIT} calls: a function, or an object told which child exited (one object can
 * watch many children without a closure each).
 * @internal
 */
export type ExitWatcher = ((reason: ExitReason) => void) | { onChildExit(reason: ExitReason, child: Child): void };

/** A child implementing {@link WATCH_EXIT}. @internal */
export interface ExitWatchable {
  [WATCH_EXIT](listener: ExitWatcher): void;
}

/**
 * Calls `listener` with `child`'s exit reason: through {@link WATCH_EXIT} when the child has it,
 * else from a microtask once `exited` resolves (a rejection becomes `{ error }`).
 * @internal
 */
export function watchExit(child: Child, listener: ExitWatcher): void {
  const watchable = child as Partial<ExitWatchable>;
  const watch = watchable[WATCH_EXIT];
  if (typeof watch === 'function') {
    watch.call(child, listener);
    return;
  }
  const call = (reason: ExitReason): void => {
    if (typeof listener === 'function') listener(reason);
    else listener.onChildExit(reason, child);
  };
  void child.exited.then(call, (error: unknown) => call({ error }));
}

/** True when `value` implements {@link WATCH_EXIT}. @internal */
export function isExitWatchable(value: object): boolean {
  return typeof (value as Partial<ExitWatchable>)[WATCH_EXIT] === 'function';
}

/** Best-effort JSON view of any value (states of `handleEvent` machines may be anything). */
export function toJson(value: unknown): JsonValue {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? null : (JSON.parse(text) as JsonValue);
  } catch {
    return String(value);
  }
}
