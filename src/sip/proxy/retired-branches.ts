/**
 * The branches a serial failover retired, remembered per server transaction until it ends, so that a
 * late response on one (the target answers after its Timer B or C, or after its transport error) is
 * recognised as a response of this request rather than a stray one (RFC 3261 §16.7): a 2xx still goes
 * upstream (step 5: "2xx responses are always forwarded") and the pending branch is cancelled (step
 * 10); anything else is dropped, the caller hears only from the pending branch. See
 * `SipProxy.#retiredResponse`.
 *
 * Bounded: one entry per retired try, at most `retries.attempts` + 1 per request (a try retried over
 * UDP after its TCP attempt, §18.1.1, may add one), forgotten when the server transaction terminates.
 *
 * @module
 */

/** A retired branch: the server transaction of its request, and the branch's context. */
export interface RetiredBranch<S, C> {
  readonly server: S;
  readonly context: C;
}

/** Retired branches by Via branch id (RFC 3261 §17.1.3: the branch identifies the client transaction). */
export class RetiredBranches<S, C> {
  readonly #byBranch = new Map<string, RetiredBranch<S, C>>();
  readonly #byServer = new Map<S, string[]>();

  /**
   * Remembers `branch` (the Via branch id a try was sent with) as retired. Returns true for the first
   * branch retired of `server`: the caller then watches its termination to {@link forget} it.
   */
  retire(server: S, branch: string, context: C): boolean {
    let branches = this.#byServer.get(server);
    const first = branches === undefined;
    if (branches === undefined) this.#byServer.set(server, (branches = []));
    branches.push(branch);
    this.#byBranch.set(branch, { server, context });
    return first;
  }

  /** The retired branch a response's top Via `branch` names, if any. */
  find(branch: string | undefined): RetiredBranch<S, C> | undefined {
    return branch === undefined ? undefined : this.#byBranch.get(branch);
  }

  /** Forgets the retired branches of a server transaction (it terminated). */
  forget(server: S): void {
    const branches = this.#byServer.get(server);
    if (branches === undefined) return;
    this.#byServer.delete(server);
    for (const b of branches) this.#byBranch.delete(b);
  }

  /** Retired branches remembered (for tests). */
  get size(): number {
    return this.#byBranch.size;
  }
}
