/**
 * The handle on a server transaction (RFC 3261 §17.2): created by the transaction manager for a new
 * request; the TU answers through {@link ServerTransaction.respond}.
 *
 * @module
 */
import { detach } from '../chars.ts';
import type { SipRequest, SipResponse } from '../index.ts';
import type { TransactionTimerConfig } from './timers.ts';
import { Transaction, type TransportErrorMsg } from './transaction.ts';
import type { ServerTransactionUser } from './transaction-user.ts';
import type { TransactionTransport } from './transport.ts';

/** The server timers, as named in RFC 3261 §17.2 and RFC 6026; `Trying100` is the 200 ms of §17.2.1. */
export type ServerTimerName = 'G' | 'H' | 'I' | 'J' | 'L' | 'Trying100';

/** Events of the server transaction machines. */
export type ServerTransactionMsg =
  /** Internal: pass the request to the TU and start the timers. */
  | { readonly type: 'start' }
  /** A retransmission of the request, or (INVITE) an ACK, matched to this transaction (RFC 3261 §17.2.3). */
  | { readonly type: 'request'; readonly request: SipRequest }
  /** A response from the TU. */
  | { readonly type: 'respond'; readonly response: SipResponse }
  | TransportErrorMsg
  /** Timer `timer` fired (a generic timeout named `Timer${timer}`, or `Trying100`). */
  | { readonly type: 'timer'; readonly timer: ServerTimerName };

/** What a server transaction machine is started with. */
export interface ServerTransactionArgs {
  readonly transaction: ServerTransaction;
  readonly tu: ServerTransactionUser;
}

/** A server transaction: INVITE (`inviteServer`) or non-INVITE (`nonInviteServer`). */
export class ServerTransaction extends Transaction<ServerTransactionMsg> {
  readonly tu: ServerTransactionUser;
  #finalToTag: string | undefined;
  #finalStatus: number | undefined;

  /** @internal made by the transaction manager */
  constructor(key: string, request: SipRequest, transport: TransactionTransport, tu: ServerTransactionUser, config: TransactionTimerConfig) {
    super(request.method === 'INVITE' ? 'inviteServer' : 'nonInviteServer', key, request, transport, config);
    this.tu = tu;
  }

  /**
   * The TU's response: sent by the transaction, which keeps the last one to re-send on request
   * retransmissions. A final response after the first is dropped (RFC 3261 §17.2.2: "any other final
   * responses passed by the TU to the server transaction MUST be discarded"), except 2xx to an INVITE
   * in the Accepted state (RFC 6026 §8.5), which are sent.
   * @throws {RangeError} when `response.status` is not 100–699.
   */
  respond(response: SipResponse): void {
    if (!(response.status >= 100 && response.status <= 699)) throw new RangeError(`invalid response status ${response.status}`);
    if (response.status >= 200 && this.#finalStatus === undefined) {
      this.#finalStatus = response.status;
      const tag = response.to.tag;
      // Detached: kept as long as the transaction, it must not keep the response text alive.
      this.#finalToTag = tag === undefined ? undefined : detach(tag);
    }
    this.deliver({ type: 'respond', response });
  }

  /**
   * The status of the first final response the TU gave, from the moment it gave it (the machine's
   * `state` follows a little later, once the transaction has processed it); undefined before one.
   */
  get finalStatus(): number | undefined {
    return this.#finalStatus;
  }

  /** The To tag of the first final response the TU gave (RFC 2543 ACK matching, RFC 3261 §17.2.3). */
  get finalToTag(): string | undefined {
    return this.#finalToTag;
  }

  /**
   * Passes a retransmission of the request, or an ACK, to the transaction.
   * @internal the transaction manager calls this for requests it matched
   */
  receiveRequest(request: SipRequest): void {
    this.deliver({ type: 'request', request });
  }
}
