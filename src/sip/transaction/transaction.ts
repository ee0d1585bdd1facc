/**
 * What the four transaction kinds share: a handle on a transaction machine, created (and matched by
 * the manager) just before its machine starts under the supervisor (synchronously: messages for a
 * machine not yet attached are kept, and delivered in order once it is); the transport; the report of
 * transport failures.
 *
 * @module
 */
import type { ExitReason, MachineRef, MachineStatus } from '../../fsm/index.ts';
import { watchExit } from '../../fsm/child.ts';
import { detach } from '../chars.ts';
import type { SipRequest, SipResponse } from '../index.ts';
import type { TransactionTimerConfig, TransactionTimers } from './timers.ts';
import { transactionTimers } from './timers.ts';
import type { TransactionTransport } from './transport.ts';
import { WireCopy } from './wire-copy.ts';

/** The timers of each config, for unreliable and reliable transports: one object for all its transactions. */
const TIMERS = new WeakMap<TransactionTimerConfig, [TransactionTimers | undefined, TransactionTimers | undefined]>();

function sharedTimers(config: TransactionTimerConfig, reliable: boolean): TransactionTimers {
  let pair = TIMERS.get(config);
  if (pair === undefined) {
    pair = [undefined, undefined];
    TIMERS.set(config, pair);
  }
  const i = reliable ? 1 : 0;
  return (pair[i] ??= Object.freeze(transactionTimers(config, reliable)));
}

/** The four transaction kinds of RFC 3261 §17. */
export type TransactionKind = 'inviteClient' | 'nonInviteClient' | 'inviteServer' | 'nonInviteServer';

/** A message every transaction machine accepts. */
export interface TransportErrorMsg {
  readonly type: 'transportError';
  readonly error: unknown;
}

/**
 * Told when a transaction is Terminated: a function, or an object told which transaction (one object
 * can watch many transactions without a closure each).
 */
export type TerminationListener = ((reason: ExitReason) => void) | { transactionTerminated(transaction: Transaction, reason: ExitReason): void };

/** The result of handing a message to the transport: `undefined` when accepted, else the synchronous failure. */
export type TransmitFailure = { readonly error: unknown } | undefined;

/** The handle on one transaction; see `ClientTransaction` and `ServerTransaction`. */
export abstract class Transaction<M extends { readonly type: string } = { readonly type: string }> {
  readonly kind: TransactionKind;
  /** The manager's key (RFC 3261 §17.1.3 / §17.2.3). */
  readonly key: string;
  /** The method of the request that created the transaction. */
  readonly method: string;
  readonly transport: TransactionTransport;
  /** Every timer of this transaction, derived from the config and `transport.reliable`. */
  readonly timers: TransactionTimers;
  /** The request, while the transaction may still need it (see {@link releaseRequest}). */
  #request: SipRequest | undefined;
  /** The request's wire bytes, once released. */
  #requestCopy: WireCopy<SipRequest> | undefined;
  #ref: MachineRef<string, M> | undefined;
  #pending: M[] | undefined = [];
  /** The exit reason, once Terminated. */
  #exit: ExitReason | undefined;
  /** `terminated`, made on first use (most transactions are only watched through {@link onTerminated}). */
  #terminated: PromiseWithResolvers<ExitReason> | undefined;
  #listeners: TerminationListener | TerminationListener[] | undefined;

  constructor(kind: TransactionKind, key: string, request: SipRequest, transport: TransactionTransport, config: TransactionTimerConfig) {
    this.kind = kind;
    // Detached: both live as long as the transaction, and must not keep the message text alive.
    this.key = detach(key);
    this.method = detach(request.method);
    this.#request = request;
    this.transport = transport;
    this.timers = sharedTimers(config, transport.reliable);
  }

  /**
   * The request that created the transaction. Once the transaction is in a state that no longer
   * sends it or builds responses from it (see {@link releaseRequest}), an equal request is parsed
   * again from its wire bytes on each access.
   */
  get request(): SipRequest {
    return this.#request ?? this.#requestCopy!.message;
  }

