/**
 * Child specs (OTP `child_spec()`): what to start, when to restart it, how to shut it down. Specs
 * are validated before anything starts, with a specific error per problem (SPEC B.8).
 *
 * @module
 */
import { type Child, isExitWatchable } from './child.ts';
import type { Clock } from './clock.ts';
import { DuplicateChildError, type ErrorDetail, InvalidChildSpecError } from './errors.ts';
import { type ExitReason, isCleanExit } from './exit-reason.ts';

/**
 * When a child is restarted (SPEC B.3; OTP `restart()`):
 * - `permanent`: always;
 * - `transient`: only after an abnormal exit (not `normal`, `shutdown`, `{ shutdown }`);
 * - `temporary`: never, not even when a sibling's failure restarts the others.
 */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/**
 * How a child is stopped (SPEC B.5; OTP `shutdown()`): `brutal_kill` kills it at once; a number of
 * ms asks it to stop with reason `shutdown` and kills it if it has not exited by then (for a route,
 * its drain deadline); `infinity` asks and waits.
 */
export type Shutdown = 'brutal_kill' | number | 'infinity';

/** A worker, or a supervisor (which changes the default shutdown to `infinity`). */
export type ChildType = 'worker' | 'supervisor';

/** A child of a static supervisor. */
export interface ChildSpec<C extends Child = Child> {
  /** Unique among the supervisor's children. */
  readonly id: string;
  /** Starts the child. Rejecting (or throwing) is a failed start. */
  start(): Promise<C>;
  /** Default `permanent`. */
  readonly restart?: RestartType;
  /** Default 5000 (ms) for workers, `infinity` for supervisors. */
  readonly shutdown?: Shutdown;
  /** Default `worker`. */
  readonly type?: ChildType;
  /**
   * With `autoShutdown`, the exit of a significant child can stop the supervisor (SPEC B.9).
   * Only for `transient` and `temporary` children. Default false.
   */
  readonly significant?: boolean;
}

/** A child spec with every default filled in. */
export interface ResolvedChildSpec<C extends Child = Child> {
  readonly id: string;
  start(): Promise<C>;
  readonly restart: RestartType;
  readonly shutdown: Shutdown;
  readonly type: ChildType;
  readonly significant: boolean;
}

/** OTP `auto_shutdown`: whether significant children's exits stop the supervisor. */
export type AutoShutdown = 'never' | 'any_significant' | 'all_significant';

/** Default shutdown deadline of a worker, ms (OTP: 5000). */
export const DEFAULT_WORKER_SHUTDOWN_MS = 5000;

const RESTART_TYPES: readonly unknown[] = ['permanent', 'transient', 'temporary'];
const CHILD_TYPES: readonly unknown[] = ['worker', 'supervisor'];

/** Lists the problems of the restart/shutdown/type/significant fields shared by specs and templates. */
export function checkPolicy(spec: Record<string, unknown>, autoShutdown: AutoShutdown, path: string): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  if (spec.restart !== undefined && !RESTART_TYPES.includes(spec.restart)) {
    problems.push({ path: `${path}.restart`, message: 'must be permanent, transient or temporary' });
  }
  const shutdown = spec.shutdown;
  if (
    shutdown !== undefined &&
    shutdown !== 'brutal_kill' &&
    shutdown !== 'infinity' &&
    !(typeof shutdown === 'number' && Number.isInteger(shutdown) && shutdown >= 0)
  ) {
    problems.push({ path: `${path}.shutdown`, message: 'must be brutal_kill, infinity or an integer number of ms >= 0' });
  }
  if (spec.type !== undefined && !CHILD_TYPES.includes(spec.type)) {
    problems.push({ path: `${path}.type`, message: 'must be worker or supervisor' });
  }
  if (spec.significant !== undefined && typeof spec.significant !== 'boolean') {
    problems.push({ path: `${path}.significant`, message: 'must be a boolean' });
  }
  if (spec.significant === true) {
    if (spec.restart === undefined || spec.restart === 'permanent') {
      problems.push({ path: `${path}.significant`, message: 'a significant child must be transient or temporary' });
    }
    if (autoShutdown === 'never') {
      problems.push({ path: `${path}.significant`, message: 'significant children need autoShutdown any_significant or all_significant' });
    }
  }
  return problems;
}

