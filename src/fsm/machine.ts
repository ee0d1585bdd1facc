/**
 * The state machine engine: gen_statem semantics on a single-threaded event loop.
 *
 * A machine owns a mailbox (external events: call, cast, info, expired timers, stop requests), an
 * internal queue (inserted and re-delivered postponed events), a queue of due zero-time timeouts and
 * a list of postponed events. It runs its events one at a time, to completion: an event sent to a
 * machine from its own callback is queued, never handled re-entrantly (SPEC A.17). Sending never
 * runs the receiver in the sender's stack: machines with mail are run from a microtask.
 *
 * ## The state transition (SPEC A.9; OTP gen_statem, "State Transition")
 *
 * After a state callback returns, the engine, in this order:
 * 1. executes all actions in order of appearance: replies are sent, inserted events and timeouts
 *    are recorded (last of a kind wins, SPEC A.15);
 * 2. if the state changed, or the result was `repeat`, runs the enter call (when the spec has one);
 *    its actions are handled as if appended to the callback's actions;
 * 3. postpones the current event, if asked;
 * 4. on a state change, restarts the queue with the oldest postponed event (and cancels the state
 *    timeout);
 * 5. inserts the `nextEvent` events ahead of everything queued, in the order given;
 * 6. starts, cancels or updates timeouts. Zero-time timeouts are queued after already queued events
 *    but before any external event not yet received. Any event cancels the event timeout, so a zero
 *    event timeout fires only when nothing is queued internally ahead of it (inserted or re-delivered
 *    events, zero-time timeouts queued before it); mailbox events, even ones that arrived before it
 *    was set, are handled after it and do not cancel it;
 * 7. handles the oldest queued event (inserted and postponed first, then due zero-time timeouts,
 *    then the mailbox), or waits for one.
 *
 * @module
 */
import type { Action, TimeoutAction, TimeoutType } from './actions.ts';
import { exitChannel, stateChangeChannel, timeoutChannel } from './channels.ts';
import { type ExitWatchable, type ExitWatcher, type JsonValue, type StopOptions, toJson, WATCH_EXIT } from './child.ts';
import { type Clock, defaultClock, HeapClock } from './clock.ts';
import { deepEqual } from './deep-equal.ts';
import { CallTimeoutError, InvalidResultError, NotRunningError, StopTimeoutError } from './errors.ts';
import type { From, MachineEvent } from './events.ts';
import { describeExit, type ExitReason, toExitReason } from './exit-reason.ts';
import type { CallOptions, MachineRef, StartMachineOptions } from './machine-ref.ts';
import { PendingCall } from './pending-call.ts';
import { nextProcessId } from './process-id.ts';
import { RingBuffer } from './ring-buffer.ts';
import type { Result } from './results.ts';
import { type MachineSpec, type MachineStatus, type TimerStatus, validateSpec } from './spec.ts';
import { ARMED, checkTimeout, DUE, IDLE, TimeoutFire, TimeoutSlot } from './timeout-slot.ts';

/** A stop request waiting in the mailbox. */
class StopRequest {
  readonly reason: ExitReason;
  constructor(reason: ExitReason) {
    this.reason = reason;
  }
}

type Mail = MachineEvent | TimeoutFire | StopRequest;

// Internal, loosely typed view of a spec: the public types guarantee the shapes.
interface AnySpec {
  readonly name: string;
  readonly states?: Readonly<Record<string, (event: MachineEvent, data: unknown) => unknown>>;
  handleEvent?(event: MachineEvent, state: unknown, data: unknown): unknown;
  enter?(oldState: unknown, state: unknown, data: unknown): unknown;
  terminate?(reason: ExitReason, state: unknown, data: unknown): void;
  formatStatus?(status: MachineStatus): MachineStatus;
}

// Action-list validation contexts.
const IN_CALLBACK = 0;
const IN_ENTER = 1;
const IN_INIT = 2;
type ActionContext = 0 | 1 | 2;
const CONTEXT_NAMES = ['a state callback', 'an enter call', 'init'] as const;

/** Machine runs per scheduler turn before yielding to I/O. */
const RUN_BUDGET = 50_000;

function noop(): void {}

