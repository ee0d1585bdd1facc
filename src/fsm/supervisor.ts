/**
 * An OTP-style static supervisor: starts children in order, stops them in reverse, restarts them
 * by strategy and restart type, gives up (escalates) beyond its restart intensity.
 *
 * Operations — child exits, restarts, startChild, terminateChild, restartChild, deleteChild, stop —
 * run one at a time, in arrival order, like the messages of an OTP supervisor process.
 *
 * @module
 */
import { withDeadline } from './deadline.ts';
import { supEscalationChannel, supRestartChannel } from './channels.ts';
import type { Child, JsonValue, StopOptions } from './child.ts';
import {
  type ChildSpec,
  type ChildType,
  exitOf,
  isChild,
  killQuietly,
  type ResolvedChildSpec,
  type RestartType,
  resolveChildSpec,
  resolveChildSpecs,
  shouldRestart,
  shutdownChild,
} from './child-spec.ts';
import { type Clock, defaultClock } from './clock.ts';
import {
  ChildRunningError,
  ChildStartError,
  DuplicateChildError,
  MaxIntensityError,
  NoChildError,
  StopTimeoutError,
  SupervisorNotRunningError,
} from './errors.ts';
import { describeExit, type ExitReason } from './exit-reason.ts';
import { nextProcessId } from './process-id.ts';
import { RestartIntensity } from './restart-intensity.ts';
import { type ResolvedFlags, resolveFlags, type Strategy, type SupervisorFlags } from './supervisor-flags.ts';

/** Options of {@link startSupervisor}. */
export interface SupervisorOptions {
  /** Shown in `tree()` and diagnostics messages. Default `supervisor`. */
  readonly name?: string;
  /** Time source for restart intensity and shutdown deadlines. Default: the shared real clock. */
  readonly clock?: Clock;
}

/** Lifecycle of a child as seen by its supervisor. */
export type ChildStatus = 'running' | 'restarting' | 'stopped';

/** One child, as listed by `whichChildren()` (OTP `which_children/1`). */
export type ChildInfo = {
  readonly id: string;
  readonly type: ChildType;
  readonly restart: RestartType;
  readonly status: ChildStatus;
  /** Times this child was restarted by the supervisor. */
  readonly restarts: number;
};

/** One child in `tree()`: its info and its own `describe()` (a nested supervisor's subtree). */
export type ChildNode = ChildInfo & { readonly detail: JsonValue };

/** Lifecycle of a supervisor. */
export type SupervisorStatus = 'starting' | 'running' | 'stopping' | 'exited';

/** The JSON-able supervision tree, for the admin API. */
export type SupervisorTree = {
  readonly name: string;
  readonly id: number;
  readonly type: 'supervisor';
  readonly strategy: Strategy | 'dynamic';
  readonly status: SupervisorStatus;
  readonly intensity: number;
  readonly periodMs: number;
  /** Restarts within the current intensity window. */
  readonly recentRestarts: number;
  readonly children: readonly ChildNode[];
};

/** A handle on a supervisor. Satisfies {@link Child}, so supervisors nest. */
export interface SupervisorRef extends Child {
  readonly id: number;
  readonly name: string;
  /**
   * Validates, starts and adds a child at the end (OTP `supervisor:start_child/2`).
   * @throws {InvalidChildSpecError} {DuplicateChildError} {ChildStartError} {SupervisorNotRunningError}
   */
  startChild<C extends Child>(spec: ChildSpec<C>): Promise<C>;
  /**
   * Stops a child by its shutdown policy and keeps its spec (a temporary child's spec is deleted).
   * OTP `supervisor:terminate_child/2`.
   * @throws {NoChildError} {SupervisorNotRunningError}
   */
  terminateChild(id: string): Promise<void>;
  /**
   * Starts a stopped child again from its spec. OTP `supervisor:restart_child/2`.
   * @throws {NoChildError} {ChildRunningError} {ChildStartError} {SupervisorNotRunningError}
   */
  restartChild(id: string): Promise<Child>;
  /**
   * Removes a stopped child's spec. OTP `supervisor:delete_child/2`.
   * @throws {NoChildError} {ChildRunningError} {SupervisorNotRunningError}
   */
  deleteChild(id: string): Promise<void>;
  /** The children in start order. OTP `supervisor:which_children/1`. */
  whichChildren(): ChildInfo[];
  /** This supervisor and its children, nested supervisors included, as JSON. */
  tree(): SupervisorTree;
  /** Same as `tree()`. */
  describe(): JsonValue;
  /** Stops the children in reverse order, each by its shutdown policy, then exits with `reason` (default `shutdown`). */
  stop(reason?: ExitReason, options?: StopOptions): Promise<void>;
  /** Kills every child at once (one being stopped gracefully too) and exits with `killed`. */
  kill(): void;
  readonly exited: Promise<ExitReason>;
}