/** Fills in defaults for the policy fields. */
export function resolvePolicy(spec: { restart?: RestartType; shutdown?: Shutdown; type?: ChildType; significant?: boolean }): {
  restart: RestartType;
  shutdown: Shutdown;
  type: ChildType;
  significant: boolean;
} {
  const type = spec.type ?? 'worker';
  return {
    restart: spec.restart ?? 'permanent',
    shutdown: spec.shutdown ?? (type === 'supervisor' ? 'infinity' : DEFAULT_WORKER_SHUTDOWN_MS),
    type,
    significant: spec.significant ?? false,
  };
}

/**
 * Validates one child spec and fills in its defaults.
 * @throws {InvalidChildSpecError} listing every problem in `details`.
 */
export function resolveChildSpec<C extends Child>(spec: ChildSpec<C>, autoShutdown: AutoShutdown, path = 'child'): ResolvedChildSpec<C> {
  if (typeof spec !== 'object' || spec === null) {
    throw new InvalidChildSpecError(`${path}: a child spec must be an object`, { details: [{ path, message: 'not an object' }] });
  }
  const raw = spec as unknown as Record<string, unknown>;
  const problems: ErrorDetail[] = [];
  if (typeof raw.id !== 'string' || raw.id === '') problems.push({ path: `${path}.id`, message: 'must be a non-empty string' });
  if (typeof raw.start !== 'function') problems.push({ path: `${path}.start`, message: 'must be a function returning a Promise of a child' });
  problems.push(...checkPolicy(raw, autoShutdown, path));
  if (problems.length > 0) {
    throw new InvalidChildSpecError(`Invalid child spec: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { details: problems });
  }
  const start = spec.start;
  return { id: spec.id, start: () => start.call(spec), ...resolvePolicy(spec) };
}

/**
 * Validates a list of child specs, all before anything starts (SPEC B.8).
 * @throws {InvalidChildSpecError} for a malformed spec or a bad combination.
 * @throws {DuplicateChildError} when two specs share an id.
 */
export function resolveChildSpecs(specs: readonly ChildSpec[], autoShutdown: AutoShutdown): ResolvedChildSpec[] {
  if (!Array.isArray(specs)) throw new InvalidChildSpecError('Child specs must be an array');
  const seen = new Set<string>();
  return specs.map((spec, i) => {
    const resolved = resolveChildSpec(spec, autoShutdown, `children[${i}]`);
    if (seen.has(resolved.id)) {
      throw new DuplicateChildError(`Duplicate child id "${resolved.id}" (children[${i}])`, {
        details: [{ path: `children[${i}].id`, message: `duplicate id "${resolved.id}"` }],
      });
    }
    seen.add(resolved.id);
    return resolved;
  });
}

/** Whether a child that exited with `reason` is restarted under `restart` (SPEC B.3). */
export function shouldRestart(restart: RestartType, reason: ExitReason): boolean {
  if (restart === 'permanent') return true;
  if (restart === 'temporary') return false;
  return !isCleanExit(reason);
}

/**
 * Stops `child` according to `shutdown` and resolves with its exit reason (SPEC B.5; OTP
 * `shutdown/2`): `brutal_kill` kills; a deadline asks with reason `shutdown`, then kills at the
 * deadline; `infinity` asks and waits.
 */
export function shutdownChild(child: Child, shutdown: Shutdown, clock: Clock): Promise<ExitReason> {
  if (shutdown === 'brutal_kill') {
    killQuietly(child);
    return exitOf(child);
  }
  try {
    child.stop('shutdown').catch(() => killQuietly(child));
  } catch {
    killQuietly(child); // a child whose stop() throws is treated like one that ignores it
  }
  if (shutdown === 'infinity') return exitOf(child);
  const timer = clock.createTimer(() => killQuietly(child));
  timer.arm(clock.now() + shutdown);
  return exitOf(child).then((reason) => {
    timer.disarm();
    return reason;
  });
}

/** Kills `child`; a throwing `kill()` (a broken custom child) must not break the supervisor. */
export function killQuietly(child: Child): void {
  try {
    child.kill();
  } catch {
    // nothing more can be done; the supervisor still waits for `exited`
  }
}

/**
 * `child.exited`, never rejecting: a custom child whose `exited` rejects (breaking the {@link Child}
 * contract) is treated as having exited with `{ error }`.
 */
export function exitOf(child: Child): Promise<ExitReason> {
  return child.exited.then(
    (reason) => reason,
    (error: unknown): ExitReason => ({ error }),
  );
}

/** Checks that a start function resolved with something that quacks like a {@link Child}. */
export function isChild(value: unknown): value is Child {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  // A machine's `exited` promise is made on first use: do not make it just to check it.
  return typeof v.stop === 'function' && typeof v.kill === 'function' && (isExitWatchable(value) || v.exited instanceof Promise);
}
