/**
 * A dynamic supervisor (OTP `simple_one_for_one`, Elixir `DynamicSupervisor`): every child comes
 * from one template and is started on demand with its own args — one machine per connection, SIP
 * transaction or dialog (SPEC B.6). Failed children are restarted one for one with the same args,
 * within the restart intensity; on shutdown all children are stopped in parallel.
 *
 * @module
 */
import { withDeadline } from './deadline.ts';
import { supEscalationChannel, supRestartChannel } from './channels.ts';
import { type Child, type JsonValue, type StopOptions, watchExit } from './child.ts';
import {
  type ChildType,
  checkPolicy,
  exitOf,
  isChild,
  killQuietly,
  type RestartType,
  resolvePolicy,
  type Shutdown,
  shouldRestart,
  shutdownChild,
} from './child-spec.ts';
import { type Clock, defaultClock } from './clock.ts';
import { ChildStartError, InvalidChildSpecError, InvalidFlagsError, MaxIntensityError, StopTimeoutError, SupervisorNotRunningError } from './errors.ts';
import { describeExit, type ExitReason } from './exit-reason.ts';
import { nextProcessId } from './process-id.ts';
import { RestartIntensity } from './restart-intensity.ts';
import type { ChildStatus, SupervisorStatus, SupervisorTree } from './supervisor.ts';
import { checkIntensity, DEFAULT_INTENSITY, DEFAULT_PERIOD_MS } from './supervisor-flags.ts';

/** How to start (and restart, and stop) each child of a dynamic supervisor. */
export interface ChildTemplate<A, C extends Child> {
  /** Starts one child from its args. Rejecting is a failed start. */
  start(args: A): Promise<C>;
  /**
   * Starts one child from its args and returns it running (throwing is a failed start), for
   * {@link DynamicSupervisorRef.startChildSync}: children started at a high rate (a SIP transaction
   * per request) skip the promises of an asynchronous start. Restarts still use `start`.
   */
  startSync?(args: A): C;
  /** Default `permanent`; per-connection machines are usually `temporary`. */
  readonly restart?: RestartType;
  /** Default 5000 (ms) for workers, `infinity` for supervisors. */
  readonly shutdown?: Shutdown;
  /** Default `worker`. */
  readonly type?: ChildType;
}

/** Options of {@link startDynamicSupervisor}. */
export interface DynamicSupervisorOptions {
  /** Shown in `tree()` and diagnostics messages. Default `dynamic-supervisor`. */
  readonly name?: string;
  /** Maximum restarts within `periodMs`; one more escalates. Default 1. */
  readonly intensity?: number;
  /** Default 5000 ms. */
  readonly periodMs?: number;
  /** Default: the shared real clock. */
  readonly clock?: Clock;
}

/** A child of a dynamic supervisor, for `whichChildren()`. */
export type DynamicChildInfo = {
  /** Sequence number given at `startChild`, kept across restarts. */
  readonly id: string;
  readonly type: ChildType;
  readonly restart: RestartType;
  readonly status: ChildStatus;
  readonly restarts: number;
};

/** A handle on a dynamic supervisor. Satisfies {@link Child}. */
export interface DynamicSupervisorRef<A, C extends Child> extends Child {
  readonly id: number;
  readonly name: string;
  /**
   * Starts a child from the template with `args`.
   * @throws {ChildStartError} {SupervisorNotRunningError}
   */
  startChild(args: A): Promise<C>;
  /**
   * Starts a child with the template's `startSync`, returning it running: OTP's `start_child`, which
   * returns once the child's init has. The child is supervised exactly as with {@link startChild}.
   * @throws {ChildStartError} when the template has no `startSync`, it throws, or it returns no child.
   * @throws {SupervisorNotRunningError}
   */
  startChildSync(args: A): C;
  /** Stops a child by the template's shutdown policy and forgets it. Resolves false if not a current child. */
  terminateChild(child: C): Promise<boolean>;
  /** Number of children (running or restarting). */
  countChildren(): number;
  whichChildren(): DynamicChildInfo[];
  tree(): SupervisorTree;
  describe(): JsonValue;
  /**
   * Stops every child in parallel, then exits with `reason` (default `shutdown`). Also waits for
   * children that `terminateChild` is still stopping and for starts in progress (killed as they start).
   */
  stop(reason?: ExitReason, options?: StopOptions): Promise<void>;
  /** Kills every child at once (those being terminated too) and exits with `killed`. */
  kill(): void;
  readonly exited: Promise<ExitReason>;
}

