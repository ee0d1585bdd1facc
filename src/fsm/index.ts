/**
 * `src/fsm`: a gen_statem-style state machine engine and OTP-style supervisors.
 *
 * - Machines: {@link startMachine}, results {@link next} / {@link keep} / {@link repeat} / {@link stop},
 *   actions ({@link reply}, {@link postpone}, {@link nextEvent}, timeouts).
 * - Time: {@link Clock}, {@link RealClock}, {@link SimulatedClock}.
 * - Supervision: {@link startSupervisor}, {@link startDynamicSupervisor}, the {@link Child} interface.
 * - Observability: {@link FSM_CHANNELS}; errors: {@link FSM_ERROR_CODES}.
 *
 * Imports nothing else of Tandem and no I/O library. See docs/fsm.md.
 *
 * @module
 */
export {
  type Action,
  cancelEventTimeout,
  cancelGenericTimeout,
  type CancelTimeoutAction,
  cancelStateTimeout,
  type EnterAction,
  eventTimeout,
  genericTimeout,
  type InitAction,
  nextEvent,
  type NextEventAction,
  postpone,
  type PostponeAction,
  reply,
  type ReplyAction,
  type StartTimeoutAction,
  stateTimeout,
  type TimeoutAction,
  type TimeoutType,
  updateEventTimeout,
  updateGenericTimeout,
  updateStateTimeout,
  type UpdateTimeoutAction,
} from './actions.ts';
export {
  type EscalationMessage,
  type ExitMessage,
  FSM_CHANNELS,
  type RestartMessage,
  type StateChangeMessage,
  type TimeoutMessage,
} from './channels.ts';
export type { Child, JsonValue, StopOptions } from './child.ts';
export {
  type AutoShutdown,
  type ChildSpec,
  type ChildType,
  DEFAULT_WORKER_SHUTDOWN_MS,
  type RestartType,
  type Shutdown,
  shouldRestart,
} from './child-spec.ts';
export { type Clock, type ClockTimer, defaultClock, RealClock, type RealClockOptions, SimulatedClock } from './clock.ts';
export {
  type ChildTemplate,
  type DynamicChildInfo,
  type DynamicSupervisorOptions,
  type DynamicSupervisorRef,
  startDynamicSupervisor,
} from './dynamic-supervisor.ts';
export * from './errors.ts';
export type {
  CallEvent,
  CastEvent,
  EventTimeoutEvent,
  From,
  GenericTimeoutEvent,
  InfoEvent,
  InternalEvent,
  MachineEvent,
  MachineEventType,
  StateTimeoutEvent,
} from './events.ts';
export { describeExit, type ExitReason, isCleanExit } from './exit-reason.ts';
export { startMachine, startMachineSync } from './machine.ts';
export type { CallOptions, MachineRef, StartMachineOptions } from './machine-ref.ts';
export { RestartIntensity } from './restart-intensity.ts';
export {
  type EnterResult,
  keep,
  type KeepResult,
  next,
  type NextResult,
  repeat,
  type RepeatResult,
  type Result,
  stop,
  type StopResult,
} from './results.ts';
export {
  type HandleEventSpec,
  type InitResult,
  type MachineSpec,
  type MachineStatus,
  type StateFunctionsSpec,
  type StateHandler,
  type TimerStatus,
} from './spec.ts';
export {
  type ChildInfo,
  type ChildNode,
  type ChildStatus,
  startSupervisor,
  type SupervisorOptions,
  type SupervisorRef,
  type SupervisorStatus,
  type SupervisorTree,
} from './supervisor.ts';
export { DEFAULT_INTENSITY, DEFAULT_PERIOD_MS, type Strategy, type SupervisorFlags } from './supervisor-flags.ts';
