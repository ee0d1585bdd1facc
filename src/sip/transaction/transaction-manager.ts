/**
 * The transaction layer's entry point: starts client and server transactions as machines under a
 * dynamic supervisor, and matches incoming requests and responses to them (RFC 3261 §17.1.3,
 * §17.2.3). Transactions remove themselves when they reach Terminated (or crash).
 *
 * ```ts
 * const transactions = await TransactionManager.start({ T1: 500, T2: 4000, T4: 5000 });
 * // outgoing: the TU adds its Via with a fresh branch, then
 * request.prependVia(`SIP/2.0/UDP ${me};branch=${transactions.newBranch()}`);
 * const client = await transactions.sendRequest(request, transportTo(target), tu);
 * // incoming, from a transport:
 * if (msg.kind === 'response') {
 *   const r = transactions.receiveResponse(msg);
 *   if (r.type === 'stray') forwardStatelessly(msg); // RFC 3261 §16.7 step 1 / §18.1.2
 * } else {
 *   const r = transactions.receiveRequest(msg, transportBackTo(source), tu);
 *   if (r.type === 'strayAck') forwardAck(msg); // ACK for a 2xx: end to end (§16.7, RFC 6026)
 * }
 * ```
 *
 * @module
 */
import {
  type Child,
  type Clock,
  defaultClock,
  type DynamicSupervisorRef,
  type ExitReason,
  type JsonValue,
  startDynamicSupervisor,
  startMachineSync,
  type StopOptions,
  type SupervisorTree,
} from '../../fsm/index.ts';
import { detach } from '../chars.ts';
import { isRfc3261Branch, type SipRequest, type SipResponse } from '../index.ts';
import { newBranch } from './branch.ts';
import { ClientTransaction, type ClientTransactionArgs } from './client-transaction.ts';
import { inviteClientTransaction } from './invite-client-transaction.machine.ts';
import { inviteServerTransaction } from './invite-server-transaction.machine.ts';
import { nonInviteClientTransaction } from './non-invite-client-transaction.machine.ts';
import { nonInviteServerTransaction } from './non-invite-server-transaction.machine.ts';
import { ServerTransaction, type ServerTransactionArgs } from './server-transaction.ts';
import { checkTimerConfig, DEFAULT_TIMER_CONFIG, type TransactionTimerConfig } from './timers.ts';
import type { Transaction, TransactionKind } from './transaction.ts';
import { ack2543Key, clientKey, responseKey, serverKey } from './transaction-key.ts';
import type { ClientTransactionUser, ServerTransactionUser } from './transaction-user.ts';
import type { TransactionTransport } from './transport.ts';

/** Options of {@link TransactionManager.start}: the timer base values (RFC 3261 Appendix A) and the clock. */
export interface TransactionManagerOptions extends Partial<TransactionTimerConfig> {
  /** Time source of every transaction timer. Default: the shared real clock. */
  readonly clock?: Clock;
  /** Name of the supervisor in `tree()`. Default `sip-transactions`. */
  readonly name?: string;
}

/** What became of an incoming response. */
export type ResponseDisposition =
  /** Passed to its client transaction. */
  | { readonly type: 'matched'; readonly transaction: ClientTransaction }
  /**
   * No client transaction: "the response MUST be passed to the core" (RFC 3261 §17.1.3, §18.1.2);
   * a proxy forwards it statelessly (§16.7; late 2xx retransmissions after Timer M, say).
   */
  | { readonly type: 'stray' };

/** What became of an incoming request. */
export type RequestDisposition =
  /** A new server transaction; it passes the request to the TU (`onRequest`). */
  | { readonly type: 'new'; readonly transaction: ServerTransaction }
  /** A retransmission, absorbed by its server transaction (which re-sends its last response). */
  | { readonly type: 'retransmission'; readonly transaction: ServerTransaction }
  /**
   * An ACK matched an INVITE server transaction: absorbed (ACK for its non-2xx final response), or,
   * in Accepted (RFC 6026), passed to the TU's `onAck`.
   */
  | { readonly type: 'ack'; readonly transaction: ServerTransaction }
  /**
   * An ACK matching no server transaction: the ACK for a 2xx, which is end to end and not part of any
   * transaction (RFC 3261 §17; §16.7 / §16.6 forwards it like any other request).
   */
  | { readonly type: 'strayAck' };

/** Live transactions by kind, for metrics. */
export type TransactionCounts = Readonly<Record<TransactionKind, number>> & { readonly total: number };

type StartArgs = { readonly side: 'client'; readonly args: ClientTransactionArgs } | { readonly side: 'server'; readonly args: ServerTransactionArgs };

/**
 * The SIP transaction layer (RFC 3261 §17): see the module documentation. It is a {@link Child}, so it
 * can sit in a supervision tree (`{ id: 'sip-transactions', type: 'supervisor', start: () => TransactionManager.start(options) }`).
 */
