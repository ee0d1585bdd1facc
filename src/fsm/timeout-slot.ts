/**
 * The bookkeeping of a machine's timeouts. Each timeout (the event timeout, the state timeout, each
 * named generic timeout) is a slot with a generation counter: starting, cancelling or delivering
 * bumps it, so an expiry already queued under an older generation is recognised as stale and
 * dropped — a cancelled or restarted timer's old expiry is never delivered (SPEC A.13).
 *
 * @module
 */
import type { TimeoutAction, TimeoutType } from './actions.ts';
import type { ClockTimer } from './clock.ts';

/** Slot status: not running; armed on the clock; expired and queued for delivery. */
export const IDLE = 0;
export const ARMED = 1;
export const DUE = 2;

/** One timeout of a machine: the event timeout, the state timeout, or one named generic timeout. */
export class TimeoutSlot {
  readonly timeout: TimeoutType;
  readonly name: string;
  status: 0 | 1 | 2 = IDLE;
  /** Bumped on every start, cancel and expiry: a queued expiry with an old `gen` is stale. */
  gen = 0;
  msg: unknown = undefined;
  timer: ClockTimer | null = null;
  /** The machine whose slot this is, for a timer shared-function expiry (set with such a timer). */
  owner: unknown = undefined;

  constructor(timeout: TimeoutType, name: string) {
    this.timeout = timeout;
    this.name = name;
  }
}

/** An expiry waiting in the mailbox or the zero-time queue. */
export class TimeoutFire {
  readonly slot: TimeoutSlot;
  readonly gen: number;
  constructor(slot: TimeoutSlot, gen: number) {
    this.slot = slot;
    this.gen = gen;
  }
}

/** Why a timeout action is invalid, or undefined if it is fine. */
export function checkTimeout(action: TimeoutAction): string | undefined {
  if (action.timeout !== 'eventTimeout' && action.timeout !== 'stateTimeout' && action.timeout !== 'genericTimeout') {
    return `unknown timeout type ${String(action.timeout)}`;
  }
  if (action.timeout === 'genericTimeout' && typeof action.name !== 'string') return 'a generic timeout needs a string name';
  if (action.type === 'startTimeout' && !(typeof action.ms === 'number' && action.ms >= 0)) {
    return `timeout ms must be a number >= 0 (or Infinity to cancel), got ${String(action.ms)}`;
  }
  return undefined;
}