/**
 * Starts a machine: validates `spec`, awaits `spec.init(args)`, runs the initial enter call and
 * the init actions, and resolves with the machine's handle. OTP `gen_statem:start_link/3` with
 * `init/1`. Timeouts and call deadlines use `options.clock` (default: the shared real clock).
 *
 * @throws {InvalidSpecError} (rejects) for a malformed spec; nothing runs.
 * @throws {InvalidResultError} (rejects) if `init` returns no state, or a state without a handler.
 * @throws whatever `init` throws (rejects with it).
 */
export function startMachine<S, D, M = unknown, R = unknown, A = void>(
  spec: MachineSpec<S, D, M, R, A>,
  args: A,
  options: StartMachineOptions = {},
): Promise<MachineRef<S, M, R>> {
  return Machine.start(spec, args, options) as Promise<MachineRef<S, M, R>>;
}

/**
 * {@link startMachine} for a spec whose `init` returns its result directly (not a promise): the
 * machine is running when this returns, with no promise or microtask in between. For machines
 * started by the thousand on a hot path (a SIP transaction per request); OTP's `start_link` is
 * synchronous for the caller too.
 *
 * @throws {InvalidSpecError} for a malformed spec.
 * @throws {InvalidResultError} if `init` returns a promise, no state, or a state without a handler.
 * @throws whatever `init` throws.
 */
export function startMachineSync<S, D, M = unknown, R = unknown, A = void>(
  spec: MachineSpec<S, D, M, R, A>,
  args: A,
  options: StartMachineOptions = {},
): MachineRef<S, M, R> {
  return Machine.startSync(spec, args, options) as MachineRef<S, M, R>;
}

class Machine implements MachineRef, ExitWatchable {
  static #runQueue: (Machine | undefined)[] = [];
  /** Specs already validated: a spec started thousands of times (a SIP transaction's) is checked once. */
  static readonly #validSpecs = new WeakSet<object>();
  static #runHead = 0;
  static #flushScheduled = false;

  readonly id: number;
  readonly name: string;
  readonly #spec: AnySpec;
  readonly #clock: Clock;
  readonly #states: AnySpec['states'];
  #state: unknown;
  #data: unknown;

  /** Made on first use (as the queues below): a machine that waits holds no queue storage. */
  #mailbox: RingBuffer<Mail> | null = null;
  /** Inserted and re-delivered postponed events: served before anything else. */
  #queue: RingBuffer<MachineEvent> | null = null;
  /** Due zero-time timeouts: served after #queue, before the mailbox. */
  #zeroQueue: TimeoutFire[] | null = null;
  #postponed: MachineEvent[] | null = null;

  #eventSlot: TimeoutSlot | null = null;
  #stateSlot: TimeoutSlot | null = null;
  #genericSlots: TimeoutSlot[] | null = null;
  #calls: Set<PendingCall> | null = null;

  #scheduled = false;
  #running = false;
  #killRequested = false;
  #exit: ExitReason | undefined = undefined;
  #exited: Promise<ExitReason> | null = null;
  #resolveExited: ((reason: ExitReason) => void) | null = null;
  /** {@link WATCH_EXIT} listeners: one function, or several. */
  #exitListeners: ExitWatcher | ExitWatcher[] | null = null;

  // Scratch state of the transition in progress.
  #postponeRequested = false;
  #nextEventCount = 0;
  #timeoutCount = 0;
  #lastTimeout: TimeoutAction | null = null;

  private constructor(spec: AnySpec, state: unknown, data: unknown, clock: Clock) {
    this.id = nextProcessId();
    this.name = spec.name;
    this.#spec = spec;
    this.#states = spec.states;
    this.#clock = clock;
    this.#state = state;
    this.#data = data;
  }

  static async start(spec: unknown, args: unknown, options: StartMachineOptions): Promise<Machine> {
    const s = Machine.#checked(spec);
    return Machine.#create(s, await s.init(args), options);
  }

  static startSync(spec: unknown, args: unknown, options: StartMachineOptions): Machine {
    const s = Machine.#checked(spec);
    const init = s.init(args);
    if (typeof (init as { then?: unknown } | null)?.then === 'function') {
      // Refused; its rejection, if any, must not surface as an unhandled one.
      (init as Promise<unknown>).then(noop, noop);
      throw new InvalidResultError(`Machine "${s.name}": init returned a promise; start it with startMachine`);
    }
    return Machine.#create(s, init, options);
  }

