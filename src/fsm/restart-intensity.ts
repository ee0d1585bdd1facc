/**
 * Restart intensity as a sliding window of restart times (OTP supervisor `add_restart/1`): a
 * supervisor may restart at most `intensity` times within any `periodMs`; one more and it gives up
 * (SPEC B.4). OTP counts in whole seconds; we count in ms. As in OTP (which keeps a restart `R` while
 * `R >= Now - Period`), the window is closed at both ends: a restart exactly `periodMs` ago still
 * counts.
 *
 * @module
 */
export class RestartIntensity {
  readonly intensity: number;
  readonly periodMs: number;
  /** Restart times (ms), oldest first, all within the window. */
  #restarts: number[] = [];

  constructor(intensity: number, periodMs: number) {
    this.intensity = intensity;
    this.periodMs = periodMs;
  }

  /**
   * Records a restart at `now` (ms). Returns true if it is allowed, false if it makes more than
   * `intensity` restarts within `periodMs` (the supervisor must escalate).
   */
  add(now: number): boolean {
    this.#prune(now);
    this.#restarts.push(now);
    return this.#restarts.length <= this.intensity;
  }

  /** Restarts within the window ending at `now`. */
  count(now: number): number {
    this.#prune(now);
    return this.#restarts.length;
  }

  /** Drops restarts older than `now - periodMs`; one exactly `periodMs` ago stays (OTP `inPeriod`). */
  #prune(now: number): void {
    const threshold = now - this.periodMs;
    let drop = 0;
    while (drop < this.#restarts.length && (this.#restarts[drop] as number) < threshold) drop++;
    if (drop > 0) this.#restarts.splice(0, drop);
  }
}
