/**
 * The circuit breaker of one route × upstream target, as a state machine (`closed | open | halfOpen`).
 *
 * - `closed`: every request passes; outcomes feed opossum's rolling window (`rollingWindowMs`, ten
 *   buckets rotated by this machine's generic timeout, so the window runs on the machine's clock). When
 *   the error ratio exceeds `errorThresholdPercentage` with at least `volumeThreshold` requests in the
 *   window, opossum trips and this machine goes `open`.
 * - `open`: nothing passes. The open time is the state timeout: `resetTimeoutMs × 2^reopens`, capped
 *   at `maxResetTimeoutMs`, so a target that keeps failing is tried less and less often.
 * - `halfOpen`: `halfOpenRequests` trial requests pass; all succeeding closes the breaker (and resets the
 *   re-open count and the window); one failing re-opens it with a longer open time.
 *
 * The data plane reads the machine's state synchronously through its {@link BreakerGate} (one
 * `canAdmit()` per target choice) and reports outcomes through it; the decisions, and the timers that
 * make them, are all here. opossum provides the rolling error statistics and the trip event; its own
 * reset timer is not used (it cannot grow the open time).
 */
import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import { keep, next, stateTimeout, genericTimeout, type Clock, type MachineSpec, type Result } from '../fsm/index.ts';
import type { CircuitBreaker as BreakerOptions } from './config.ts';

export type BreakerState = 'closed' | 'open' | 'halfOpen';

/** How a request was let through: as an ordinary request, or as one of the half-open trials. */
export type Admission = 'pass' | 'trial';

/** Messages the breaker machine takes (cast). */
export type BreakerMsg =
  | { readonly type: 'trip' }
  | { readonly type: 'trial'; readonly ok: boolean }
  | { readonly type: 'rotate' }
  | { readonly type: 'halfOpen' }
  | { readonly type: 'crash' };

const BUCKETS = 10;
/** opossum's own reset timer is never used: the open time is this machine's state timeout. */
const NEVER_MS = 2 ** 31 - 1;
const FAILED = new Error('failed');
const ROTATE: BreakerMsg = { type: 'rotate' };
const HALF_OPEN: BreakerMsg = { type: 'halfOpen' };

/**
 * The synchronous face of a breaker machine for the data plane. The machine writes `state`,
 * `trialsLeft`, `openUntil`; the data plane calls {@link canAdmit}, {@link acquire} and {@link report}.
 */
export class BreakerGate {
  state: BreakerState = 'closed';
  /** Half-open trial requests still to admit. */
  trialsLeft = 0;
  /** While open: clock time (ms) at which it goes half-open. */
  openUntil = 0;
  reopens = 0;
  transitions = 0;
  readonly #clock: Clock;
  /** Set by the running machine: where outcomes go. */
  sink: { record(ok: boolean): void; trial(ok: boolean): void } | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** May a request go to this target now? (No side effect.) */
  canAdmit(): boolean {
    return this.state === 'closed' || (this.state === 'halfOpen' && this.trialsLeft > 0);
  }

  /** Takes a place: `undefined` when the breaker refuses. Call right after a successful {@link canAdmit}. */
  acquire(): Admission | undefined {
    if (this.state === 'closed') return 'pass';
    if (this.state === 'halfOpen' && this.trialsLeft > 0) {
      this.trialsLeft--;
      return 'trial';
    }
    return undefined;
  }

  /** Reports an admitted request's outcome. */
  report(admission: Admission, ok: boolean): void {
    if (admission === 'trial') this.sink?.trial(ok);
    else if (this.state === 'closed') this.sink?.record(ok);
  }

  /** Gives back a trial place whose request ended without a verdict (the client went away). */
  release(admission: Admission): void {
    if (admission === 'trial' && this.state === 'halfOpen') this.trialsLeft++;
  }

