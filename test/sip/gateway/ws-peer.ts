/** A raw SIP-over-WebSocket peer (RFC 7118) for gateway tests: the `ws` package, subprotocol `sip`. */
import { isUtf8 } from 'node:buffer';
import WebSocket from 'ws';
import { parseMessage, type SipMessage, type SipRequest } from '../../../src/sip/index.ts';
import { Mailbox } from '../proxy/helpers.ts';

/** A SIP-over-WebSocket client: one SIP message per WebSocket message. */
export class WsPeer {
  readonly inbox = new Mailbox();
  /** Every WebSocket message received, as text (also those that do not parse as SIP). */
  readonly raw: string[] = [];
  /** Every WebSocket message received, with its arrival time (`performance.now()`) and frame type. */
  readonly frames: { readonly at: number; readonly bytes: Buffer; readonly binary: boolean }[] = [];
  readonly socket: WebSocket;
  /** The local TCP port of the connection (the `rport` the gateway stamps on a request from it). */
  readonly port: number;
  /** The close code, once the connection closed. */
  closeCode: number | undefined;
  /** Resolves with the close code. */
  readonly closedPromise: Promise<number>;
  onMessage: ((m: SipMessage) => void) | undefined;

  private constructor(socket: WebSocket, port: number) {
    this.socket = socket;
    this.port = port;
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', (code: number) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
    socket.on('message', (data: Buffer, binary: boolean) => {
      this.frames.push({ at: performance.now(), bytes: data, binary });
      this.raw.push(data.toString('latin1'));
      const result = parseMessage(new Uint8Array(data));
      if (!result.ok) return;
      this.inbox.push(result.message);
      this.onMessage?.(result.message);
    });
  }

  static async connect(port: number): Promise<WsPeer> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}`, 'sip');
    let localPort = 0;
    socket.once('upgrade', (response) => {
      localPort = response.socket.localPort ?? 0;
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new WsPeer(socket, localPort);
  }

  get closed(): boolean {
    return this.closeCode !== undefined;
  }

  /** Sends one WebSocket message: a text frame for a string, a binary frame for bytes. */
  send(data: string | Uint8Array): void {
    this.socket.send(data);
  }

  /** Sends `bytes` as one WebSocket message: a text frame when they are valid UTF-8, else a binary frame (RFC 7118 §5.1). */
  sendBytes(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, { binary: !isUtf8(bytes) }, (e) => (e ? reject(e) : resolve())));
  }

  /** Resolves true when the connection closes within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closedPromise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close(1000);
    });
  }
}


/**
 * A WebSocket client's answer to a request it received: Via, Record-Route, From, Call-ID and CSeq
 * copied, To tagged `tag` unless it has a tag, and for an INVITE below 300 a Contact at `contact`.
 */
export function wsAnswer(request: SipRequest, status: number, reason: string, uas: { readonly tag: string; readonly contact: string }): string {
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const f of request.headers) if (['via', 'record-route', 'from', 'call-id', 'cseq'].includes(f.key)) lines.push(f.wire);
  lines.push(`To: ${request.get('to')}${request.to.tag === undefined ? `;tag=${uas.tag}` : ''}`);
  if (request.method === 'INVITE' && status < 300) lines.push(`Contact: <${uas.contact}>`);
  lines.push('Content-Length: 0', '', '');
  return lines.join('\r\n');
}
