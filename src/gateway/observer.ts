/**
 * What the proxy core reports as it works: one call per upstream attempt and per retry decision. The
 * gateway implements it with metrics and structured log lines; the proxy core knows neither.
 */
import type { RouteRuntime } from './route-runtime.ts';
import type { TargetRuntime } from './upstream-runtime.ts';

/** How one attempt on one target ended. */
export type AttemptOutcome = 'ok' | 'http5xx' | 'connectFailure' | 'reset' | 'timeout' | 'aborted';

export interface ProxyObserver {
  /** An attempt ended. `durationMs` from dispatch to the response head or the failure. */
  attempt(rt: RouteRuntime, target: TargetRuntime, outcome: AttemptOutcome, durationMs: number): void;
  /** A retry was decided: after `delayMs`, attempt number `attempt` (2 = first retry). */
  retry(rt: RouteRuntime, from: TargetRuntime, reason: string, delayMs: number, attempt: number): void;
  /** A retry was wanted but the upstream's retry budget was spent. */
  retryBudgetExhausted(rt: RouteRuntime, reason: string): void;
}

/** An observer that reports nothing. */
export const SILENT_OBSERVER: ProxyObserver = {
  attempt() {},
  retry() {},
  retryBudgetExhausted() {},
};
