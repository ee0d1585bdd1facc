/**
 * Typed errors of the state machine engine and the supervisors.
 *
 * Every error carries a stable `code` (`TANDEM_ERR_FSM_*`, `TANDEM_ERR_SUP_*`), a human `message`,
 * a `status` (500: all of these are server-side conditions) and `details` (an array of
 * `{ path, message }`-like entries, empty by default), and chains the underlying error as `cause`.
 * {@link FSM_ERROR_CODES} is the registry table that the project's global error registry merges.
 *
 * @module
 */

/** One entry of an error's `details` array: where (`path`) and what (`message`). */
export interface ErrorDetail {
  readonly path: string;
  readonly message: string;
}

/** The registry table: code → HTTP status, default message and a description for the docs. */
export const FSM_ERROR_CODES = {
  TANDEM_ERR_FSM_INVALID_SPEC: {
    status: 500,
    message: 'Invalid state machine spec',
    description: 'A machine spec given to startMachine is malformed (missing name or init, both or neither of states/handleEvent, a callback that is not a function). Nothing was started.',
  },
  TANDEM_ERR_FSM_INVALID_RESULT: {
    status: 500,
    message: 'Invalid state callback result',
    description: 'A state callback, enter call or init returned something that is not a valid result (unknown result or action, an enter call changing state, postponing or inserting events, a state with no handler). The machine stops with this error as its reason.',
  },
  TANDEM_ERR_FSM_CALL_TIMEOUT: {
    status: 500,
    message: 'State machine call timed out',
    description: 'A call() got no reply within its timeoutMs. A reply sent later is dropped.',
  },
  TANDEM_ERR_FSM_STOP_TIMEOUT: {
    status: 500,
    message: 'State machine did not stop in time',
    description: 'stop() did not see the machine terminate within its timeoutMs.',
  },
  TANDEM_ERR_FSM_NOT_RUNNING: {
    status: 500,
    message: 'State machine is not running',
    description: 'A call was made to a machine that has stopped, or the machine stopped before replying. The exit reason is the cause.',
  },
  TANDEM_ERR_SUP_INVALID_FLAGS: {
    status: 500,
    message: 'Invalid supervisor flags',
    description: 'Supervisor flags (strategy, intensity, periodMs, autoShutdown) are out of range or of the wrong type.',
  },
  TANDEM_ERR_SUP_INVALID_CHILD_SPEC: {
    status: 500,
    message: 'Invalid child spec',
    description: 'A child spec is malformed or is a bad combination (a significant permanent child, a significant child under autoShutdown "never"). Specs are validated before any child starts.',
  },
  TANDEM_ERR_SUP_DUPLICATE_CHILD: {
    status: 500,
    message: 'Duplicate child id',
    description: 'Two child specs share an id, or startChild was given an id the supervisor already has.',
  },
  TANDEM_ERR_SUP_CHILD_START: {
    status: 500,
    message: 'Child failed to start',
    description: 'A child start function threw or rejected. During supervisor start, the children already started are stopped in reverse order and the supervisor start fails with this error.',
  },
  TANDEM_ERR_SUP_MAX_INTENSITY: {
    status: 500,
    message: 'Supervisor reached maximum restart intensity',
    description: 'More restarts than intensity happened within periodMs. The supervisor stopped all children and exited with reason { shutdown: <this error> } (escalation to its parent).',
  },
  TANDEM_ERR_SUP_NO_CHILD: {
    status: 500,
    message: 'No such child',
    description: 'terminateChild, restartChild or deleteChild named a child id the supervisor does not have.',
  },
  TANDEM_ERR_SUP_CHILD_RUNNING: {
    status: 500,
    message: 'Child is running',
    description: 'restartChild or deleteChild was asked about a child that is running (terminate it first).',
  },
  TANDEM_ERR_SUP_NOT_RUNNING: {
    status: 500,
    message: 'Supervisor is not running',
    description: 'An operation was requested from a supervisor that has stopped or is shutting down.',
  },
} as const satisfies Record<string, { status: number; message: string; description: string }>;

