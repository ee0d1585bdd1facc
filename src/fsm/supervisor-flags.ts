/**
 * Supervisor flags (OTP `sup_flags()`) and their validation.
 *
 * @module
 */
import type { AutoShutdown } from './child-spec.ts';
import { type ErrorDetail, InvalidFlagsError } from './errors.ts';

/**
 * Restart strategy (SPEC B.2; OTP `strategy()`):
 * - `one_for_one`: restart the failed child;
 * - `one_for_all`: stop all other children (reverse order), restart all (in order);
 * - `rest_for_one`: stop the children started after the failed one (reverse), restart them and it.
 */
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

/** Flags of a static supervisor. */
export interface SupervisorFlags {
  /** Default `one_for_one`. */
  readonly strategy?: Strategy;
  /** Maximum restarts within `periodMs`; one more escalates. Integer >= 0, default 1. */
  readonly intensity?: number;
  /** Window of the intensity, in ms. Default 5000. */
  readonly periodMs?: number;
  /** Default `never` (SPEC B.9). */
  readonly autoShutdown?: AutoShutdown;
}

/** Flags with defaults filled in. */
export interface ResolvedFlags {
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly periodMs: number;
  readonly autoShutdown: AutoShutdown;
}

export const DEFAULT_INTENSITY = 1;
export const DEFAULT_PERIOD_MS = 5000;

/** Validates the intensity and period. */
export function checkIntensity(flags: { intensity?: unknown; periodMs?: unknown }): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const { intensity, periodMs } = flags;
  if (intensity !== undefined && !(typeof intensity === 'number' && Number.isInteger(intensity) && intensity >= 0)) {
    problems.push({ path: 'intensity', message: 'must be an integer >= 0' });
  }
  if (periodMs !== undefined && !(typeof periodMs === 'number' && Number.isFinite(periodMs) && periodMs > 0)) {
    problems.push({ path: 'periodMs', message: 'must be a finite number of ms > 0' });
  }
  return problems;
}

/**
 * Validates flags and fills in defaults.
 * @throws {InvalidFlagsError} listing every problem in `details`.
 */
export function resolveFlags(flags: SupervisorFlags = {}): ResolvedFlags {
  if (typeof flags !== 'object' || flags === null) throw new InvalidFlagsError('Supervisor flags must be an object');
  const problems = checkIntensity(flags);
  if (flags.strategy !== undefined && !['one_for_one', 'one_for_all', 'rest_for_one'].includes(flags.strategy)) {
    problems.push({ path: 'strategy', message: 'must be one_for_one, one_for_all or rest_for_one' });
  }
  if (flags.autoShutdown !== undefined && !['never', 'any_significant', 'all_significant'].includes(flags.autoShutdown)) {
    problems.push({ path: 'autoShutdown', message: 'must be never, any_significant or all_significant' });
  }
  if (problems.length > 0) {
    throw new InvalidFlagsError(`Invalid supervisor flags: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { details: problems });
  }
  return {
    strategy: flags.strategy ?? 'one_for_one',
    intensity: flags.intensity ?? DEFAULT_INTENSITY,
    periodMs: flags.periodMs ?? DEFAULT_PERIOD_MS,
    autoShutdown: flags.autoShutdown ?? 'never',
  };
}
