/**
 * The retry budget of an upstream: retries may never multiply load during an outage.
 *
 * Two limits, both must allow a retry:
 * - concurrency (Envoy's retry budget): retries in flight < max(`minRetryConcurrency`,
 *   ⌊`budgetPercent` % × requests in flight⌋);
 * - ratio (Finagle's RetryBudget): every client request deposits `budgetPercent` / 100 of a token, every
 *   retry withdraws one; the balance starts at `minRetryConcurrency` (so a quiet upstream can still
 *   retry its first failures) and is capped at max(10, `minRetryConcurrency`) (so a long healthy spell
 *   does not store up a retry storm). Over any run of N client requests, retries ≤ budget × N + the
 *   starting balance.
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #minConcurrency: number;
  readonly #cap: number;
  #tokens: number;

  constructor(budgetPercent: number, minRetryConcurrency: number) {
    this.#ratio = budgetPercent / 100;
    this.#minConcurrency = minRetryConcurrency;
    this.#cap = Math.max(10, minRetryConcurrency);
    this.#tokens = minRetryConcurrency;
  }

  /** A client request arrived. */
  deposit(): void {
    this.#tokens = Math.min(this.#cap, this.#tokens + this.#ratio);
  }

  /** Takes a retry's place if both limits allow it; false when the budget is spent. */
  tryWithdraw(activeRetries: number, activeRequests: number): boolean {
    if (activeRetries >= Math.max(this.#minConcurrency, Math.floor(this.#ratio * activeRequests))) return false;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Gives back the token of a retry that was withdrawn but never made (capped like a deposit). */
  refund(): void {
    this.#tokens = Math.min(this.#cap, this.#tokens + 1);
  }

  /** Tokens left (for status and tests). */
  get balance(): number {
    return this.#tokens;
  }
}