class ChildRecord {
  readonly spec: ResolvedChildSpec;
  handle: Child | null = null;
  status: ChildStatus = 'stopped';
  restarts = 0;
  constructor(spec: ResolvedChildSpec) {
    this.spec = spec;
  }
}

function noop(): void {}

/**
 * Starts a supervisor: validates the flags and every child spec first (SPEC B.8), then starts the
 * children in list order (SPEC B.1). OTP `supervisor:start_link/2` with `init/1` returning
 * `{SupFlags, ChildSpecs}`.
 *
 * @throws {InvalidFlagsError} {InvalidChildSpecError} {DuplicateChildError} (rejects) before anything starts.
 * @throws {ChildStartError} (rejects) if a child fails to start; the children already started are
 *   stopped in reverse order first. `cause` is the child's error.
 */
export async function startSupervisor(flags: SupervisorFlags, childSpecs: readonly ChildSpec[], options: SupervisorOptions = {}): Promise<SupervisorRef> {
  const resolvedFlags = resolveFlags(flags);
  const specs = resolveChildSpecs(childSpecs, resolvedFlags.autoShutdown);
  const supervisor = new Supervisor(resolvedFlags, options);
  await supervisor.startChildren(specs);
  return supervisor;
}

class Supervisor implements SupervisorRef {
  readonly id = nextProcessId();
  readonly name: string;
  readonly #flags: ResolvedFlags;
  readonly #clock: Clock;
  readonly #intensity: RestartIntensity;
  /**
   * The children by id, in start order: a Map iterates in insertion order and children are only
   * ever added at the end (initial start, startChild; one deleted and started again goes to the end,
   * as in OTP), so the Map is both the ordered child list — one_for_all, rest_for_one and
   * reverse-order stop depend on it — and an O(1) index by id for startChild's duplicate check,
   * terminateChild, restartChild and deleteChild.
   */
  readonly #children = new Map<string, ChildRecord>();
  /** Children being stopped by their shutdown policy (their record no longer holds them): `kill()` kills them too. */
  readonly #stopping = new Set<Child>();
  #ops: Promise<void> = Promise.resolve();
  #status: SupervisorStatus = 'starting';
  readonly #exited = Promise.withResolvers<ExitReason>();

  constructor(flags: ResolvedFlags, options: SupervisorOptions) {
    this.name = options.name ?? 'supervisor';
    this.#flags = flags;
    this.#clock = options.clock ?? defaultClock;
    this.#intensity = new RestartIntensity(flags.intensity, flags.periodMs);
  }

  get exited(): Promise<ExitReason> {
    return this.#exited.promise;
  }

