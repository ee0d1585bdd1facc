/**
 * The SIP transaction layer (RFC 3261 §17, RFC 6026): INVITE and non-INVITE, client and server
 * transactions as `src/fsm` machines with Timers A–M, under a dynamic supervisor, and the
 * {@link TransactionManager} that matches messages to them.
 *
 * @module
 */
export { createAck } from './ack.ts';
export { newBranch } from './branch.ts';
export { ClientTransaction, type ClientTimerName, type ClientTransactionArgs, type ClientTransactionMsg } from './client-transaction.ts';
export { type InviteClientData, type InviteClientState, inviteClientTransaction } from './invite-client-transaction.machine.ts';
export { type InviteServerData, type InviteServerState, inviteServerTransaction } from './invite-server-transaction.machine.ts';
export { type NonInviteClientData, type NonInviteClientState, nonInviteClientTransaction } from './non-invite-client-transaction.machine.ts';
export { type NonInviteServerData, type NonInviteServerState, nonInviteServerTransaction } from './non-invite-server-transaction.machine.ts';
export { ServerTransaction, type ServerTimerName, type ServerTransactionArgs, type ServerTransactionMsg } from './server-transaction.ts';
export { checkTimerConfig, DEFAULT_TIMER_CONFIG, type TransactionTimerConfig, type TransactionTimers, transactionTimers } from './timers.ts';
export { Transaction, type TransactionKind, type TransmitFailure, type TransportErrorMsg } from './transaction.ts';
export { ack2543Key, clientKey, responseKey, serverKey } from './transaction-key.ts';
export {
  type RequestDisposition,
  type ResponseDisposition,
  type TransactionCounts,
  TransactionManager,
  type TransactionManagerOptions,
} from './transaction-manager.ts';
export type { ClientTransactionUser, ClientTransportFailure, ServerTransactionUser } from './transaction-user.ts';
export type { TransactionTransport } from './transport.ts';