  /**
   * Keeps only the request's wire bytes (in a buffer of their own, so no larger input buffer stays
   * alive): the parsed request, its header objects and caches can go while the transaction lives on
   * to absorb retransmissions (Timers D, I, J, K, L, M).
   * @internal machines only, on entering a state that does not use the request
   */
  releaseRequest(): void {
    const request = this.#request;
    if (request === undefined) return;
    this.#requestCopy = new WireCopy(request);
    this.#request = undefined;
  }

  /** Resolves with the machine's exit reason once the transaction is Terminated (or crashed, or failed to start). */
  get terminated(): Promise<ExitReason> {
    if (this.#terminated === undefined) {
      this.#terminated = Promise.withResolvers<ExitReason>();
      if (this.#exit !== undefined) this.#terminated.resolve(this.#exit);
    }
    return this.#terminated.promise;
  }

  /**
   * Calls `listener(reason)` once the transaction is Terminated (synchronously, as it terminates; at
   * once if it has): {@link terminated} without a promise per watcher.
   * @internal the transaction manager and the TU
   */
  onTerminated(listener: TerminationListener): void {
    if (this.#exit !== undefined) {
      this.#tell(listener, this.#exit);
      return;
    }
    const listeners = this.#listeners;
    if (listeners === undefined) this.#listeners = listener;
    else if (Array.isArray(listeners)) listeners.push(listener);
    else this.#listeners = [listeners, listener];
  }

  #tell(listener: TerminationListener, reason: ExitReason): void {
    if (typeof listener === 'function') listener(reason);
    else listener.transactionTerminated(this as unknown as Transaction, reason);
  }

  /**
   * The machine exited (the transaction watches it itself: no closure per transaction).
   * @internal the machine only
   */
  onChildExit(reason: ExitReason): void {
    this.#ended(reason);
  }

  #ended(reason: ExitReason): void {
    if (this.#exit !== undefined) return;
    this.#exit = reason;
    this.#terminated?.resolve(reason);
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners === undefined) return;
    if (Array.isArray(listeners)) for (const listener of listeners) this.#tell(listener, reason);
    else this.#tell(listeners, reason);
  }

  /** The machine, once started. */
  get machine(): MachineRef<string, M> | undefined {
    return this.#ref;
  }

  /** The RFC state (`calling`, `proceeding`, …); `starting` before the machine runs; `terminated` after. */
  get state(): string {
    const ref = this.#ref;
    if (ref === undefined) return this.#pending === undefined ? 'terminated' : 'starting';
    const status = ref.status();
    return status.exitReason === undefined ? status.state : 'terminated';
  }

  /** The machine's status (state, armed timers by RFC name); undefined before it started. */
  status(): MachineStatus<string, unknown> | undefined {
    return this.#ref?.status();
  }

  /**
   * Reports a transport failure that the transport learnt of after `send` returned (a flow that
   * closed, an ICMP error): RFC 3261 §17.1.4, §17.2.4.
   */
  transportError(error: unknown): void {
    this.deliver({ type: 'transportError', error } as TransportErrorMsg as unknown as M);
  }

  /**
   * Hands `message` to the transport. A synchronous failure is returned (the machine handles it in
   * the same transition); an asynchronous one comes back as a transport error event.
   * @internal machines only
   */
  transmit(message: SipRequest | SipResponse): TransmitFailure {
    try {
      const sent = this.transport.send(message);
      if (sent !== undefined) sent.catch((error: unknown) => this.transportError(error));
      return undefined;
    } catch (error) {
      return { error };
    }
  }

  /**
   * The machine started: deliver what arrived meanwhile, in order, and watch its exit.
   * @internal the transaction manager only
   */
  attach(ref: MachineRef<string, M>): void {
    const pending = this.#pending ?? [];
    this.#ref = ref;
    this.#pending = undefined;
    for (const msg of pending) ref.cast(msg);
    watchExit(ref, this);
  }

  /**
   * The machine could not be started: the transaction is over before it began.
   * @internal the transaction manager only
   */
  startFailed(error: unknown): void {
    this.#pending = undefined;
    this.#ended({ error });
  }

  /** Casts `msg` to the machine, or keeps it until the machine has started. */
  protected deliver(msg: M): void {
    if (this.#ref !== undefined) this.#ref.cast(msg);
    else this.#pending?.push(msg);
  }
}
