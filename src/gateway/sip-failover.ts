/**
 * Serial failover of SIP requests over an upstream's targets, read from the upstream's `retries`
 * config (the same keys as HTTP retries; see `src/sip/proxy/failover.ts` for when the proxy core asks):
 *
 * - `attempts`: further tries after the first (0: no failover);
 * - `on`: `connectFailure` covers a transport error before any response (connection refused or
 *   reset, ICMP unreachable); `reset` covers that too, and a transport error after a provisional
 *   response (a 100 Trying included: the target got the request, a second try may deliver it twice);
 *   `timeout` covers an INVITE's Timer B (and its Timer C before any provisional; a non-INVITE's Timer
 *   F never fails over, the caller's own Timer F has fired too); a code such as 503 or 500 covers a
 *   final response with that code;
 * - `budgetPercent`, `minRetryConcurrency`: the upstream's {@link RetryBudget}, as for HTTP, whose
 *   concurrency input counts every try in flight (first tries and failovers alike);
 * - `backoffMs`, `maxBackoffMs`, `perTryTimeoutMs`, `maxRetryAfterMs` do not apply to SIP: the next
 *   try goes at once (the transaction timers pace a SIP request, and the caller's INVITE is pending).
 *
 * Each try goes to a target not tried yet, in the load balancer's order, skipping targets whose
 * breaker refuses, and takes that breaker's place like the first try.
 *
 * @module
 */
import type { RetryCondition, Upstream } from '../routes/config.ts';
import { RetryBudget } from '../routes/retry-budget.ts';
import type { FailedTry, Failover, FailoverTry } from '../sip/proxy/index.ts';

/** Does `retries.on` cover a failed SIP try? */
export function sipRetryCovers(on: readonly RetryCondition[], failed: FailedTry): boolean {
  switch (failed.reason) {
    case 'connectFailure':
      return on.includes('connectFailure') || on.includes('reset');
    case 'reset':
      // The target got the request (it answered a provisional): only when retrying it is allowed.
      return on.includes('reset');
    case 'timeout':
      return on.includes('timeout');
    case 'status':
      return on.includes(failed.status);
  }
}

/**
 * The retry budget of one SIP upstream (a {@link RetryBudget} from its `retries`) and its tries in
 * flight, the budget's concurrency input.
 */
export class SipRetryBudget {
  readonly #budget: RetryBudget;
  /** Tries in flight (first tries and failovers), and failovers among them. */
  #active = 0;
  #retries = 0;

  constructor(upstream: Upstream) {
    this.#budget = new RetryBudget(upstream.retries.budgetPercent, upstream.retries.minRetryConcurrency);
  }

  /** A new request was routed to the upstream: a deposit. */
  request(): void {
    this.#budget.deposit();
  }

  /** A try starts (`retry`: a failover); the returned function ends it (call once). */
  start(retry: boolean): () => void {
    this.#active++;
    if (retry) this.#retries++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#active--;
      if (retry) this.#retries--;
    };
  }

  /** Takes a failover's place if the budget allows it. */
  tryWithdraw(): boolean {
    return this.#budget.tryWithdraw(this.#retries, this.#active);
  }

  /** A withdrawn failover that was never made (routing refused its try): its token goes back. */
  refund(): void {
    this.#budget.refund();
  }
}

/** A target taken for a try: its index in the upstream, the try, and how to give its breaker place back. */
export interface TakenTarget {
  readonly index: number;
  readonly next: FailoverTry;
  /** Gives back the breaker place of a try that will not be made. */
  readonly release: () => void;
}

export interface SipFailoverOptions {
  readonly upstream: Upstream;
  readonly budget: SipRetryBudget;
  /** The index of the target of the first try. */
  readonly first: number;
  /** Takes a target not in `exclude` whose breaker admits (its place taken), or undefined when none. */
  readonly take: (exclude: ReadonlySet<number>) => TakenTarget | undefined;
  /** A failover was not made because the retry budget was spent. */
  readonly onBudgetExhausted?: () => void;
}

/** The {@link Failover} of one SIP request to an upstream: see the module documentation. */
export class SipFailover implements Failover {
  readonly #options: SipFailoverOptions;
  readonly #tried: Set<number>;
  #failovers = 0;

  constructor(options: SipFailoverOptions) {
    this.#options = options;
    this.#tried = new Set([options.first]);
  }

  covers(failed: FailedTry): boolean {
    return sipRetryCovers(this.#options.upstream.retries.on, failed);
  }

  next(failed: FailedTry): FailoverTry | undefined {
    const { upstream, budget } = this.#options;
    if (!this.covers(failed) || this.#failovers >= upstream.retries.attempts || this.#tried.size >= upstream.targets.length) return undefined;
    const taken = this.#options.take(this.#tried);
    if (taken === undefined) return undefined;
    if (!budget.tryWithdraw()) {
      taken.release();
      this.#options.onBudgetExhausted?.();
      return undefined;
    }
    this.#tried.add(taken.index);
    this.#failovers++;
    const end = budget.start(true);
    const report = taken.next.onOutcome;
    return {
      target: taken.next.target,
      onOutcome: (ok) => {
        end();
        report?.(ok);
      },
      release: () => {
        end();
        budget.refund();
        taken.release();
      },
    };
  }
}
