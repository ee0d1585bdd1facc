/**
 * The handle on a client transaction (RFC 3261 §17.1): the TU starts one per request it sends
 * (through the transaction manager); the manager passes it the responses that match it.
 *
 * @module
 */
import type { SipRequest, SipResponse } from '../index.ts';
import type { TransactionTimerConfig } from './timers.ts';
import { Transaction, type TransportErrorMsg } from './transaction.ts';
import type { ClientTransactionUser } from './transaction-user.ts';
import type { TransactionTransport } from './transport.ts';

/** The client timers, as named in RFC 3261 §17.1 and RFC 6026. */
export type ClientTimerName = 'A' | 'B' | 'D' | 'E' | 'F' | 'K' | 'M';

/** Events of the client transaction machines. */
export type ClientTransactionMsg =
  /** Internal: send the request and start the timers. */
  | { readonly type: 'start' }
  /** A response matched to this transaction (RFC 3261 §17.1.3). */
  | { readonly type: 'response'; readonly response: SipResponse }
  | TransportErrorMsg
  /** Timer `timer` fired (a generic timeout named `Timer${timer}`). */
  | { readonly type: 'timer'; readonly timer: ClientTimerName };

/** What a client transaction machine is started with. */
export interface ClientTransactionArgs {
  readonly transaction: ClientTransaction;
  readonly tu: ClientTransactionUser;
}

/** A client transaction: INVITE (`inviteClient`) or non-INVITE (`nonInviteClient`). */
export class ClientTransaction extends Transaction<ClientTransactionMsg> {
  /** The branch of the request's top Via: the transaction id (RFC 3261 §17.1.3). */
  readonly branch: string;
  readonly tu: ClientTransactionUser;

  /** @internal made by the transaction manager */
  constructor(key: string, branch: string, request: SipRequest, transport: TransactionTransport, tu: ClientTransactionUser, config: TransactionTimerConfig) {
    super(request.method === 'INVITE' ? 'inviteClient' : 'nonInviteClient', key, request, transport, config);
    this.branch = branch;
    this.tu = tu;
  }

  /**
   * Passes a response that matched this transaction to it.
   * @internal the transaction manager calls this for responses it matched
   */
  receiveResponse(response: SipResponse): void {
    this.deliver({ type: 'response', response });
  }
}
