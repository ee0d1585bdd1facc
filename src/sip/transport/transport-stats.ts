/**
 * Counters of a SIP listener, per transport.
 *
 * @module
 */
import type { TransportName } from './flow.ts';

/** Counters of one transport. */
export interface TransportCounters {
  /** Well-formed messages received and handed to the transaction user. */
  received: number;
  /** SIP messages written, error responses included (keepalive answers are counted in `keepalives`). */
  sent: number;
  /** Messages refused by the parser or the stream framer (each is also counted in `rejected` or `dropped`). */
  malformed: number;
  /** Malformed requests answered with 400/505/513 (RFC 3261 §8.2.6.2, §21.4.1). */
  rejected: number;
  /** Input discarded without an answer: malformed responses, ACKs and requests without a usable Via, garbage. */
  dropped: number;
  /** RFC 5626 §3.5.1 keepalive pings answered (CRLFCRLF → CRLF). */
  keepalives: number;
}

export type TransportStatsSnapshot = Readonly<Record<TransportName, Readonly<TransportCounters>>>;

function zero(): TransportCounters {
  return { received: 0, sent: 0, malformed: 0, rejected: 0, dropped: 0, keepalives: 0 };
}

/** Mutable counters; `snapshot()` copies them. */
export class TransportStats {
  readonly udp = zero();
  readonly tcp = zero();
  readonly ws = zero();

  of(transport: TransportName): TransportCounters {
    return this[transport];
  }

  snapshot(): TransportStatsSnapshot {
    return { udp: { ...this.udp }, tcp: { ...this.tcp }, ws: { ...this.ws } };
  }
}
