/**
 * Events delivered to state callbacks: a discriminated union on `type`, each with the `msg`.
 * OTP: gen_statem `event_type()` — `{call, From}`, `cast`, `info`, `internal`, `timeout`,
 * `state_timeout`, `{timeout, Name}`.
 *
 * @module
 */

declare const replyType: unique symbol;

/**
 * The reply handle of a `call` event (OTP `From`). Opaque: pass it to `reply(from, value)`, now or
 * in any later transition, in any state. Replying twice, or after the caller timed out, is a no-op.
 */
export interface From<R = unknown> {
  /** Phantom member carrying the reply type; never present at run time. */
  readonly [replyType]?: R;
}

/** A `call()`: the caller awaits a reply sent with `reply(event.from, value)`. */
export interface CallEvent<M = unknown, R = unknown> {
  readonly type: 'call';
  readonly msg: M;
  readonly from: From<R>;
}
/** A `cast()`: fire and forget. */
export interface CastEvent<M = unknown> {
  readonly type: 'cast';
  readonly msg: M;
}
/** An `info()`: a notification from outside the machine's protocol (OTP: a plain message). */
export interface InfoEvent<M = unknown> {
  readonly type: 'info';
  readonly msg: M;
}
/** An event inserted by the machine itself with `nextEvent(msg)`. Only ever from `nextEvent`. */
export interface InternalEvent<M = unknown> {
  readonly type: 'internal';
  readonly msg: M;
}
/** The event timeout expired: no event arrived for its duration. */
export interface EventTimeoutEvent<M = unknown> {
  readonly type: 'eventTimeout';
  readonly msg: M;
}
/** The state timeout expired: the machine stayed in one state for its duration. */
export interface StateTimeoutEvent<M = unknown> {
  readonly type: 'stateTimeout';
  readonly msg: M;
}
/** The generic timeout called `name` expired. */
export interface GenericTimeoutEvent<M = unknown> {
  readonly type: 'genericTimeout';
  readonly name: string;
  readonly msg: M;
}

/** Every event a state callback can receive. */
export type MachineEvent<M = unknown, R = unknown> =
  | CallEvent<M, R>
  | CastEvent<M>
  | InfoEvent<M>
  | InternalEvent<M>
  | EventTimeoutEvent<M>
  | StateTimeoutEvent<M>
  | GenericTimeoutEvent<M>;

/** The `type` of an event. */
export type MachineEventType = MachineEvent['type'];
