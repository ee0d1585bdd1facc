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

  async send(data: Uint8Array | SipMessage): Promise<void> {
    if (this.#closed) throw new SipTransportError('TANDEM_ERR_SIP_FLOW_CLOSED', `flow ${this.id} is closed`);
    const bytes = data instanceof Uint8Array ? data : serialize(data);
    try {
      await this.write(bytes);
    } catch (error) {
      if (error instanceof SipTransportError) throw error;
      throw new SipTransportError(this.#closed ? 'TANDEM_ERR_SIP_FLOW_CLOSED' : 'TANDEM_ERR_SIP_SEND', `sending on flow ${this.id} failed`, { cause: error });
    }
    this.#counters.sent++;
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

  /** Writes bytes; resolves when the socket accepted them. */
  protected abstract write(bytes: Uint8Array): Promise<void>;
  /** Releases the socket (called once, from close()). */
  protected abstract teardown(): void;

  toJSON(): { id: string; transport: TransportName; local: FlowAddress; remote: FlowAddress } {
    return { id: this.id, transport: this.transport, local: this.local, remote: this.remote };
  }
}
