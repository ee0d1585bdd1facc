/**
 * The handle on a machine, and the options of starting and calling one.
 *
 * @module
 */
import type { Child, JsonValue, StopOptions } from './child.ts';
import type { Clock } from './clock.ts';
import type { ExitReason } from './exit-reason.ts';
import type { MachineStatus } from './spec.ts';

/** Options of {@link startMachine}. */
export interface StartMachineOptions {
  /** Time source for timeouts and call deadlines. Default: the shared real clock. */
  readonly clock?: Clock;
}

/** Options of {@link MachineRef.call}. */
export interface CallOptions {
  /** Reject with `CallTimeoutError` if no reply came within this many ms. Default: wait forever (OTP `infinity`). */
  readonly timeoutMs?: number;
}

/** A handle on a running (or stopped) machine. Satisfies {@link Child}, so it can be supervised. */
export interface MachineRef<S = unknown, M = unknown, R = unknown> extends Child {
  /** Unique in this process among machines and supervisors. */
  readonly id: number;
  /** The spec's name. */
  readonly name: string;
  /**
   * Sends a `call` event and resolves with the value some later transition replies to its `from`,
   * possibly in another state (SPEC A.6). OTP `gen_statem:call/3`.
   * @throws {CallTimeoutError} (rejects) after `timeoutMs` without a reply.
   * @throws {NotRunningError} (rejects) if the machine has stopped, or stops before replying.
   */
  call(msg: M, options?: CallOptions): Promise<R>;
  /** Sends a `cast` event. Dropped silently if the machine has stopped (as Erlang messages are). OTP `gen_statem:cast/2`. */
  cast(msg: M): void;
  /** Sends an `info` event (OTP: a plain message, `info` event type). Dropped silently if the machine has stopped. */
  info(msg: M): void;
  /**
   * Queues a stop request behind the events already in the mailbox; the machine then runs
   * `terminate(reason)` and exits. Resolves once exited; at once if already exited. OTP `gen_statem:stop/3`.
   * @throws {StopTimeoutError} (rejects) if not exited within `options.timeoutMs`.
   */
  stop(reason?: ExitReason, options?: StopOptions): Promise<void>;
  /** Stops now with reason `killed`, without running `terminate` (OTP `exit(Pid, kill)`). */
  kill(): void;
  /** Resolves with the exit reason when the machine stops. Never rejects. */
  readonly exited: Promise<ExitReason>;
  /** A snapshot for the admin API; `data` is passed through the spec's `formatStatus` (OTP `sys:get_status/1`, `format_status/1`). */
  status(): MachineStatus<S, unknown>;
  /** `{ name, id, state }` as JSON, for supervision trees. */
  describe(): JsonValue;
}