  static #checked(spec: unknown): AnySpec & { init(args: unknown): unknown } {
    if (!Machine.#validSpecs.has(spec as object)) {
      validateSpec(spec);
      Machine.#validSpecs.add(spec as object);
    }
    return spec as AnySpec & { init(args: unknown): unknown };
  }

  static #create(s: AnySpec, init: unknown, options: StartMachineOptions): Machine {
    if (typeof init !== 'object' || init === null || !('state' in init)) {
      throw new InvalidResultError(`Machine "${s.name}": init must return { state, data, actions? }`);
    }
    const { state, data, actions } = init as { state: unknown; data: unknown; actions?: unknown };
    if (s.states !== undefined && !Machine.#hasHandler(s.states, state)) {
      throw new InvalidResultError(`Machine "${s.name}": init returned state ${String(state)}, which has no handler`);
    }
    const machine = new Machine(s, state, data, options.clock ?? defaultClock);
    machine.#begin(actions);
    return machine;
  }

  // ---- Public API ----------------------------------------------------------------------------

  call(msg: unknown, options: CallOptions = {}): Promise<unknown> {
    if (this.#exit !== undefined) return Promise.reject(this.#notRunning());
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs >= 0)) {
      return Promise.reject(new RangeError(`call() timeoutMs must be a number >= 0, got ${String(timeoutMs)}`));
    }
    const pending = new PendingCall();
    const promise = new Promise<unknown>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    if (timeoutMs !== undefined && timeoutMs !== Infinity) {
      const timer = this.#clock.createTimer(() => {
        this.#settleCall(pending)?.reject(
          new CallTimeoutError(`Call to machine "${this.name}" (#${this.id}) got no reply within ${timeoutMs} ms`),
        );
      });
      pending.timer = timer;
      timer.arm(this.#clock.now() + timeoutMs);
    }
    (this.#calls ??= new Set()).add(pending);
    this.#deliver({ type: 'call', msg, from: pending as unknown as From });
    return promise;
  }

  cast(msg: unknown): void {
    if (this.#exit === undefined) this.#deliver({ type: 'cast', msg });
  }

  info(msg: unknown): void {
    if (this.#exit === undefined) this.#deliver({ type: 'info', msg });
  }

  stop(reason: ExitReason = 'normal', options: StopOptions = {}): Promise<void> {
    if (this.#exit !== undefined) return Promise.resolve();
    this.#deliver(new StopRequest(toExitReason(reason)));
    const done = this.exited.then(noop);
    const timeoutMs = options.timeoutMs;
    if (timeoutMs === undefined || timeoutMs === Infinity) return done;
    return new Promise<void>((resolve, reject) => {
      const timer = this.#clock.createTimer(() =>
        reject(new StopTimeoutError(`Machine "${this.name}" (#${this.id}) did not stop within ${timeoutMs} ms`)),
      );
      timer.arm(this.#clock.now() + timeoutMs);
      void done.then(() => {
        timer.disarm();
        resolve();
      });
    });
  }

  kill(): void {
    if (this.#exit !== undefined) return;
    if (this.#running) this.#killRequested = true; // a callback killed its own machine: finish the transition first
    else this.#finish('killed', false);
  }

  get exited(): Promise<ExitReason> {
    if (this.#exited === null) {
      if (this.#exit !== undefined) {
        this.#exited = Promise.resolve(this.#exit);
      } else {
        const { promise, resolve } = Promise.withResolvers<ExitReason>();
        this.#exited = promise;
        this.#resolveExited = resolve;
      }
    }
    return this.#exited;
  }

  /** {@link WATCH_EXIT}: `listener(reason)` once this machine has exited (at once if it has). */
  [WATCH_EXIT](listener: ExitWatcher): void {
    if (this.#exit !== undefined) {
      this.#notify(listener, this.#exit);
      return;
    }
    const listeners = this.#exitListeners;
    if (listeners === null) this.#exitListeners = listener;
    else if (Array.isArray(listeners)) listeners.push(listener);
    else this.#exitListeners = [listeners, listener];
  }

  status(): MachineStatus {
    const now = this.#clock.now();
    const timers: TimerStatus[] = [];
    for (const slot of this.#slots()) {
      if (slot.status === IDLE) continue;
      const remainingMs = slot.status === DUE || slot.timer === null ? 0 : Math.max(0, slot.timer.deadline - now);
      timers.push({ timeout: slot.timeout, name: slot.name, remainingMs });
    }
    const status: MachineStatus = {
      name: this.name,
      id: this.id,
      state: this.#state,
      data: this.#data,
      queueLength: (this.#mailbox?.length ?? 0) + (this.#queue?.length ?? 0) + (this.#zeroQueue?.length ?? 0),
      postponedCount: this.#postponed?.length ?? 0,
      timers,
      exitReason: this.#exit,
    };
    const format = this.#spec.formatStatus;
    if (format === undefined) return status;
    try {
      return format.call(this.#spec, status);
    } catch {
      return { ...status, data: '[formatStatus failed]' };
    }
  }

  describe(): JsonValue {
    const { state } = this.status();
    return { name: this.name, id: this.id, state: toJson(state), running: this.#exit === undefined };
  }

  // ---- Scheduling ----------------------------------------------------------------------------

  #deliver(mail: Mail): void {
    (this.#mailbox ??= new RingBuffer<Mail>()).push(mail);
    if (!this.#scheduled && !this.#running) {
      this.#scheduled = true;
      Machine.#schedule(this);
    }
  }

  static #schedule(machine: Machine): void {
    Machine.#runQueue.push(machine);
    if (!Machine.#flushScheduled) {
      Machine.#flushScheduled = true;
      queueMicrotask(Machine.#flush);
    }
  }

  /** Runs every scheduled machine; after RUN_BUDGET runs, yields to I/O and carries on later. */
  static #flush = (): void => {
    const queue = Machine.#runQueue;
    let runs = 0;
    let drained = false;
    try {
      while (Machine.#runHead < queue.length && runs++ < RUN_BUDGET) {
        const machine = queue[Machine.#runHead] as Machine;
        queue[Machine.#runHead++] = undefined;
        machine.#scheduled = false;
        machine.#run();
      }
      drained = Machine.#runHead >= queue.length;
    } finally {
      // Also reached if a run threw (an engine bug): the other machines still get to run.
      if (drained) {
        queue.length = 0;
        Machine.#flushScheduled = false;
      } else {
        Machine.#runQueue = queue.slice(Machine.#runHead);
        setImmediate(Machine.#flush);
      }
      Machine.#runHead = 0;
    }
  };

  // ---- The event loop ------------------------------------------------------------------------

  /** Handles queued events until there are none (SPEC A.9 step 7). */
  #run(): void {
    if (this.#exit !== undefined) return;
    this.#running = true;
    try {
      for (;;) {
        let event: MachineEvent | undefined;
        const queue = this.#queue;
        const mailbox = this.#mailbox;
        if (queue !== null && queue.length > 0) {
          event = queue.shift() as MachineEvent;
        } else if (this.#zeroQueue !== null && this.#zeroQueue.length > 0) {
          event = this.#expire(this.#zeroQueue.shift() as TimeoutFire);
          if (event === undefined) continue;
        } else if (mailbox !== null && mailbox.length > 0) {
          const mail = mailbox.shift() as Mail;
          if (mail instanceof TimeoutFire) {
            event = this.#expire(mail);
            if (event === undefined) continue;
          } else if (mail instanceof StopRequest) {
            this.#finish(mail.reason, true);
            return;
          } else {
            event = mail;
          }
        } else {
          // Idle: drained queues go, so a machine that waits (for a timer, say) holds none.
          this.#queue = null;
          this.#mailbox = null;
          this.#zeroQueue = null;
          return;
        }
        this.#handle(event);
        if (this.#exit !== undefined) return;
        if (this.#killRequested) {
          this.#finish('killed', false);
          return;
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /** Turns a queued expiry into its event, or undefined if it was cancelled or restarted since. */
  #expire(fire: TimeoutFire): MachineEvent | undefined {
    const slot = fire.slot;
    if (slot.status !== DUE || slot.gen !== fire.gen) return undefined;
    slot.status = IDLE;
    slot.gen++;
    if (slot.timeout === 'genericTimeout') this.#releaseGeneric(slot);
    if (timeoutChannel.hasSubscribers) {
      timeoutChannel.publish({ name: this.name, id: this.id, timeout: slot.timeout, timeoutName: slot.name, state: this.#state });
    }
    return slot.timeout === 'genericTimeout'
      ? { type: 'genericTimeout', name: slot.name, msg: slot.msg }
      : { type: slot.timeout, msg: slot.msg };
  }

  /** Handles one event: the state callback, then the transition. */
  #handle(event: MachineEvent): void {
    // Any event cancels the event timeout (SPEC A.10). Its clock timer is disarmed at the end of
    // the transition unless the transition re-arms it, which then costs no heap work.
    const eventSlot = this.#eventSlot;
    if (eventSlot !== null && eventSlot.status !== IDLE) {
      eventSlot.status = IDLE;
      eventSlot.gen++;
    }
    let result: unknown;
    try {
      const states = this.#states;
      result =
        states !== undefined
          ? (states[this.#state as string] as NonNullable<AnySpec['states']>[string])(event, this.#data)
          : (this.#spec as Required<Pick<AnySpec, 'handleEvent'>>).handleEvent(event, this.#state, this.#data);
    } catch (error) {
      this.#finish({ error }, true);
      return;
    }
    this.#transition(result, event);
  }

  /** The initial transition: init actions, then the enter call with oldState = the initial state. */
  #begin(actions: unknown): void {
    this.#running = true;
    try {
      if (actions !== undefined && !Array.isArray(actions)) {
        this.#fail(new InvalidResultError(`Machine "${this.name}": init actions must be an array`));
        return;
      }
      this.#transition({ type: 'next', state: this.#state, data: undefined, actions }, null);
    } finally {
      this.#running = false;
    }
    if (this.#exit === undefined && this.#hasWork()) {
      this.#scheduled = true;
      Machine.#schedule(this);
    }
  }

  /**
   * Runs SPEC A.9 steps 1–6 for `result`. `event` is the event being handled, or null for the
   * initial transition (which always runs the enter call).
   */
  #transition(result: unknown, event: MachineEvent | null): void {
    if (typeof result !== 'object' || result === null) {
      this.#fail(new InvalidResultError(`Machine "${this.name}" in state ${describeState(this.#state)}: a state callback returned ${String(result)}, not a result`));
      return;
    }
    const r = result as Result<unknown, unknown>;
    const oldState = this.#state;
    let newState = oldState;
    let changed = false;
    let enter = event === null;
    switch (r.type) {
      case 'keep':
        break;
      case 'repeat':
        enter = true;
        break;
      case 'next':
        newState = r.state;
        changed = event !== null && !this.#sameState(oldState, newState);
        if (changed && this.#states !== undefined && !Machine.#hasHandler(this.#states, newState)) {
          this.#fail(new InvalidResultError(`Machine "${this.name}": next(${describeState(newState)}) names a state with no handler`));
          return;
        }
        enter ||= changed;
        break;
      case 'stop':
        this.#stopWith(r.reason, r.data, r.replies);
        return;
      default:
        this.#fail(new InvalidResultError(`Machine "${this.name}": unknown result type ${String((r as { type?: unknown }).type)}`));
        return;
    }
    if (r.data !== undefined) this.#data = r.data;

    // 1. Execute actions: send replies, record postpone, inserted events and timeouts.
    this.#postponeRequested = false;
    this.#nextEventCount = 0;
    this.#timeoutCount = 0;
    const actions = r.actions;
    if (actions !== undefined && !this.#executeActions(actions, event === null ? IN_INIT : IN_CALLBACK)) return;

    this.#state = newState;
    if (changed && stateChangeChannel.hasSubscribers) {
      stateChangeChannel.publish({ name: this.name, id: this.id, from: oldState, to: newState });
    }

    // 2. Enter call, if the state changed (or repeat, or the initial state).
    let enterActions: readonly Action[] | undefined;
    const enterFn = this.#spec.enter;
    if (enter && enterFn !== undefined) {
      let er: unknown;
      try {
        er = enterFn.call(this.#spec, oldState, newState, this.#data);
      } catch (error) {
        this.#finish({ error }, true);
        return;
      }
      if (typeof er !== 'object' || er === null) {
        this.#fail(new InvalidResultError(`Machine "${this.name}": an enter call returned ${String(er)}, not a result`));
        return;
      }
      const e = er as Result<unknown, unknown>;
      if (e.type === 'stop') {
        this.#stopWith(e.reason, e.data, e.replies);
        return;
      }
      if (e.type !== 'keep' && !(e.type === 'next' && this.#sameState(e.state, newState))) {
        this.#fail(new InvalidResultError(`Machine "${this.name}": an enter call may not change state or repeat (returned ${String(e.type)})`));
        return;
      }
      if (e.data !== undefined) this.#data = e.data;
      enterActions = e.actions;
      if (enterActions !== undefined && !this.#executeActions(enterActions, IN_ENTER)) return;
    }

    // 3. Postpone the current event.
    if (this.#postponeRequested) (this.#postponed ??= []).push(event as MachineEvent);

    // 4. On a state change: retry postponed events first (oldest first); cancel the state timeout.
    if (changed) {
      const postponed = this.#postponed;
      if (postponed !== null && postponed.length > 0) {
        (this.#queue ??= new RingBuffer<MachineEvent>()).unshiftAll(postponed);
        this.#postponed = null;
      }
      const stateSlot = this.#stateSlot;
      if (stateSlot !== null && stateSlot.status !== IDLE) this.#cancelSlot(stateSlot);
    }

    // 5. Insert next events ahead of everything queued, in the order given.
    if (this.#nextEventCount > 0) this.#insertNextEvents(actions);

    // 6. Timeouts.
    if (this.#timeoutCount === 1) {
      this.#applyTimeout(this.#lastTimeout as TimeoutAction);
      this.#lastTimeout = null;
    } else if (this.#timeoutCount > 1) {
      this.#applyTimeouts(actions, enterActions);
    }
    const eventSlot = this.#eventSlot;
    if (eventSlot !== null && eventSlot.status !== ARMED && eventSlot.timer?.armed === true) eventSlot.timer.disarm();
  }

  /** Step 1 for one action list. Returns false (after stopping the machine) on an invalid action. */
  #executeActions(actions: unknown, context: ActionContext): boolean {
    if (!Array.isArray(actions)) {
      this.#fail(new InvalidResultError(`Machine "${this.name}": actions must be an array`));
      return false;
    }
    for (let i = 0; i < actions.length; i++) {
      const action = actions[i] as Action | null | undefined;
      switch (action?.type) {
        case 'reply':
          if (!(action.from instanceof PendingCall)) {
            this.#fail(new InvalidResultError(`Machine "${this.name}": reply() needs the from of a call event`));
            return false;
          }
          this.#replyTo(action.from, action.value);
          break;
        case 'postpone':
          if (context !== IN_CALLBACK) {
            this.#fail(new InvalidResultError(`Machine "${this.name}": postpone() is not allowed in ${CONTEXT_NAMES[context]}`));
            return false;
          }
          this.#postponeRequested = true;
          break;
        case 'nextEvent':
          if (context === IN_ENTER) {
            this.#fail(new InvalidResultError(`Machine "${this.name}": nextEvent() is not allowed in an enter call`));
            return false;
          }
          this.#nextEventCount++;
          break;
        case 'startTimeout':
        case 'cancelTimeout':
        case 'updateTimeout': {
          const problem = checkTimeout(action);
          if (problem !== undefined) {
            this.#fail(new InvalidResultError(`Machine "${this.name}": ${problem}`));
            return false;
          }
          this.#timeoutCount++;
          this.#lastTimeout = action;
          break;
        }
        default:
          this.#fail(new InvalidResultError(`Machine "${this.name}": unknown action ${describeAction(action)}`));
          return false;
      }
    }
    return true;
  }

  #insertNextEvents(actions: readonly Action[] | undefined): void {
    const events: MachineEvent[] = [];
    for (const action of actions ?? []) {
      if (action.type === 'nextEvent') events.push({ type: 'internal', msg: action.msg });
    }
    (this.#queue ??= new RingBuffer<MachineEvent>()).unshiftAll(events);
  }

  /** Several timeout actions: the last per timeout wins (SPEC A.15), applied in order of appearance. */
  #applyTimeouts(actions: readonly Action[] | undefined, enterActions: readonly Action[] | undefined): void {
    const all: TimeoutAction[] = [];
    if (actions !== undefined) collectTimeouts(actions, all);
    if (enterActions !== undefined) collectTimeouts(enterActions, all);
    if (all.length > 16) {
      // Many: one pass from the end with a set of keys.
      const seen = new Set<string>();
      const winners: TimeoutAction[] = [];
      for (let i = all.length - 1; i >= 0; i--) {
        const action = all[i] as TimeoutAction;
        const key = action.timeout === 'genericTimeout' ? `g:${action.name}` : action.timeout;
        if (seen.has(key)) continue;
        seen.add(key);
        winners.push(action);
      }
      for (let i = winners.length - 1; i >= 0; i--) this.#applyTimeout(winners[i] as TimeoutAction);
      return;
    }
    // A handful (the usual case): a pairwise scan, no keys or Set to build.
    for (let i = 0; i < all.length; i++) {
      const action = all[i] as TimeoutAction;
      let superseded = false;
      for (let k = i + 1; k < all.length; k++) {
        if (sameTimeout(action, all[k] as TimeoutAction)) {
          superseded = true;
          break;
        }
      }
      if (!superseded) this.#applyTimeout(action);
    }
  }

  /** Starts, cancels or updates one timeout (SPEC A.10–A.14). */
  #applyTimeout(action: TimeoutAction): void {
    if (action.type === 'cancelTimeout' || (action.type === 'startTimeout' && action.ms === Infinity)) {
      const slot = this.#findSlot(action.timeout, action.name);
      if (slot !== null && slot.status !== IDLE) this.#cancelSlot(slot);
      return;
    }
    const slot = this.#slot(action.timeout, action.name);
    if (action.type === 'updateTimeout') {
      if (slot.status !== IDLE) {
        slot.msg = action.msg; // same deadline; a queued expiry delivers the new msg
        return;
      }
      slot.msg = action.msg;
      this.#startZero(slot);
      return;
    }
    slot.msg = action.msg;
    if (action.ms === 0) {
      if (slot.timer?.armed === true) slot.timer.disarm();
      this.#startZero(slot);
      return;
    }
    slot.status = ARMED;
    slot.gen++;
    let timer = slot.timer;
    if (timer === null) {
      const clock = this.#clock;
      if (clock instanceof HeapClock) {
        slot.owner = this;
        timer = clock.createTimerWith(Machine.#slotExpired, slot);
      } else {
        timer = clock.createTimer(() => this.#onTimer(slot));
      }
      slot.timer = timer;
    }
    timer.arm(this.#clock.now() + action.ms);
  }

  /** Queues a zero-time expiry: after already queued events, before later external ones (SPEC A.14). */
  #startZero(slot: TimeoutSlot): void {
    slot.status = DUE;
    slot.gen++;
    (this.#zeroQueue ??= []).push(new TimeoutFire(slot, slot.gen));
  }

  #cancelSlot(slot: TimeoutSlot): void {
    slot.status = IDLE;
    slot.gen++;
    if (slot.timer?.armed === true) slot.timer.disarm();
    if (slot.timeout === 'genericTimeout') this.#releaseGeneric(slot);
  }

  /** The one expiry function of all slot timers on a {@link HeapClock}. */
  static #slotExpired = (slot: TimeoutSlot): void => {
    (slot.owner as Machine).#onTimer(slot);
  };

  /** A clock timer expired: the expiry joins the mailbox like any external message. */
  #onTimer(slot: TimeoutSlot): void {
    if (slot.status !== ARMED || this.#exit !== undefined) return;
    slot.status = DUE;
    this.#deliver(new TimeoutFire(slot, slot.gen));
  }

  #slot(timeout: TimeoutType, name: string): TimeoutSlot {
    if (timeout === 'eventTimeout') return (this.#eventSlot ??= new TimeoutSlot('eventTimeout', ''));
    if (timeout === 'stateTimeout') return (this.#stateSlot ??= new TimeoutSlot('stateTimeout', ''));
    const found = this.#findSlot(timeout, name);
    if (found !== null) return found;
    const slot = new TimeoutSlot('genericTimeout', name);
    (this.#genericSlots ??= []).push(slot);
    return slot;
  }

  #findSlot(timeout: TimeoutType, name: string): TimeoutSlot | null {
    if (timeout === 'eventTimeout') return this.#eventSlot;
    if (timeout === 'stateTimeout') return this.#stateSlot;
    const slots = this.#genericSlots;
    if (slots === null) return null;
    for (const slot of slots) if (slot.name === name) return slot;
    return null;
  }

  /** Forgets an idle generic slot, so machines using many timer names do not accumulate them. */
  #releaseGeneric(slot: TimeoutSlot): void {
    const slots = this.#genericSlots;
    if (slots === null) return;
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
  }

  *#slots(): Iterable<TimeoutSlot> {
    if (this.#eventSlot !== null) yield this.#eventSlot;
    if (this.#stateSlot !== null) yield this.#stateSlot;
    if (this.#genericSlots !== null) yield* this.#genericSlots;
  }

  // ---- Calls ---------------------------------------------------------------------------------

  #replyTo(from: PendingCall, value: unknown): void {
    this.#settleCall(from)?.resolve(value);
  }

  /** Marks a call settled (at most once) and returns it, or null if it already was. */
  #settleCall(call: PendingCall): PendingCall | null {
    if (this.#calls === null || !this.#calls.delete(call)) return null;
    call.timer?.disarm();
    return call;
  }

  #notRunning(): NotRunningError {
    const reason = this.#exit as ExitReason;
    return new NotRunningError(`Machine "${this.name}" (#${this.id}) is not running (exit: ${describeExit(reason)})`, { cause: reason });
  }

  // ---- Stopping ------------------------------------------------------------------------------

  #stopWith(reason: unknown, data: unknown, replies: unknown): void {
    if (data !== undefined) this.#data = data;
    if (replies !== undefined) {
      if (!Array.isArray(replies) || !replies.every((a: Action | undefined) => a?.type === 'reply' && a.from instanceof PendingCall)) {
        this.#fail(new InvalidResultError(`Machine "${this.name}": stop() replies must be reply() actions`));
        return;
      }
      for (const action of replies as { from: PendingCall; value: unknown }[]) this.#replyTo(action.from, action.value);
    }
    this.#finish(toExitReason(reason), true);
  }

  #fail(error: InvalidResultError): void {
    this.#finish({ error }, true);
  }

  /** Terminates: cancels timers, runs `terminate` (unless killed), rejects pending calls, resolves `exited`. */
  #finish(reason: ExitReason, runTerminate: boolean): void {
    if (this.#exit !== undefined) return;
    this.#exit = reason; // from here on, sends are dropped and calls rejected
    for (const slot of [...this.#slots()]) {
      slot.status = IDLE;
      slot.gen++;
      slot.timer?.disarm();
    }
    const terminate = this.#spec.terminate;
    if (runTerminate && terminate !== undefined) {
      try {
        terminate.call(this.#spec, reason, this.#state, this.#data);
      } catch (error) {
        reason = { error }; // OTP: an exception in terminate/3 becomes the exit reason
        this.#exit = reason;
      }
    }
    const calls = this.#calls;
    this.#calls = null;
    if (calls !== null) {
      const error = this.#notRunning();
      for (const call of calls) {
        call.timer?.disarm();
        call.reject(error);
      }
    }
    this.#mailbox = null;
    this.#queue = null;
    this.#zeroQueue = null;
    this.#postponed = null;
    if (exitChannel.hasSubscribers) exitChannel.publish({ name: this.name, id: this.id, reason, state: this.#state });
    if (this.#resolveExited !== null) this.#resolveExited(reason);
    this.#resolveExited = null;
    const listeners = this.#exitListeners;
    this.#exitListeners = null;
    if (listeners === null) return;
    if (Array.isArray(listeners)) for (const listener of listeners) this.#notify(listener, reason);
    else this.#notify(listeners, reason);
  }

  #notify(listener: ExitWatcher, reason: ExitReason): void {
    try {
      if (typeof listener === 'function') listener(reason);
      else listener.onChildExit(reason, this);
    } catch (error) {
      // A watcher's bug must not break the machine's exit; report it like an unhandled rejection would.
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  // ---- Helpers -------------------------------------------------------------------------------

  #sameState(a: unknown, b: unknown): boolean {
    return this.#states !== undefined ? a === b : deepEqual(a, b);
  }

  #hasWork(): boolean {
    return (this.#queue?.length ?? 0) > 0 || (this.#zeroQueue?.length ?? 0) > 0 || (this.#mailbox?.length ?? 0) > 0;
  }

  static #hasHandler(states: NonNullable<AnySpec['states']>, state: unknown): boolean {
    return typeof state === 'string' && Object.hasOwn(states, state) && typeof states[state] === 'function';
  }
}

function collectTimeouts(list: readonly Action[], into: TimeoutAction[]): void {
  for (let i = 0; i < list.length; i++) {
    const action = list[i] as Action;
    if (action.type === 'startTimeout' || action.type === 'cancelTimeout' || action.type === 'updateTimeout') into.push(action);
  }
}

/** Whether two timeout actions are about the same timeout (a generic one by name). */
function sameTimeout(a: TimeoutAction, b: TimeoutAction): boolean {
  return a.timeout === b.timeout && (a.timeout !== 'genericTimeout' || a.name === b.name);
}

function describeAction(action: unknown): string {
  if (typeof action === 'object' && action !== null && 'type' in action) return String(action.type);
  return String(action);
}

function describeState(state: unknown): string {
  if (typeof state === 'string') return `"${state}"`;
  try {
    return JSON.stringify(state) ?? String(state);
  } catch {
    return String(state);
  }
}

