/**
 * A UDP flow: one remote address and port on a listener's UDP socket (RFC 5626 §3.1: a flow over UDP
 * is the 5-tuple). Sends go out of the listener's socket, so the peer sees the port it sent to
 * (RFC 3581 §4: the response is sent "from the same address and port that the corresponding request
 * was received on"). Closing a UDP flow only forgets it; the socket belongs to the listener.
 *
 * @module
 */
import type { Socket } from 'node:dgram';
import { BaseFlow, type FlowInit } from './base-flow.ts';

export class UdpFlow extends BaseFlow {
  readonly transport = 'udp' as const;
  readonly reliable = false;
  readonly #socket: Socket;
  /** `performance.now()` of the last datagram in or out, for idle expiry. */
  lastActivity = performance.now();

  constructor(init: FlowInit, socket: Socket) {
    super(init);
    this.#socket = socket;
  }

  protected write(bytes: Uint8Array, done: (error?: Error | null) => void): void {
    this.lastActivity = performance.now();
    try {
      this.#socket.send(bytes, this.remote.port, this.remote.address, done);
    } catch (error) {
      // dgram throws synchronously for a closed socket or bad arguments.
      done(error as Error);
    }
  }

  protected teardown(): void {}
}
