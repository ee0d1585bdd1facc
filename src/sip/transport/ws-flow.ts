/**
 * A WebSocket flow (RFC 7118): one connection with subprotocol `sip`, one SIP message per WebSocket
 * message. Messages are sent as text frames when they are valid UTF-8 and as binary frames otherwise
 * (RFC 7118 §5.1: either is allowed; a body that is not UTF-8 needs a binary frame). Closing sends
 * close code 1001 Going Away (RFC 6455 §7.4.1) and terminates the connection if the peer does not
 * complete the closing handshake in time.
 *
 * @module
 */
import { isUtf8 } from 'node:buffer';
import type WebSocket from 'ws';
import { BaseFlow, type FlowInit } from './base-flow.ts';

export class WsFlow extends BaseFlow {
  readonly transport = 'ws' as const;
  readonly reliable = true;
  readonly #ws: WebSocket;
  readonly #closeTimeoutMs: number;
  /** Set on every pong and message; cleared when a ping is sent (keepalive). */
  alive = true;

  constructor(init: FlowInit, ws: WebSocket, closeTimeoutMs: number) {
    super(init);
    this.#ws = ws;
    this.#closeTimeoutMs = closeTimeoutMs;
    ws.once('close', () => this.closedByPeer());
  }

  /** The WebSocket, for the listener (keepalive pings, close waits). */
  get socket(): WebSocket {
    return this.#ws;
  }

  protected write(bytes: Uint8Array, done: (error?: Error | null) => void): void {
    if (this.#ws.readyState !== this.#ws.OPEN) {
      done(new Error('WebSocket not open'));
      return;
    }
    this.#ws.send(bytes, { binary: !isUtf8(bytes) }, done);
  }

  protected teardown(): void {
    const ws = this.#ws;
    if (ws.readyState === ws.CLOSED) return;
    if (ws.readyState === ws.CONNECTING) {
      ws.terminate();
      return;
    }
    ws.close(1001, 'Going Away');
    setTimeout(() => ws.terminate(), this.#closeTimeoutMs).unref();
  }
}
