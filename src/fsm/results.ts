/**
 * What a state callback returns (OTP `state_callback_result()`): {@link next}, {@link keep},
 * {@link repeat} or {@link stop}. `data` replaces the machine's data; omitted or `undefined`, the
 * current data is kept (so machine data is never `undefined`: use `null` for "nothing").
 *
 * @module
 */
import type { Action, EnterAction, ReplyAction } from './actions.ts';
import type { ExitReason } from './exit-reason.ts';

/** Go to `state` (a state change iff it differs from the current one). OTP `{next_state, ...}`. */
export interface NextResult<S, D, A> {
  readonly type: 'next';
  readonly state: S;
  readonly data: D | undefined;
  readonly actions: readonly A[] | undefined;
}
/** Stay in the current state; never a state change. OTP `{keep_state, ...}`. */
export interface KeepResult<D, A> {
  readonly type: 'keep';
  readonly data: D | undefined;
  readonly actions: readonly A[] | undefined;
}
/** Like keep, but the enter call runs again. OTP `{repeat_state, ...}`. */
export interface RepeatResult<D, A> {
  readonly type: 'repeat';
  readonly data: D | undefined;
  readonly actions: readonly A[] | undefined;
}
/** Stop with `reason`; `replies` are sent first, then `terminate` runs. OTP `{stop_and_reply, ...}`. */
export interface StopResult<D, R> {
  readonly type: 'stop';
  readonly reason: ExitReason;
  readonly data: D | undefined;
  readonly replies: readonly ReplyAction<R>[] | undefined;
}

/** Result of a state callback. */
export type Result<S, D, M = unknown, R = unknown> =
  | NextResult<S, D, Action<M, R>>
  | KeepResult<D, Action<M, R>>
  | RepeatResult<D, Action<M, R>>
  | StopResult<D, R>;

/**
 * Result of an enter call: it cannot change state, postpone or insert events (SPEC A.4), so only
 * keep (with reply and timeout actions) or stop type-check.
 */
export type EnterResult<D, M = unknown, R = unknown> = KeepResult<D, EnterAction<M, R>> | StopResult<D, R>;

const KEEP: KeepResult<never, never> = Object.freeze({ type: 'keep', data: undefined, actions: undefined });
const REPEAT: RepeatResult<never, never> = Object.freeze({ type: 'repeat', data: undefined, actions: undefined });

/** Go to `state`, optionally replacing data and running `actions`. */
export function next<S, D = never, A = never>(state: S, data?: D, actions?: readonly A[]): NextResult<S, D, A> {
  return { type: 'next', state, data, actions };
}

/** Stay in the current state, optionally replacing data and running `actions`. */
export function keep<D = never, A = never>(data?: D, actions?: readonly A[]): KeepResult<D, A> {
  if (data === undefined && actions === undefined) return KEEP;
  return { type: 'keep', data, actions };
}

/** Stay in the current state and run the enter call again. */
export function repeat<D = never, A = never>(data?: D, actions?: readonly A[]): RepeatResult<D, A> {
  if (data === undefined && actions === undefined) return REPEAT;
  return { type: 'repeat', data, actions };
}

/** Stop with `reason` (default `normal`) after sending `replies`. */
export function stop<D = never, R = never>(
  reason: ExitReason = 'normal',
  data?: D,
  replies?: readonly ReplyAction<R>[],
): StopResult<D, R> {
  return { type: 'stop', reason, data, replies };
}
