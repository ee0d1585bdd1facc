/**
 * A TCP flow: one connection, accepted or opened (RFC 3261 §18.3: messages framed by
 * Content-Length; RFC 5626 §3.5.1: CRLF keepalives). The owner feeds the socket's data to its framer
 * and reacts to the events; this class writes and closes.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { StreamFramer } from '../index.ts';
import { BaseFlow, type FlowInit } from './base-flow.ts';

/** How long a closing connection may take to flush before it is destroyed. */
const END_GRACE_MS = 2000;

export class TcpFlow extends BaseFlow {
  readonly transport = 'tcp' as const;
  readonly reliable = true;
  /** True for connections we opened (requests to upstream targets). */
  readonly outbound: boolean;
  readonly framer: StreamFramer;
  readonly #socket: Socket;

  constructor(init: FlowInit, socket: Socket, outbound: boolean, maxMessageBytes: number) {
    super(init);
    this.#socket = socket;
    this.outbound = outbound;
    // RFC 5626 §3.5.1: the side that opened the connection sends pings and receives pongs.
    this.framer = new StreamFramer({ maxMessageBytes, role: outbound ? 'client' : 'server' });
    socket.once('close', () => this.closedByPeer());
  }

  /** Writes raw bytes that are not a SIP message (a keepalive answer); errors are ignored. */
  writeRaw(bytes: string): void {
    if (!this.closed && this.#socket.writable) this.#socket.write(bytes, 'latin1');
  }

  protected write(bytes: Uint8Array, done: (error?: Error | null) => void): void {
    if (!this.#socket.writable) {
      done(new Error('socket not writable'));
      return;
    }
    this.#socket.write(bytes, done);
  }

  protected teardown(): void {
    const socket = this.#socket;
    if (socket.destroyed) return;
    socket.end();
    setTimeout(() => socket.destroy(), END_GRACE_MS).unref();
  }
}