export class TransactionManager implements Child {
  readonly #config: TransactionTimerConfig;
  readonly #supervisor: DynamicSupervisorRef<StartArgs, Child>;
  readonly #client = new Map<string, ClientTransaction>();
  readonly #server = new Map<string, ServerTransaction>();
  /** RFC 2543 INVITE server transactions by their ACK key (the To tag is checked apart). */
  readonly #ack2543 = new Map<string, ServerTransaction>();
  /** Forgets every terminated transaction (one object for all: no closure per transaction). */
  readonly #reaper = {
    transactionTerminated: (transaction: Transaction): void => {
      const table: Map<string, Transaction> = transaction instanceof ClientTransaction ? this.#client : this.#server;
      if (table.get(transaction.key) === transaction) table.delete(transaction.key);
    },
  };

  private constructor(config: TransactionTimerConfig, supervisor: DynamicSupervisorRef<StartArgs, Child>) {
    this.#config = config;
    this.#supervisor = supervisor;
  }

  /**
   * Starts the transaction layer: a dynamic supervisor whose children are the transaction machines
   * (`restart: temporary`: a crashed transaction is gone, never restarted, and its siblings go on).
   * @throws {RangeError} for invalid timer values.
   */
  static async start(options: TransactionManagerOptions = {}): Promise<TransactionManager> {
    const config: TransactionTimerConfig = {
      T1: options.T1 ?? DEFAULT_TIMER_CONFIG.T1,
      T2: options.T2 ?? DEFAULT_TIMER_CONFIG.T2,
      T4: options.T4 ?? DEFAULT_TIMER_CONFIG.T4,
      ...(options.timerD === undefined ? {} : { timerD: options.timerD }),
      ...(options.trying100 === undefined ? {} : { trying100: options.trying100 }),
    };
    checkTimerConfig(config);
    const clock = options.clock ?? defaultClock;
    const supervisor = await startDynamicSupervisor<StartArgs, Child>(
      {
        restart: 'temporary',
        // Transactions start synchronously (their init is a plain function): one per request, so
        // no promise or microtask per start (see startChildSync).
        start: async (start) => startTransactionMachine(start, clock),
        startSync: (start) => startTransactionMachine(start, clock),
      },
      { name: options.name ?? 'sip-transactions', clock },
    );
    return new TransactionManager(config, supervisor);
  }

  /** The timer base values in use. */
  get config(): TransactionTimerConfig {
    return this.#config;
  }

  /** A fresh RFC 3261 branch (`z9hG4bK…`) for the Via of a request to send. */
  newBranch(): string {
    return newBranch();
  }

  /**
   * Starts a client transaction for `request` (INVITE → §17.1.1, anything else but ACK → §17.1.2),
   * which sends it through `transport` and reports to `tu`. The request's top Via must carry an RFC
   * 3261 branch (see {@link newBranch}); it is the transaction id (§17.1.3). The machine is started
   * synchronously (see `startChildSync`): it is running, and matched by responses, when this is called.
   * @throws {TypeError} for an ACK, or a request without an RFC 3261 branch.
   * @throws {Error} when a transaction with this branch and method exists.
   * @throws {ChildStartError | SupervisorNotRunningError} (rejects) when the machine cannot start.
   */
  async sendRequest(request: SipRequest, transport: TransactionTransport, tu: ClientTransactionUser): Promise<ClientTransaction> {
    if (request.method === 'ACK') {
      throw new TypeError('an ACK has no client transaction: the ACK for a non-2xx is sent by the INVITE transaction, the ACK for a 2xx by the TU (RFC 3261 §17)');
    }
    const branch = request.topVia?.branch;
    if (branch === undefined || !isRfc3261Branch(branch)) {
      throw new TypeError('a request sent through a client transaction needs a top Via with an RFC 3261 branch (z9hG4bK…)');
    }
    const key = clientKey(branch, request.method);
    if (this.#client.has(key)) throw new Error(`a client transaction for branch ${branch} and method ${request.method} already exists`);
    const transaction = new ClientTransaction(key, detach(branch), request, transport, tu, this.#config);
    this.#client.set(transaction.key, transaction);
    transaction.onTerminated(this.#reaper);
    try {
      this.#supervisor.startChildSync({ side: 'client', args: { transaction, tu } });
    } catch (error) {
      transaction.startFailed(error);
      throw error;
    }
    return transaction;
  }

  /** Matches a response to its client transaction (RFC 3261 §17.1.3) and passes it on. */
  receiveResponse(response: SipResponse): ResponseDisposition {
    const key = responseKey(response);
    const transaction = key === undefined ? undefined : this.#client.get(key);
    if (transaction === undefined) return { type: 'stray' };
    transaction.receiveResponse(response);
    return { type: 'matched', transaction };
  }

  /**
   * Matches a request to its server transaction (RFC 3261 §17.2.3): a retransmission or an ACK goes
   * to the transaction; a new request (CANCEL included: it is a transaction of its own) starts one,
   * which answers through `transport` and passes the request to `tu`.
   * @throws {TypeError} for a request without a Via (the parser never returns one).
   */
  receiveRequest(request: SipRequest, transport: TransactionTransport, tu: ServerTransactionUser): RequestDisposition {
    if (request.method === 'ACK') {
      const transaction = this.#matchAck(request);
      if (transaction === undefined) return { type: 'strayAck' };
      transaction.receiveRequest(request);
      return { type: 'ack', transaction };
    }
    const key = serverKey(request);
    if (key === undefined) throw new TypeError('a request without a Via cannot be matched to a transaction');
    const existing = this.#server.get(key);
    if (existing !== undefined) {
      existing.receiveRequest(request);
      return { type: 'retransmission', transaction: existing };
    }
    const transaction = new ServerTransaction(key, request, transport, tu, this.#config);
    this.#server.set(transaction.key, transaction);
    const ackKey = transaction.kind === 'inviteServer' ? detachKey(ack2543Key(request)) : undefined;
    if (ackKey !== undefined) this.#ack2543.set(ackKey, transaction);
    transaction.onTerminated(this.#reaper);
    if (ackKey !== undefined) {
      transaction.onTerminated(() => {
        if (this.#ack2543.get(ackKey) === transaction) this.#ack2543.delete(ackKey);
      });
    }
    try {
      this.#supervisor.startChildSync({ side: 'server', args: { transaction, tu } });
    } catch (error) {
      transaction.startFailed(error);
    }
    return { type: 'new', transaction };
  }

  /**
   * The INVITE server transaction a CANCEL refers to: "the same rules as 17.2.3 apply [...] except
   * that the method is INVITE" (RFC 3261 §9.2). Undefined when there is none (the UAS answers 481).
   */
  findCancelTarget(cancel: SipRequest): ServerTransaction | undefined {
    const key = serverKey(cancel, 'INVITE');
    const transaction = key === undefined ? undefined : this.#server.get(key);
    return transaction?.kind === 'inviteServer' ? transaction : undefined;
  }

  /** Number of live transactions. */
  get size(): number {
    return this.#client.size + this.#server.size;
  }

  /** Live transactions by kind, for metrics. */
  counts(): TransactionCounts {
    const counts = { inviteClient: 0, nonInviteClient: 0, inviteServer: 0, nonInviteServer: 0 };
    for (const t of this.#client.values()) counts[t.kind as 'inviteClient' | 'nonInviteClient']++;
    for (const t of this.#server.values()) counts[t.kind as 'inviteServer' | 'nonInviteServer']++;
    return { ...counts, total: this.size };
  }

  /** The supervision subtree (every live transaction machine), for `GET /supervisor`. */
  tree(): SupervisorTree {
    return this.#supervisor.tree();
  }

  /** {@link Child}: the supervision subtree as JSON. */
  describe(): JsonValue {
    return this.#supervisor.describe();
  }

  /** {@link Child}: resolves with the supervisor's exit reason. */
  get exited(): Promise<ExitReason> {
    return this.#supervisor.exited;
  }

  /** {@link Child}: stops every transaction (in parallel), then the supervisor. */
  stop(reason?: ExitReason, options?: StopOptions): Promise<void> {
    return this.#supervisor.stop(reason, options);
  }

  /** {@link Child}: kills every transaction machine and the supervisor. */
  kill(): void {
    this.#supervisor.kill();
  }

  /** RFC 3261 §17.2.3 for an ACK: the INVITE server transaction it belongs to, if any. */
  #matchAck(ack: SipRequest): ServerTransaction | undefined {
    const ackKey = ack2543Key(ack);
    if (ackKey === undefined) {
      const key = serverKey(ack);
      const transaction = key === undefined ? undefined : this.#server.get(key);
      return transaction?.kind === 'inviteServer' ? transaction : undefined;
    }
    const transaction = this.#ack2543.get(ackKey);
    // "... and the To tag of the ACK matches the To tag of the response sent by the server transaction."
    return transaction !== undefined && transaction.finalToTag === ack.to.tag ? transaction : undefined;
  }
}

/** Starts the machine of a transaction and attaches it (its init is a plain function, RFC 3261 §17). */
function startTransactionMachine(start: StartArgs, clock: Clock): Child {
  if (start.side === 'client') {
    const { args } = start;
    const ref = args.transaction.kind === 'inviteClient'
      ? startMachineSync(inviteClientTransaction, args, { clock })
      : startMachineSync(nonInviteClientTransaction, args, { clock });
    args.transaction.attach(ref);
    return ref;
  }
  const { args } = start;
  const ref = args.transaction.kind === 'inviteServer'
    ? startMachineSync(inviteServerTransaction, args, { clock })
    : startMachineSync(nonInviteServerTransaction, args, { clock });
  args.transaction.attach(ref);
  return ref;
}

function detachKey(key: string | undefined): string | undefined {
  return key === undefined ? undefined : detach(key);
}
