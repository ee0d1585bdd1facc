/**
 * The shape of a machine spec, and its up-front validation.
 *
 * Two callback styles (SPEC A.1; OTP `callback_mode()`):
 * - `states`: one handler per state (OTP `state_functions`); states are strings, compared with `===`;
 * - `handleEvent`: one handler for all states (OTP `handle_event_function`); a state may be any
 *   value and is compared structurally (deep equality) to decide whether a state change happened.
 *
 * An `enter` callback, when present, turns on enter calls (OTP `state_enter`).
 *
 * @module
 */
import type { InitAction } from './actions.ts';
import type { MachineEvent } from './events.ts';
import { type ErrorDetail, InvalidSpecError } from './errors.ts';
import type { ExitReason } from './exit-reason.ts';
import type { EnterResult, Result } from './results.ts';

/** What `init` returns: the initial state and data, and actions to run on start. */
export interface InitResult<S, D, M = unknown, R = unknown> {
  readonly state: S;
  readonly data: D;
  readonly actions?: readonly InitAction<M, R>[];
}

/** One armed (or due) timeout, as shown by `status()`. */
export interface TimerStatus {
  readonly timeout: 'eventTimeout' | 'stateTimeout' | 'genericTimeout';
  /** Generic timeout name; `''` for event and state timeouts. */
  readonly name: string;
  /** Milliseconds until expiry; 0 when due (queued for delivery). */
  readonly remainingMs: number;
}

/** A snapshot of a machine, for the admin API. `data` is what `formatStatus` made of it. */
export interface MachineStatus<S = unknown, D = unknown> {
  readonly name: string;
  readonly id: number;
  readonly state: S;
  readonly data: D;
  /** Events waiting: mailbox, inserted and re-delivered events, and due zero-time timeouts. */
  readonly queueLength: number;
  readonly postponedCount: number;
  readonly timers: readonly TimerStatus[];
  /** Undefined while running. */
  readonly exitReason: ExitReason | undefined;
}

/** Handler of one state in the `states` style. */
export type StateHandler<S, D, M = unknown, R = unknown> = (event: MachineEvent<M, R>, data: D) => Result<S, D, M, R>;

interface SpecCommon<S, D, M, R, A> {
  /** Name shown in status, diagnostics channel messages and errors. */
  readonly name: string;
  /** Computes the initial state, data and actions from `args`. May be async; throwing fails the start. */
  init(args: A): InitResult<S, D, M, R> | Promise<InitResult<S, D, M, R>>;
  /**
   * Enter call: runs after every state change, on the initial state (`oldState` = the initial
   * state) and after `repeat`, before any other event in the new state (SPEC A.4).
   */
  enter?(oldState: S, state: S, data: D): EnterResult<D, M, R>;
  /** Runs once when the machine stops for any reason but a kill. Must be synchronous. */
  terminate?(reason: ExitReason, state: S, data: D): void;
  /** Redacts the status shown by `status()` (OTP `format_status/1`), e.g. to hide secrets in data. */
  formatStatus?(status: MachineStatus<S, D>): MachineStatus<S, unknown>;
}

/** A spec with one handler per state. */
export interface StateFunctionsSpec<S extends string, D, M = unknown, R = unknown, A = void> extends SpecCommon<S, D, M, R, A> {
  readonly states: { readonly [K in S]: StateHandler<S, D, M, R> };
  readonly handleEvent?: undefined;
}

/** A spec with one handler for all states. */
export interface HandleEventSpec<S, D, M = unknown, R = unknown, A = void> extends SpecCommon<S, D, M, R, A> {
  handleEvent(event: MachineEvent<M, R>, state: S, data: D): Result<S, D, M, R>;
  readonly states?: undefined;
}

/**
 * A machine spec: `S` state, `D` data, `M` message (of every event kind), `R` call reply,
 * `A` the args of `init`.
 */
export type MachineSpec<S, D, M = unknown, R = unknown, A = void> =
  | ([S] extends [string] ? StateFunctionsSpec<S, D, M, R, A> : never)
  | HandleEventSpec<S, D, M, R, A>;

/**
 * Checks a spec before anything starts.
 * @throws {InvalidSpecError} with one `details` entry per problem.
 */
export function validateSpec(spec: unknown): void {
  const problems: ErrorDetail[] = [];
  if (typeof spec !== 'object' || spec === null) {
    throw new InvalidSpecError('A machine spec must be an object', { details: [{ path: '', message: 'not an object' }] });
  }
  const s = spec as Record<string, unknown>;
  if (typeof s.name !== 'string' || s.name === '') problems.push({ path: 'name', message: 'must be a non-empty string' });
  if (typeof s.init !== 'function') problems.push({ path: 'init', message: 'must be a function' });
  const hasStates = s.states !== undefined;
  const hasHandle = s.handleEvent !== undefined;
  if (hasStates === hasHandle) {
    problems.push({ path: 'states', message: 'give exactly one of states and handleEvent' });
  } else if (hasHandle) {
    if (typeof s.handleEvent !== 'function') problems.push({ path: 'handleEvent', message: 'must be a function' });
  } else if (typeof s.states !== 'object' || s.states === null) {
    problems.push({ path: 'states', message: 'must be an object of state handlers' });
  } else {
    const entries = Object.entries(s.states);
    if (entries.length === 0) problems.push({ path: 'states', message: 'must name at least one state' });
    for (const [state, handler] of entries) {
      if (typeof handler !== 'function') problems.push({ path: `states.${state}`, message: 'must be a function' });
    }
  }
  for (const key of ['enter', 'terminate', 'formatStatus']) {
    if (s[key] !== undefined && typeof s[key] !== 'function') problems.push({ path: key, message: 'must be a function' });
  }
  if (problems.length > 0) {
    const name = typeof s.name === 'string' ? ` "${s.name}"` : '';
    const list = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    throw new InvalidSpecError(`Invalid machine spec${name}: ${list}`, { details: problems });
  }
}