  /** Seconds until the breaker lets a trial through (for `Retry-After`), at least 1. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.openUntil - this.#clock.now()) / 1000));
  }
}

/** What a breaker machine starts with. */
export interface BreakerArgs {
  readonly gate: BreakerGate;
  readonly options: BreakerOptions;
  readonly clock: Clock;
  /** Called on every state change (logs, metrics). */
  readonly onTransition: (from: BreakerState, to: BreakerState, openMs: number) => void;
  /** Delivers a message to this machine (bound once it runs). */
  readonly mailbox: { cast(msg: BreakerMsg): void };
}

interface BreakerData {
  readonly args: BreakerArgs;
  readonly opossum: CircuitBreaker<[boolean], void>;
  readonly rotation: EventEmitter;
  readonly reopens: number;
  readonly trialSuccesses: number;
}

function openMs(options: BreakerOptions, reopens: number): number {
  return Math.min(options.resetTimeoutMs * 2 ** reopens, options.maxResetTimeoutMs);
}

/** Empties opossum's rolling window (a full rotation of its buckets). */
function clearWindow(rotation: EventEmitter): void {
  for (let i = 0; i < BUCKETS; i++) rotation.emit('rotate');
}

export const breakerMachine: MachineSpec<BreakerState, BreakerData, BreakerMsg, never, BreakerArgs> = {
  name: 'breaker',
  init(args) {
    const rotation = new EventEmitter();
    const { options } = args;
    const opossum = new CircuitBreaker<[boolean], void>((ok: boolean) => (ok ? Promise.resolve() : Promise.reject(FAILED)), {
      timeout: false,
      errorThresholdPercentage: options.errorThresholdPercentage,
      volumeThreshold: options.volumeThreshold,
      rollingCountTimeout: options.rollingWindowMs,
      rollingCountBuckets: BUCKETS,
      rotateBucketController: rotation,
      enableSnapshots: false,
      rollingPercentilesEnabled: false,
      resetTimeout: NEVER_MS,
      allowWarmUp: false,
    });
    opossum.on('open', () => args.mailbox.cast({ type: 'trip' }));
    args.gate.sink = {
      record: (ok) => {
        opossum.fire(ok).catch(() => undefined);
      },
      trial: (ok) => args.mailbox.cast({ type: 'trial', ok }),
    };
    args.gate.state = 'closed';
    args.gate.reopens = 0;
    return {
      state: 'closed',
      data: { args, opossum, rotation, reopens: 0, trialSuccesses: 0 },
      actions: [genericTimeout('rotate', options.rollingWindowMs / BUCKETS, ROTATE)],
    };
  },
  enter(old, state, data) {
    const { gate, options, clock, onTransition } = data.args;
    gate.state = state;
    gate.reopens = data.reopens;
    if (old === state) return keep();
    gate.transitions++;
    if (state === 'open') {
      const ms = openMs(options, data.reopens);
      gate.openUntil = clock.now() + ms;
      gate.trialsLeft = 0;
      data.opossum.open();
      onTransition(old, state, ms);
      return keep(undefined, [stateTimeout(ms, HALF_OPEN)]);
    }
    if (state === 'halfOpen') {
      gate.trialsLeft = options.halfOpenRequests;
      onTransition(old, state, 0);
      return keep({ ...data, trialSuccesses: 0 });
    }
    clearWindow(data.rotation);
    data.opossum.close();
    onTransition(old, state, 0);
    return keep();
  },
  states: {
    closed(event, data) {
      if (event.type === 'genericTimeout') return rotate(data);
      if (event.type !== 'cast') return keep();
      if (event.msg.type === 'crash') throw new Error('breaker machine crash requested');
      return event.msg.type === 'trip' ? next('open') : keep();
    },
    open(event, data) {
      if (event.type === 'genericTimeout') return rotate(data);
      if (event.type === 'stateTimeout') return next('halfOpen');
      return keep();
    },
    halfOpen(event, data) {
      if (event.type === 'genericTimeout') return rotate(data);
      if (event.type !== 'cast' || event.msg.type !== 'trial') return keep();
      if (!event.msg.ok) return next('open', { ...data, reopens: data.reopens + 1 });
      const trialSuccesses = data.trialSuccesses + 1;
      return trialSuccesses >= data.args.options.halfOpenRequests ? next('closed', { ...data, reopens: 0, trialSuccesses }) : keep({ ...data, trialSuccesses });
    },
  },
  terminate(_reason, _state, data) {
    data.args.gate.sink = undefined;
    data.opossum.shutdown();
  },
  formatStatus(status) {
    return { ...status, data: { reopens: status.data.reopens, stats: status.data.opossum.stats } };
  },
};

function rotate(data: BreakerData): Result<BreakerState, BreakerData, BreakerMsg, never> {
  data.rotation.emit('rotate');
  return keep(undefined, [genericTimeout('rotate', data.args.options.rollingWindowMs / BUCKETS, ROTATE)]);
}
