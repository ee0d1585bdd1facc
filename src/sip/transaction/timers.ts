/**
 * The transaction timers of RFC 3261 §17 (Table 4, Appendix A) and RFC 6026 §8.11, derived from the
 * three base values T1, T2, T4 and from the reliability of the transport a transaction uses.
 *
 * > T1: RTT estimate, 500 ms default. T2: the maximum retransmit interval for non-INVITE requests and
 * > INVITE responses, 4 s. T4: maximum duration a message will remain in the network, 5 s.
 * > (RFC 3261 Appendix A)
 *
 * Timers D, I, J and K are *derived* from the transport: on a reliable transport there are no
 * retransmissions to absorb, so they are 0 (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2);
 * Timers A, E and G run only on unreliable transports.
 *
 * @module
 */

/** The base values, in ms. All configurable; tests scale them down. */
export interface TransactionTimerConfig {
  /** RTT estimate (RFC 3261 §17.1.1.1). Default 500 ms. */
  readonly T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses. Default 4 s. */
  readonly T2: number;
  /** Maximum time a message stays in the network. Default 5 s. */
  readonly T4: number;
  /**
   * Timer D on an unreliable transport: "a value of at least 32 seconds for unreliable transports"
   * (RFC 3261 §17.1.1.2). Default `max(32 s, 64·T1)`. Scaled-down tests set it explicitly.
   */
  readonly timerD?: number;
  /**
   * How long an INVITE server transaction waits for the TU's first response before it sends 100
   * Trying itself (RFC 3261 §17.2.1: "if the TU will not generate a provisional response within
   * 200 ms"). Default 200 ms.
   */
  readonly trying100?: number;
}

/** RFC 3261 Appendix A defaults. */
export const DEFAULT_TIMER_CONFIG: TransactionTimerConfig = Object.freeze({ T1: 500, T2: 4000, T4: 5000 });

/** Every timer of one transaction, in ms, for its transport's reliability. `undefined`: the timer does not run. */
export interface TransactionTimers {
  readonly T1: number;
  readonly T2: number;
  readonly T4: number;
  /** INVITE request retransmit interval, initially T1, doubling; unreliable only. */
  readonly A: number | undefined;
  /** INVITE transaction timeout: 64·T1. */
  readonly B: number;
  /** Wait time for response retransmits: ≥ 32 s unreliable, 0 reliable. */
  readonly D: number;
  /** Non-INVITE request retransmit interval, initially T1, doubling to T2; unreliable only. */
  readonly E: number | undefined;
  /** Non-INVITE transaction timeout: 64·T1. */
  readonly F: number;
  /** INVITE response retransmit interval, initially T1, doubling to T2; unreliable only. */
  readonly G: number | undefined;
  /** Wait time for ACK receipt: 64·T1. */
  readonly H: number;
  /** Wait time for ACK retransmits: T4 unreliable, 0 reliable. */
  readonly I: number;
  /** Wait time for non-INVITE request retransmits: 64·T1 unreliable, 0 reliable. */
  readonly J: number;
  /** Wait time for response retransmits: T4 unreliable, 0 reliable. */
  readonly K: number;
  /** RFC 6026: wait time for accepted INVITE request retransmits (server): 64·T1. */
  readonly L: number;
  /** RFC 6026: wait time for retransmission of 2xx to INVITE or additional 2xx from other branches (client): 64·T1. */
  readonly M: number;
  /** INVITE server: send 100 Trying when the TU has not answered within this time (200 ms). */
  readonly trying100: number;
}

/**
 * Checks a timer config.
 * @throws {RangeError} when a value is not a positive finite number, or T2 < T1.
 */
export function checkTimerConfig(config: TransactionTimerConfig): void {
  for (const key of ['T1', 'T2', 'T4'] as const) {
    const value = config[key];
    if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`transaction timer ${key} must be a positive number of ms, got ${value}`);
  }
  for (const key of ['timerD', 'trying100'] as const) {
    const value = config[key];
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) throw new RangeError(`transaction timer ${key} must be a number of ms >= 0, got ${value}`);
  }
  if (config.T2 < config.T1) throw new RangeError(`transaction timer T2 (${config.T2}) must not be less than T1 (${config.T1})`);
}

/** The timers of a transaction over a transport that is (or is not) `reliable`. */
export function transactionTimers(config: TransactionTimerConfig, reliable: boolean): TransactionTimers {
  const { T1, T2, T4 } = config;
  const sixtyFour = 64 * T1;
  return {
    T1,
    T2,
    T4,
    A: reliable ? undefined : T1,
    B: sixtyFour,
    D: reliable ? 0 : (config.timerD ?? Math.max(32_000, sixtyFour)),
    E: reliable ? undefined : T1,
    F: sixtyFour,
    G: reliable ? undefined : T1,
    H: sixtyFour,
    I: reliable ? 0 : T4,
    J: reliable ? 0 : sixtyFour,
    K: reliable ? 0 : T4,
    L: sixtyFour,
    M: sixtyFour,
    trying100: config.trying100 ?? 200,
  };
}
