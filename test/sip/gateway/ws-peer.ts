/** A raw SIP-over-WebSocket peer (RFC 7118) for gateway tests: the `ws` package, subprotocol `sip`. */
import WebSocket from 'ws';
import { parseMessage, type SipMessage } from '../../../src/sip/index.ts';
import { Mailbox } from '../proxy/helpers.ts';

/** A SIP-over-WebSocket client: one SIP message per WebSocket message. */
export class WsPeer {
  readonly inbox = new Mailbox();
  /** Every WebSocket message received, as text (also those that do not parse as SIP). */
  readonly raw: string[] = [];
  readonly socket: WebSocket;
  onMessage: ((m: SipMessage) => void) | undefined;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data: Buffer) => {
      this.raw.push(data.toString('latin1'));
      const result = parseMessage(new Uint8Array(data));
      if (!result.ok) return;
      this.inbox.push(result.message);
      this.onMessage?.(result.message);
    });
  }

  static async connect(port: number): Promise<WsPeer> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}`, 'sip');
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new WsPeer(socket);
  }

  /** Sends one WebSocket message: a text frame for a string, a binary frame for bytes. */
  send(data: string | Uint8Array): void {
    this.socket.send(data);
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close(1000);
    });
  }
}

