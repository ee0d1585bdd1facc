/**
 * The open flows of one or more listeners, by id and by flow token (RFC 5626 §5.2).
 *
 * A flow token is `base64url(HMAC-SHA256(key, flowId))` cut to 128 bits, with a key drawn at random
 * per table (so per process unless a key is given): a token names exactly one flow, cannot be forged
 * without the key, and reveals nothing about addresses. RFC 5626 §5.2 suggests this construction.
 * Share one table between the `sip` and `sip-ws` listeners so a token from either finds its flow.
 *
 * @module
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Flow, TransportName } from './flow.ts';

export interface FlowTableOptions {
  /** HMAC key (at least 16 bytes); random by default. Give one only to keep tokens valid across tables. */
  readonly key?: Uint8Array;
}

export class FlowTable {
  readonly #key: Buffer;
  readonly #byToken = new Map<string, Flow>();
  readonly #byId = new Map<string, Flow>();
  /** A per-table prefix keeps ids unique when several tables live in one process. */
  readonly #prefix = randomBytes(3).toString('hex');
  #next = 0;

  constructor(options: FlowTableOptions = {}) {
    if (options.key !== undefined && options.key.length < 16) throw new RangeError('flow token key must be at least 16 bytes');
    this.#key = options.key === undefined ? randomBytes(32) : Buffer.from(options.key);
  }

  /** A new flow id and its token, for a flow about to be created. */
  allocate(transport: TransportName): { id: string; token: string } {
    const id = `${transport}-${this.#prefix}-${++this.#next}`;
    return { id, token: this.tokenOf(id) };
  }

  /** The token of flow id `id` (RFC 5626 §5.2). */
  tokenOf(id: string): string {
    return createHmac('sha256', this.#key).update(id).digest('base64url').slice(0, 22);
  }

  /** Registers an open flow. */
  add(flow: Flow): void {
    this.#byId.set(flow.id, flow);
    this.#byToken.set(flow.token, flow);
  }

  /** Forgets a flow (called when it closes). */
  delete(flow: Flow): void {
    if (this.#byId.get(flow.id) === flow) this.#byId.delete(flow.id);
    if (this.#byToken.get(flow.token) === flow) this.#byToken.delete(flow.token);
  }

  /** The open flow named by `token`, or undefined (never was, or closed: answer 430 Flow Failed, RFC 5626 §5.3). */
  byToken(token: string): Flow | undefined {
    const flow = this.#byToken.get(token);
    return flow === undefined || flow.closed ? undefined : flow;
  }

  /** The open flow with id `id`, or undefined. */
  byId(id: string): Flow | undefined {
    const flow = this.#byId.get(id);
    return flow === undefined || flow.closed ? undefined : flow;
  }

  /** Open flows. */
  get size(): number {
    return this.#byId.size;
  }

  /** The open flows, in creation order. */
  [Symbol.iterator](): IterableIterator<Flow> {
    return this.#byId.values();
  }
}
