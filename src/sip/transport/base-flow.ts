/**
 * What every flow shares: identity, the closed state, serialization and counting of sends.
 *
 * @module
 */
import { serialize, type SipMessage } from '../index.ts';
import { SipTransportError } from './errors.ts';
import type { Flow, FlowAddress, TransportName } from './flow.ts';
import type { TransportCounters } from './transport-stats.ts';

export interface FlowInit {
  readonly id: string;
  readonly token: string;
  readonly local: FlowAddress;
  readonly remote: FlowAddress;
  /** The counters of this flow's transport (`sent` is counted here). */
  readonly counters: TransportCounters;
  /** Called once when the flow closes, for whatever reason. */
  readonly onClose: (flow: Flow) => void;
}

export abstract class BaseFlow implements Flow {
  readonly id: string;
  readonly token: string;
  readonly local: FlowAddress;
  readonly remote: FlowAddress;
  abstract readonly transport: TransportName;
  abstract readonly reliable: boolean;
  readonly #counters: TransportCounters;
  readonly #onClose: (flow: Flow) => void;
  #closed = false;

  constructor(init: FlowInit) {
    this.id = init.id;
    this.token = init.token;
    this.local = init.local;
    this.remote = init.remote;
    this.#counters = init.counters;
    this.#onClose = init.onClose;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one message: one promise, settled from the socket's callback (no async layers: a proxied
   * call sends six to eight of these, and each promise and microtask hop shows in its CPU cost).
   */
  send(data: Uint8Array | SipMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new SipTransportError('TANDEM_ERR_SIP_FLOW_CLOSED', `flow ${this.id} is closed`));
    let bytes: Uint8Array;
    try {
      bytes = data instanceof Uint8Array ? data : serialize(data);
    } catch (error) {
      return Promise.reject(this.#sendError(error));
    }
    return new Promise((resolve, reject) => {
      this.write(bytes, (error) => {
        if (error === undefined || error === null) {
          this.#counters.sent++;
          resolve();
        } else reject(this.#sendError(error));
      });
    });
  }

  #sendError(error: unknown): SipTransportError {
    if (error instanceof SipTransportError) return error;
    return new SipTransportError(this.#closed ? 'TANDEM_ERR_SIP_FLOW_CLOSED' : 'TANDEM_ERR_SIP_SEND', `sending on flow ${this.id} failed`, { cause: error });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.teardown();
    this.#onClose(this);
  }

  /** For subclasses: the peer or the socket ended the flow. */
  protected closedByPeer(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(this);
  }

  /**
   * Writes bytes and calls `done` once, with nothing when the socket accepted them or with the error.
   * May call `done` synchronously for an error found before writing.
   */
  protected abstract write(bytes: Uint8Array, done: (error?: Error | null) => void): void;
  /** Releases the socket (called once, from close()). */
  protected abstract teardown(): void;

  toJSON(): { id: string; transport: TransportName; local: FlowAddress; remote: FlowAddress } {
    return { id: this.id, transport: this.transport, local: this.local, remote: this.remote };
  }
}