  /** Initial start: in order; on failure stop the started ones in reverse and fail (SPEC B.1). */
  startChildren(specs: readonly ResolvedChildSpec[]): Promise<void> {
    return this.#enqueue(async () => {
      for (const spec of specs) {
        const record = new ChildRecord(spec);
        try {
          await this.#startRecord(record);
        } catch (error) {
          await this.#shutdown('shutdown');
          throw error;
        }
        this.#children.set(spec.id, record);
      }
      if (this.#status === 'starting') this.#status = 'running';
    });
  }

  startChild<C extends Child>(spec: ChildSpec<C>): Promise<C> {
    return this.#enqueue(async () => {
      this.#assertRunning();
      const resolved = resolveChildSpec(spec, this.#flags.autoShutdown);
      if (this.#children.has(resolved.id)) throw new DuplicateChildError(`Supervisor "${this.name}" already has a child "${resolved.id}"`);
      const record = new ChildRecord(resolved);
      const handle = await this.#startRecord(record);
      this.#children.set(resolved.id, record);
      return handle as C;
    });
  }

  terminateChild(id: string): Promise<void> {
    return this.#enqueue(async () => {
      this.#assertRunning();
      const record = this.#get(id);
      await this.#terminate(record);
      if (record.spec.restart === 'temporary') this.#remove(record);
    });
  }

  restartChild(id: string): Promise<Child> {
    return this.#enqueue(async () => {
      this.#assertRunning();
      const record = this.#get(id);
      if (record.status !== 'stopped') throw new ChildRunningError(`Child "${id}" of supervisor "${this.name}" is ${record.status}`);
      return this.#startRecord(record);
    });
  }

  deleteChild(id: string): Promise<void> {
    return this.#enqueue(async () => {
      this.#assertRunning();
      const record = this.#get(id);
      if (record.status !== 'stopped') throw new ChildRunningError(`Child "${id}" of supervisor "${this.name}" is ${record.status}`);
      this.#remove(record);
    });
  }

  whichChildren(): ChildInfo[] {
    return Array.from(this.#children.values(), info);
  }

  tree(): SupervisorTree {
    return {
      name: this.name,
      id: this.id,
      type: 'supervisor',
      strategy: this.#flags.strategy,
      status: this.#status,
      intensity: this.#flags.intensity,
      periodMs: this.#flags.periodMs,
      recentRestarts: this.#intensity.count(this.#clock.now()),
      children: Array.from(this.#children.values(), (c) => ({ ...info(c), detail: c.handle?.describe?.() ?? null })),
    };
  }

  describe(): JsonValue {
    return this.tree();
  }

  stop(reason: ExitReason = 'shutdown', options: StopOptions = {}): Promise<void> {
    if (this.#status !== 'exited') {
      this.#background(async () => {
        if (this.#status === 'starting' || this.#status === 'running') await this.#shutdown(reason);
      });
    }
    return withDeadline(this.exited, this.#clock, options.timeoutMs, () => new StopTimeoutError(`Supervisor "${this.name}" did not stop within ${options.timeoutMs} ms`));
  }

  kill(): void {
    this.#killAll('killed');
  }

  // ---- Internals -----------------------------------------------------------------------------

  /** Runs `op` after every operation queued before it. */
  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#ops.then(op);
    this.#ops = run.then(noop, noop);
    return run;
  }

  /** Enqueues an operation nobody awaits; if it fails (a bug), the supervisor crashes, loudly. */
  #background(op: () => Promise<void>): void {
    this.#enqueue(op).catch((error: unknown) => this.#crash(error));
  }

  /** Kills every child and exits with `{ error }`. */
  #crash(error: unknown): void {
    this.#killAll({ error });
  }

  /**
   * Kills every child — running ones in reverse start order, then any being stopped gracefully —
   * and exits with `reason`. A child whose `kill()` throws does not keep the others alive.
   */
  #killAll(reason: ExitReason): void {
    if (this.#status === 'exited') return;
    for (const record of [...this.#children.values()].reverse()) {
      const handle = record.handle;
      record.handle = null;
      record.status = 'stopped';
      if (handle !== null) killQuietly(handle);
    }
    for (const handle of this.#stopping) killQuietly(handle);
    this.#stopping.clear();
    this.#exit(reason);
  }

  #assertRunning(): void {
    if (this.#status !== 'running') throw new SupervisorNotRunningError(`Supervisor "${this.name}" is ${this.#status}`);
  }

  #get(id: string): ChildRecord {
    const record = this.#children.get(id);
    if (record === undefined) throw new NoChildError(`Supervisor "${this.name}" has no child "${id}"`);
    return record;
  }

  /** Forgets `record` if it is still a child (not one replaced since under the same id). */
  #remove(record: ChildRecord): void {
    if (this.#isChild(record)) this.#children.delete(record.spec.id);
  }

  #isChild(record: ChildRecord): boolean {
    return this.#children.get(record.spec.id) === record;
  }

  /** Starts one child and monitors it. @throws {ChildStartError} */
  async #startRecord(record: ChildRecord): Promise<Child> {
    const id = record.spec.id;
    let handle: unknown;
    try {
      handle = await record.spec.start();
    } catch (error) {
      throw new ChildStartError(`Child "${id}" of supervisor "${this.name}" failed to start: ${describeError(error)}`, { cause: error });
    }
    if (!isChild(handle)) {
      throw new ChildStartError(`Child "${id}" of supervisor "${this.name}": start() must resolve with a child ({ exited, stop, kill })`);
    }
    if (this.#status === 'exited') {
      killQuietly(handle); // killed while the child was starting
      throw new SupervisorNotRunningError(`Supervisor "${this.name}" was killed while child "${id}" was starting`);
    }
    record.handle = handle;
    record.status = 'running';
    void exitOf(handle).then((reason) => {
      if (record.handle === handle) this.#background(() => this.#childExited(record, handle, reason));
    });
    return handle;
  }

  /** Stops one child by its shutdown policy; its exit is not treated as a failure. */
  async #terminate(record: ChildRecord): Promise<void> {
    const handle = record.handle;
    record.handle = null;
    record.status = 'stopped';
    if (handle === null) return;
    this.#stopping.add(handle);
    try {
      await shutdownChild(handle, record.spec.shutdown, this.#clock);
    } finally {
      this.#stopping.delete(handle);
    }
  }

  /** Stops `records` one by one, in the order given. */
  async #terminateAll(records: readonly ChildRecord[]): Promise<void> {
    for (const record of records) await this.#terminate(record);
  }

  /** A child exited on its own: restart it by strategy and restart type, or not (SPEC B.2, B.3, B.9). */
  async #childExited(record: ChildRecord, handle: Child, reason: ExitReason): Promise<void> {
    if (this.#status !== 'running' || record.handle !== handle) return;
    record.handle = null;
    record.status = 'stopped';
    if (shouldRestart(record.spec.restart, reason)) {
      await this.#restart(record, reason);
      return;
    }
    if (record.spec.restart === 'temporary') this.#remove(record);
    if (record.spec.significant && this.#autoShutdownDue()) await this.#shutdown('shutdown');
  }

  #autoShutdownDue(): boolean {
    const mode = this.#flags.autoShutdown;
    if (mode === 'any_significant') return true;
    if (mode === 'all_significant') {
      for (const c of this.#children.values()) if (c.spec.significant && c.status !== 'stopped') return false;
      return true;
    }
    return false;
  }

  /** Restarts after `record` failed, counting intensity (SPEC B.4); escalates beyond it. */
  async #restart(record: ChildRecord, reason: ExitReason): Promise<void> {
    if (!this.#intensity.add(this.#clock.now())) {
      const { intensity, periodMs } = this.#flags;
      if (supEscalationChannel.hasSubscribers) {
        supEscalationChannel.publish({ name: this.name, id: this.id, childId: record.spec.id, restarts: intensity + 1, intensity, periodMs });
      }
      const error = new MaxIntensityError(
        `Supervisor "${this.name}": more than ${intensity} restart(s) in ${periodMs} ms (last: child "${record.spec.id}", ${describeExit(reason)})`,
        { cause: reason },
      );
      await this.#shutdown({ shutdown: error });
      return;
    }
    if (supRestartChannel.hasSubscribers) supRestartChannel.publish({ name: this.name, id: this.id, childId: record.spec.id, reason });

    let toStart: ChildRecord[];
    const strategy = this.#flags.strategy;
    if (strategy === 'one_for_one') {
      toStart = [record];
    } else {
      const children = [...this.#children.values()];
      const affected = strategy === 'one_for_all' ? children : children.slice(children.indexOf(record));
      await this.#terminateAll(affected.filter((c) => c !== record).reverse());
      for (const c of affected) if (c !== record && c.spec.restart === 'temporary') this.#remove(c);
      toStart = affected.filter((c) => c === record || c.spec.restart !== 'temporary');
    }
    for (const c of toStart) c.status = 'restarting';
    for (const [i, c] of toStart.entries()) {
      if (this.#status !== 'running') return;
      try {
        await this.#startRecord(c);
        c.restarts++;
      } catch (error) {
        // OTP try_again: the failed start counts as another restart of this child. The siblings
        // not started yet are stopped (OTP: pid undefined); the retry's strategy starts them
        // again, and if the retry is dropped (the child was terminated meanwhile) they stay
        // stopped, where restartChild can start them — never stuck in `restarting`.
        for (const sibling of toStart.slice(i + 1)) sibling.status = 'stopped';
        c.status = 'restarting';
        this.#background(async () => {
          if (this.#status === 'running' && c.status === 'restarting' && this.#isChild(c)) await this.#restart(c, { error });
        });
        return;
      }
    }
  }

  /** Stops every child in reverse start order, then exits with `reason`. */
  async #shutdown(reason: ExitReason): Promise<void> {
    if (this.#status === 'exited' || this.#status === 'stopping') return;
    this.#status = 'stopping';
    await this.#terminateAll([...this.#children.values()].reverse());
    this.#exit(reason);
  }

  #exit(reason: ExitReason): void {
    this.#status = 'exited';
    this.#exited.resolve(reason);
  }
}

function info(record: ChildRecord): ChildInfo {
  return { id: record.spec.id, type: record.spec.type, restart: record.spec.restart, status: record.status, restarts: record.restarts };
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