class DynamicRecord<A, C extends Child> {
  readonly id: string;
  readonly args: A;
  handle: C | null = null;
  status: ChildStatus = 'restarting';
  restarts = 0;
  constructor(id: string, args: A) {
    this.id = id;
    this.args = args;
  }
}

function noop(): void {}

/**
 * Starts a dynamic supervisor with no children.
 * @throws {InvalidChildSpecError} for a bad template; {InvalidFlagsError} for bad intensity/period.
 */
export async function startDynamicSupervisor<A, C extends Child>(
  template: ChildTemplate<A, C>,
  options: DynamicSupervisorOptions = {},
): Promise<DynamicSupervisorRef<A, C>> {
  if (typeof template !== 'object' || template === null || typeof template.start !== 'function') {
    throw new InvalidChildSpecError('A child template needs a start(args) function', { details: [{ path: 'template.start', message: 'must be a function' }] });
  }
  const problems = checkPolicy(template as unknown as Record<string, unknown>, 'never', 'template');
  if (problems.length > 0) {
    throw new InvalidChildSpecError(`Invalid child template: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { details: problems });
  }
  const flagProblems = checkIntensity(options);
  if (flagProblems.length > 0) {
    throw new InvalidFlagsError(`Invalid dynamic supervisor options: ${flagProblems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { details: flagProblems });
  }
  return new DynamicSupervisor(template, options);
}

class DynamicSupervisor<A, C extends Child> implements DynamicSupervisorRef<A, C> {
  readonly id = nextProcessId();
  readonly name: string;
  readonly #start: (args: A) => Promise<C>;
  readonly #startSync: ((args: A) => C) | undefined;
  readonly #policy: { restart: RestartType; shutdown: Shutdown; type: ChildType };
  readonly #clock: Clock;
  readonly #intensity: RestartIntensity;
  readonly #children = new Set<DynamicRecord<A, C>>();
  /**
   * The children by their current handle, for an O(1) `terminateChild`: holds `handle → record`
   * exactly while `record` is in `#children` and `record.handle === handle` — set where a start
   * assigns the handle, deleted wherever the handle is cleared.
   */
  readonly #byHandle = new Map<C, DynamicRecord<A, C>>();
  /** Children being stopped by `terminateChild` (already forgotten): shutdown waits for them, kill kills them. */
  readonly #stopping = new Set<C>();
  /** Starts and restarts in progress: shutdown waits for them (a start that resolves late is killed and awaited). */
  readonly #starting = new Set<Promise<unknown>>();
  #nextChild = 1;
  /** Watches every child's exit (one object for all: no closure per child). */
  readonly #watcher = {
    onChildExit: (reason: ExitReason, child: Child): void => {
      // `#byHandle` holds exactly the current handles: a child forgotten (terminateChild, shutdown)
      // or replaced is not handled here, as `#childExited` would ignore it.
      const record = this.#byHandle.get(child as C);
      if (record === undefined) return;
      queueMicrotask(() => {
        this.#childExited(record, child as C, reason).catch((error: unknown) => this.#crash(error));
      });
    },
  };
  #status: SupervisorStatus = 'running';
  readonly #exited = Promise.withResolvers<ExitReason>();

  constructor(template: ChildTemplate<A, C>, options: DynamicSupervisorOptions) {
    this.name = options.name ?? 'dynamic-supervisor';
    this.#start = (args) => template.start(args);
    this.#startSync = template.startSync === undefined ? undefined : (args) => template.startSync!(args);
    this.#policy = resolvePolicy(template);
    this.#clock = options.clock ?? defaultClock;
    this.#intensity = new RestartIntensity(options.intensity ?? DEFAULT_INTENSITY, options.periodMs ?? DEFAULT_PERIOD_MS);
  }

  get exited(): Promise<ExitReason> {
    return this.#exited.promise;
  }

  async startChild(args: A): Promise<C> {
    if (this.#status !== 'running') throw new SupervisorNotRunningError(`Supervisor "${this.name}" is ${this.#status}`);
    const record = new DynamicRecord<A, C>(String(this.#nextChild++), args);
    return this.#startRecord(record);
  }

  startChildSync(args: A): C {
    if (this.#status !== 'running') throw new SupervisorNotRunningError(`Supervisor "${this.name}" is ${this.#status}`);
    const startSync = this.#startSync;
    if (startSync === undefined) throw new ChildStartError(`Supervisor "${this.name}": the child template has no startSync(args)`);
    const record = new DynamicRecord<A, C>(String(this.#nextChild++), args);
    let handle: unknown;
    try {
      handle = startSync(args);
    } catch (error) {
      throw new ChildStartError(`A child of supervisor "${this.name}" failed to start: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (!isChild(handle)) throw new ChildStartError(`Supervisor "${this.name}": startSync(args) must return a child ({ exited, stop, kill })`);
    this.#adopt(record, handle as C);
    return handle as C;
  }

  async terminateChild(child: C): Promise<boolean> {
    const record = this.#byHandle.get(child);
    if (record === undefined) return false;
    this.#byHandle.delete(child);
    this.#children.delete(record);
    record.handle = null;
    record.status = 'stopped';
    this.#stopping.add(child);
    try {
      await shutdownChild(child, this.#policy.shutdown, this.#clock);
    } finally {
      this.#stopping.delete(child);
    }
    return true;
  }

  countChildren(): number {
    return this.#children.size;
  }

  whichChildren(): DynamicChildInfo[] {
    return [...this.#children].map((r) => this.#info(r));
  }

  tree(): SupervisorTree {
    return {
      name: this.name,
      id: this.id,
      type: 'supervisor',
      strategy: 'dynamic',
      status: this.#status,
      intensity: this.#intensity.intensity,
      periodMs: this.#intensity.periodMs,
      recentRestarts: this.#intensity.count(this.#clock.now()),
      children: [...this.#children].map((r) => ({ ...this.#info(r), detail: r.handle?.describe?.() ?? null })),
    };
  }

  describe(): JsonValue {
    return this.tree();
  }

  stop(reason: ExitReason = 'shutdown', options: StopOptions = {}): Promise<void> {
    this.#shutdown(reason).catch((error: unknown) => this.#crash(error));
    return withDeadline(this.exited, this.#clock, options.timeoutMs, () => new StopTimeoutError(`Supervisor "${this.name}" did not stop within ${options.timeoutMs} ms`));
  }

  kill(): void {
    this.#killAll('killed');
  }

  /** A failed internal operation (a bug, or a broken custom child): kill everything, exit `{ error }`. */
  #crash(error: unknown): void {
    this.#killAll({ error });
  }

  #killAll(reason: ExitReason): void {
    if (this.#status === 'exited') return;
    const records = [...this.#children];
    this.#children.clear();
    this.#byHandle.clear();
    for (const record of records) {
      const handle = record.handle;
      record.handle = null;
      record.status = 'stopped';
      if (handle !== null) killQuietly(handle);
    }
    for (const handle of this.#stopping) killQuietly(handle);
    this.#stopping.clear();
    this.#status = 'exited';
    this.#exited.resolve(reason);
  }

  /**
   * Starts (or restarts) `record`'s child. In the same step as the start resolves, the record is
   * added to the children and only then is the child monitored: a child that has already exited is
   * handled as an exit of a known child, never before its record exists. Shutdown waits for a start
   * in progress; one that resolves after shutdown began is killed and awaited.
   */
  #startRecord(record: DynamicRecord<A, C>): Promise<C> {
    const starting = this.#launch(record);
    const tracked = starting.then(noop, noop);
    this.#starting.add(tracked);
    void tracked.then(() => this.#starting.delete(tracked));
    return starting;
  }

  async #launch(record: DynamicRecord<A, C>): Promise<C> {
    let handle: unknown;
    try {
      handle = await this.#start(record.args);
    } catch (error) {
      throw new ChildStartError(`A child of supervisor "${this.name}" failed to start: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (!isChild(handle)) throw new ChildStartError(`Supervisor "${this.name}": start(args) must resolve with a child ({ exited, stop, kill })`);
    if (this.#status !== 'running') {
      killQuietly(handle);
      if (this.#status === 'stopping') await exitOf(handle); // shutdown waits for this
      throw new SupervisorNotRunningError(`Supervisor "${this.name}" stopped while a child was starting`);
    }
    const child = handle as C;
    this.#adopt(record, child);
    return child;
  }

  /** A started child joins the children and is watched. */
  #adopt(record: DynamicRecord<A, C>, child: C): void {
    record.handle = child;
    record.status = 'running';
    this.#children.add(record);
    this.#byHandle.set(child, record);
    // Watched without a promise per child (machines): the reaction runs from a microtask, as it did
    // when it hung off `exited`.
    watchExit(child, this.#watcher);
  }

  async #childExited(record: DynamicRecord<A, C>, handle: C, reason: ExitReason): Promise<void> {
    if (this.#status !== 'running' || record.handle !== handle) return;
    this.#byHandle.delete(handle);
    record.handle = null;
    record.status = 'stopped';
    if (!shouldRestart(this.#policy.restart, reason)) {
      this.#children.delete(record);
      return;
    }
    for (;;) {
      if (!this.#intensity.add(this.#clock.now())) {
        const { intensity, periodMs } = this.#intensity;
        if (supEscalationChannel.hasSubscribers) {
          supEscalationChannel.publish({ name: this.name, id: this.id, childId: record.id, restarts: intensity + 1, intensity, periodMs });
        }
        const error = new MaxIntensityError(`Supervisor "${this.name}": more than ${intensity} restart(s) in ${periodMs} ms (${describeExit(reason)})`, { cause: reason });
        await this.#shutdown({ shutdown: error });
        return;
      }
      if (supRestartChannel.hasSubscribers) supRestartChannel.publish({ name: this.name, id: this.id, childId: record.id, reason });
      record.status = 'restarting';
      try {
        await this.#startRecord(record);
        record.restarts++;
        return;
      } catch (error) {
        if (this.#status !== 'running' || !this.#children.has(record)) return;
        reason = { error }; // OTP try_again: a failed restart counts as another restart
      }
    }
  }

  /** Stops every child in parallel (SPEC B.6), then exits. */
  async #shutdown(reason: ExitReason): Promise<void> {
    if (this.#status !== 'running') return;
    this.#status = 'stopping';
    const records = [...this.#children];
    this.#byHandle.clear();
    await Promise.all([
      ...records.map((record) => {
        const handle = record.handle;
        record.handle = null;
        record.status = 'stopped';
        return handle === null ? undefined : shutdownChild(handle, this.#policy.shutdown, this.#clock);
      }),
      // children being terminated by terminateChild, and starts in progress (killed when they resolve)
      ...[...this.#stopping].map((child) => exitOf(child)),
      ...this.#starting,
    ]);
    if (this.#status !== 'stopping') return; // killed meanwhile: already exited
    this.#children.clear();
    this.#status = 'exited';
    this.#exited.resolve(reason);
  }

  #info(record: DynamicRecord<A, C>): DynamicChildInfo {
    return { id: record.id, type: this.#policy.type, restart: this.#policy.restart, status: record.status, restarts: record.restarts };
  }
}
