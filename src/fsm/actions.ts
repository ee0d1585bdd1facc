/**
 * Transition actions (OTP gen_statem `action()`), returned in a result's action list and executed
 * in order (SPEC A.9 step 1). Several actions of one kind: the last one wins (SPEC A.15).
 *
 * Timeouts (OTP `timeout_action()`):
 * - event timeout: at most one; cancelled by any event (SPEC A.10);
 * - state timeout: at most one; cancelled only by a state change (SPEC A.11);
 * - generic timeouts: any number, by name; survive state changes (SPEC A.12).
 *
 * Each can be started (`ms` > 0; `0` delivers after already queued events; `Infinity` cancels),
 * cancelled, or updated (new `msg`, same deadline; updating one that is not running delivers the
 * new `msg` at once, like a zero timeout) (SPEC A.13).
 *
 * @module
 */
import type { From } from './events.ts';

/** Reply to a caller (OTP `{reply, From, Reply}`). */
export interface ReplyAction<R = unknown> {
  readonly type: 'reply';
  readonly from: From<R>;
  readonly value: R;
}
/** Postpone the current event until the next state change (OTP `postpone`). */
export interface PostponeAction {
  readonly type: 'postpone';
}
/** Insert an `internal` event to run before anything queued (OTP `{next_event, internal, Msg}`). */
export interface NextEventAction<M = unknown> {
  readonly type: 'nextEvent';
  readonly msg: M;
}

/** The three kinds of timeout. */
export type TimeoutType = 'eventTimeout' | 'stateTimeout' | 'genericTimeout';

/** Start (or restart) a timeout: `msg` is delivered after `ms` milliseconds. */
export interface StartTimeoutAction<M = unknown> {
  readonly type: 'startTimeout';
  readonly timeout: TimeoutType;
  /** Name of a generic timeout; `''` for the event and state timeouts. */
  readonly name: string;
  readonly ms: number;
  readonly msg: M;
}
/** Cancel a timeout; a cancelled timer's expiry is never delivered. */
export interface CancelTimeoutAction {
  readonly type: 'cancelTimeout';
  readonly timeout: TimeoutType;
  readonly name: string;
}
/** Replace a timeout's `msg`, keeping its deadline; fires at once if it is not running. */
export interface UpdateTimeoutAction<M = unknown> {
  readonly type: 'updateTimeout';
  readonly timeout: TimeoutType;
  readonly name: string;
  readonly msg: M;
}

/** Any timeout action. */
export type TimeoutAction<M = unknown> = StartTimeoutAction<M> | CancelTimeoutAction | UpdateTimeoutAction<M>;

/** Actions allowed in an enter call: reply and timeouts (no postpone, no inserted events). */
export type EnterAction<M = unknown, R = unknown> = ReplyAction<R> | TimeoutAction<M>;
/** Actions allowed from `init`: everything but postpone (there is no event to postpone). */
export type InitAction<M = unknown, R = unknown> = EnterAction<M, R> | NextEventAction<M>;
/** Any action of a state callback result. */
export type Action<M = unknown, R = unknown> = InitAction<M, R> | PostponeAction;

/** Reply `value` to the caller behind `from`. */
export function reply<R>(from: From<R>, value: NoInfer<R>): ReplyAction<R> {
  return { type: 'reply', from, value };
}

const POSTPONE: PostponeAction = Object.freeze({ type: 'postpone' });

/** Postpone the current event: it is re-delivered after the next state change (SPEC A.8). */
export function postpone(): PostponeAction {
  return POSTPONE;
}

/** Insert an `internal` event carrying `msg`, ahead of every queued event (SPEC A.7). */
export function nextEvent<M>(msg: M): NextEventAction<M> {
  return { type: 'nextEvent', msg };
}

/** Start the event timeout: `msg` arrives after `ms` ms unless any event arrives first. */
export function eventTimeout<M>(ms: number, msg: M): StartTimeoutAction<M> {
  return { type: 'startTimeout', timeout: 'eventTimeout', name: '', ms, msg };
}
/** Start the state timeout: `msg` arrives after `ms` ms unless the state changes first. */
export function stateTimeout<M>(ms: number, msg: M): StartTimeoutAction<M> {
  return { type: 'startTimeout', timeout: 'stateTimeout', name: '', ms, msg };
}
/** Start (or restart) the generic timeout `name`: `msg` arrives after `ms` ms. */
export function genericTimeout<M>(name: string, ms: number, msg: M): StartTimeoutAction<M> {
  return { type: 'startTimeout', timeout: 'genericTimeout', name, ms, msg };
}

const CANCEL_EVENT: CancelTimeoutAction = Object.freeze({ type: 'cancelTimeout', timeout: 'eventTimeout', name: '' });
const CANCEL_STATE: CancelTimeoutAction = Object.freeze({ type: 'cancelTimeout', timeout: 'stateTimeout', name: '' });

/** Cancel the event timeout (rarely needed: any event cancels it). */
export function cancelEventTimeout(): CancelTimeoutAction {
  return CANCEL_EVENT;
}
/** Cancel the state timeout. */
export function cancelStateTimeout(): CancelTimeoutAction {
  return CANCEL_STATE;
}
/** Cancel the generic timeout `name`. */
export function cancelGenericTimeout(name: string): CancelTimeoutAction {
  return { type: 'cancelTimeout', timeout: 'genericTimeout', name };
}

/** Replace the event timeout's `msg`, keeping its deadline; delivers `msg` now if not running. */
export function updateEventTimeout<M>(msg: M): UpdateTimeoutAction<M> {
  return { type: 'updateTimeout', timeout: 'eventTimeout', name: '', msg };
}
/** Replace the state timeout's `msg`, keeping its deadline; delivers `msg` now if not running. */
export function updateStateTimeout<M>(msg: M): UpdateTimeoutAction<M> {
  return { type: 'updateTimeout', timeout: 'stateTimeout', name: '', msg };
}
/** Replace generic timeout `name`'s `msg`, keeping its deadline; delivers `msg` now if not running. */
export function updateGenericTimeout<M>(name: string, msg: M): UpdateTimeoutAction<M> {
  return { type: 'updateTimeout', timeout: 'genericTimeout', name, msg };
}
