/**
 * Time for the state machines and supervisors. Every timer of `src/fsm` (machine timeouts, call
 * deadlines, supervisor shutdown deadlines) goes through a {@link Clock}, so tests can run them on
 * {@link SimulatedClock} and production shares one {@link RealClock} with a single OS timer.
 *
 * @module
 */
import { HeapTimer, TimerHeap } from './timer-heap.ts';

/** A one-shot timer owned by a clock. Re-armable; at most one pending expiry at a time. */
export interface ClockTimer {
  /** Arms (or re-arms, replacing the previous deadline) to expire at `deadline`, in ms on the clock's time line. */
  arm(deadline: number): void;
  /** Cancels a pending expiry. The callback will not run for any earlier `arm`. */
  disarm(): void;
  /** True between `arm()` and expiry or `disarm()`. */
  readonly armed: boolean;
  /** Deadline of the last `arm()`, in ms. */
  readonly deadline: number;
}

/** The injectable time source. */
export interface Clock {
  /** Current time in ms, monotonic (not wall-clock). */
  now(): number;
  /** Creates a disarmed timer that calls `onExpire` each time an arm comes due. */
  createTimer(onExpire: () => void): ClockTimer;
}

/** A heap entry that is also the public timer handle: one object per timer. */
class HeapClockTimer extends HeapTimer implements ClockTimer {
  readonly #clock: HeapClock;

  constructor(clock: HeapClock, onExpire: (arg?: unknown) => void, arg?: unknown) {
    super(onExpire, arg);
    this.#clock = clock;
  }
  arm(deadline: number): void {
    this.#clock.armEntry(this, deadline);
  }
  disarm(): void {
    this.#clock.disarmEntry(this);
  }
}

/** Shared base: a timer heap plus a hook to wake up when the earliest deadline gets earlier. */
export abstract class HeapClock implements Clock {
  protected readonly heap = new TimerHeap();

  abstract now(): number;

  /** Called when the earliest deadline moved earlier than before. */
  protected abstract wake(): void;

  createTimer(onExpire: () => void): ClockTimer {
    return new HeapClockTimer(this, onExpire);
  }

  /**
   * {@link createTimer} calling `onExpire(arg)`: machines share one function for all their timers
   * instead of a closure per timer (thousands of SIP transactions each hold timers for 32 s).
   * @internal
   */
  createTimerWith<T>(onExpire: (arg: T) => void, arg: T): ClockTimer {
    return new HeapClockTimer(this, onExpire as (arg?: unknown) => void, arg);
  }

  /** Number of armed timers on this clock. */
  get pendingTimers(): number {
    return this.heap.size;
  }

  /** @internal */
  armEntry(entry: HeapTimer, deadline: number): void {
    if (this.heap.arm(entry, deadline)) this.wake();
  }

  /** @internal */
  disarmEntry(entry: HeapTimer): void {
    this.heap.disarm(entry);
  }
}

/** Options of {@link RealClock}. */
export interface RealClockOptions {
  /**
   * Unref the OS timer so that armed machine timeouts alone do not keep the process alive
   * (listeners and sockets do). Default `true`.
   */
  readonly unref?: boolean;
}

const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Real time: `performance.now()`, and one OS `setTimeout` for the nearest deadline of all its
 * timers, whatever their number.
 */
export class RealClock extends HeapClock {
  readonly #unref: boolean;
  #handle: ReturnType<typeof setTimeout> | undefined;
  #scheduledFor = Infinity;

  constructor(options: RealClockOptions = {}) {
    super();
    this.#unref = options.unref ?? true;
  }

  now(): number {
    return performance.now();
  }

  protected wake(): void {
    const key = this.heap.peekKey();
    if (key >= this.#scheduledFor) return; // the scheduled wake-up comes first anyway
    this.#schedule(key);
  }

  #schedule(key: number): void {
    if (this.#handle !== undefined) clearTimeout(this.#handle);
    this.#handle = undefined;
    this.#scheduledFor = key;
    if (key === Infinity) return;
    const delay = Math.min(MAX_DELAY_MS, Math.max(1, Math.ceil(key - this.now())));
    this.#handle = setTimeout(this.#onTimeout, delay);
    if (this.#unref) this.#handle.unref();
  }

  readonly #onTimeout = (): void => {
    this.#handle = undefined;
    this.#scheduledFor = Infinity;
    const now = this.now();
    for (let t = this.heap.popDue(now); t !== undefined; t = this.heap.popDue(now)) t.onExpire(t.arg);
    this.#schedule(this.heap.peekKey());
  };
}

/**
 * Simulated time for tests. Time stands still until {@link SimulatedClock.advance}, which delivers
 * due timers in deadline order (ties in arm order), setting `now()` to each deadline and letting the
 * machines run their queues (pending promise jobs) between deadlines, as real time would. Timers due
 * at the same instant expire together, as they would in one OS timer callback.
 */
export class SimulatedClock extends HeapClock {
  #now: number;

  /** @param startMs initial value of `now()`, default 0. */
  constructor(startMs = 0) {
    super();
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  protected wake(): void {
    // Nothing to schedule: time only moves in advance().
  }

  /**
   * Moves time forward by `ms`, firing every timer due on the way, then settles pending work.
   * Resolves when the machines are idle at the new time.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`advance(ms) needs ms >= 0, got ${ms}`);
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const key = this.heap.peekKey();
      if (key > target) break;
      if (key > this.#now) this.#now = key;
      // Fire everything due at this instant (as one OS timer callback would), then let machines run.
      let fired = false;
      for (let t = this.heap.popDue(this.#now); t !== undefined; t = this.heap.popDue(this.#now)) {
        t.onExpire(t.arg);
        fired = true;
      }
      if (fired) await settle();
    }
    this.#now = target;
    await settle();
  }
}

/** Lets every pending promise job and microtask run (one macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The process-wide real clock used when no clock is injected. */
export const defaultClock: Clock = new RealClock();