/** Every error code of this module. */
export type FsmErrorCode = keyof typeof FSM_ERROR_CODES;

/** Options accepted by every error constructor. */
export interface FsmErrorOptions {
  /** The underlying error or exit reason. */
  readonly cause?: unknown;
  /** Structured problems, e.g. one per invalid field. Defaults to `[]`. */
  readonly details?: readonly ErrorDetail[];
}

/**
 * Base class of all errors thrown by `src/fsm`. Not thrown directly: use the subclasses.
 */
export abstract class FsmError extends Error {
  /** Stable machine-readable code, e.g. `TANDEM_ERR_FSM_CALL_TIMEOUT`. */
  readonly code: FsmErrorCode;
  /** HTTP status a client would see if this error surfaced (always 500 here). */
  readonly status: number;
  /** Structured problems; empty unless the error is about several fields. */
  readonly details: readonly ErrorDetail[];

  constructor(code: FsmErrorCode, message: string | undefined, options: FsmErrorOptions = {}) {
    super(message ?? FSM_ERROR_CODES[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = FSM_ERROR_CODES[code].status;
    this.details = options.details ?? [];
  }
}

/** `TANDEM_ERR_FSM_INVALID_SPEC`: a machine spec is malformed. `details` lists each problem. */
export class InvalidSpecError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_FSM_INVALID_SPEC', message, options);
  }
}

/** `TANDEM_ERR_FSM_INVALID_RESULT`: a callback returned an invalid result; the machine stops with it. */
export class InvalidResultError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_FSM_INVALID_RESULT', message, options);
  }
}

/** `TANDEM_ERR_FSM_CALL_TIMEOUT`: a `call()` got no reply within `timeoutMs`. */
export class CallTimeoutError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_FSM_CALL_TIMEOUT', message, options);
  }
}

/** `TANDEM_ERR_FSM_STOP_TIMEOUT`: `stop()` did not see the machine terminate within `timeoutMs`. */
export class StopTimeoutError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_FSM_STOP_TIMEOUT', message, options);
  }
}

/** `TANDEM_ERR_FSM_NOT_RUNNING`: the machine has stopped; `cause` is its exit reason. */
export class NotRunningError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_FSM_NOT_RUNNING', message, options);
  }
}

/** `TANDEM_ERR_SUP_INVALID_FLAGS`: supervisor flags are invalid. `details` lists each problem. */
export class InvalidFlagsError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_SUP_INVALID_FLAGS', message, options);
  }
}

/** `TANDEM_ERR_SUP_INVALID_CHILD_SPEC`: a child spec is malformed or a bad combination. */
export class InvalidChildSpecError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_SUP_INVALID_CHILD_SPEC', message, options);
  }
}

/** `TANDEM_ERR_SUP_DUPLICATE_CHILD`: a child id is used twice. */
export class DuplicateChildError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_SUP_DUPLICATE_CHILD', message, options);
  }
}

/** `TANDEM_ERR_SUP_CHILD_START`: a child's `start` threw or rejected; `cause` is that error. */
export class ChildStartError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_SUP_CHILD_START', message, options);
  }
}

/** `TANDEM_ERR_SUP_MAX_INTENSITY`: restart intensity exceeded; carried in the `{ shutdown }` exit reason. */
export class MaxIntensityError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_SUP_MAX_INTENSITY', message, options);
  }
}

/** `TANDEM_ERR_SUP_NO_CHILD`: no child with that id. */
export class NoChildError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_SUP_NO_CHILD', message, options);
  }
}

/** `TANDEM_ERR_SUP_CHILD_RUNNING`: the operation needs a stopped child. */
export class ChildRunningError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_SUP_CHILD_RUNNING', message, options);
  }
}

/** `TANDEM_ERR_SUP_NOT_RUNNING`: the supervisor has stopped or is shutting down. */
export class SupervisorNotRunningError extends FsmError {
  constructor(message?: string, options?: FsmErrorOptions) {
    super('TANDEM_ERR_SUP_NOT_RUNNING', message, options);
  }
}
