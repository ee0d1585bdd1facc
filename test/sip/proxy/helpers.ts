/** Shared helpers of the proxy tests: a proxy on a real listener, UDP and TCP peers acting as UAC and UAS. */
import type { Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { RealClock } from '../../../src/fsm/index.ts';
import type { SipMessage, SipRequest, SipResponse } from '../../../src/sip/index.ts';
import { type ProxyTarget, SipProxy, type SipProxyOptions } from '../../../src/sip/proxy/index.ts';
import { TransactionManager } from '../../../src/sip/transaction/index.ts';
import { SipUdpTcpListener } from '../../../src/sip/transport/index.ts';
import { Arrivals, bindUdp, connectTcp, TcpPeerBase, UdpPeerBase } from '../peers.ts';

export const T1 = 10;

/** Messages received by a peer, waited for by a predicate. */
export class Mailbox extends Arrivals<SipMessage> {
  /** The first message matching that no earlier `next()` returned. */
  next(match: (m: SipMessage) => boolean, timeoutMs = 8000): Promise<SipMessage> {
    return this.take(match, timeoutMs);
  }

  request(method: string, timeoutMs?: number): Promise<SipRequest> {
    return this.next((m) => m.kind === 'request' && m.method === method, timeoutMs) as Promise<SipRequest>;
  }

  response(status: number, method?: string, timeoutMs?: number): Promise<SipResponse> {
    return this.next((m) => m.kind === 'response' && m.status === status && (method === undefined || m.cseq.method === method), timeoutMs) as Promise<SipResponse>;
  }

  count(match: (m: SipMessage) => boolean): number {
    return this.all.filter(match).length;
  }
}

/** A UDP peer on 127.0.0.1 (a UAC or a UAS); datagrams that do not parse are dropped. */
export class UdpPeer extends UdpPeerBase {
  readonly inbox = new Mailbox();
  /** Called for each message after it is queued (a UAS answering). */
  onMessage: ((message: SipMessage) => void) | undefined;

  private constructor(socket: UdpSocket) {
    super(socket);
  }

  static async open(): Promise<UdpPeer> {
    return new UdpPeer(await bindUdp());
  }

  protected override received(message: SipMessage): void {
    this.inbox.push(message);
    this.onMessage?.(message);
  }
}

/** A TCP client peer (a UAC) connected to the proxy; messages that do not parse are dropped. */
export class TcpPeer extends TcpPeerBase {
  readonly inbox = new Mailbox();

  private constructor(socket: Socket) {
    super(socket);
  }

  static async connect(port: number): Promise<TcpPeer> {
    return new TcpPeer(await connectTcp(port));
  }

  protected override received(message: SipMessage): void {
    this.inbox.push(message);
  }
}

export interface ProxyHarness {
  readonly proxy: SipProxy;
  readonly listener: SipUdpTcpListener;
  readonly transactions: TransactionManager;
  readonly port: number;
  readonly errors: unknown[];
  close(): Promise<void>;
}

/** A proxy on a `SipUdpTcpListener` on 127.0.0.1 port 0, with T1 = 10 ms. */
export async function startProxy(routes: (request: SipRequest) => ProxyTarget | undefined, options: Partial<SipProxyOptions> = {}): Promise<ProxyHarness> {
  const clock = new RealClock({ unref: false });
  const transactions = await TransactionManager.start({ clock, T1, T2: 4 * T1, T4: 5 * T1, timerD: 64 * T1 });
  const holder: { proxy?: SipProxy } = {};
  const listener = new SipUdpTcpListener({ host: '127.0.0.1', port: 0, user: { onMessage: (e) => holder.proxy?.onMessage(e) } });
  const { port } = await listener.listen();
  const errors: unknown[] = [];
  const proxy = new SipProxy({
    transactions,
    sender: listener,
    routes,
    localVia: { host: '127.0.0.1', port, transport: 'udp' },
    recordRoute: true,
    onError: (error) => errors.push(error),
    ...options,
  });
  holder.proxy = proxy;
  return {
    proxy,
    listener,
    transactions,
    port,
    errors,
    async close() {
      await listener.close();
      await transactions.stop();
    },
  };
}

let counter = 0;

export interface InviteOptions {
  readonly transport?: 'UDP' | 'TCP';
  readonly port: number;
  readonly uri?: string;
  readonly maxForwards?: number | undefined;
  readonly extra?: readonly string[];
}

/** An INVITE from alice (a UAC at 127.0.0.1:`port`) to `uri` (default `sip:bob@example.com`). */
export function invite(options: InviteOptions): string {
  const n = ++counter;
  const transport = options.transport ?? 'UDP';
  return [
    `INVITE ${options.uri ?? 'sip:bob@example.com'} SIP/2.0`,
    `Via: SIP/2.0/${transport} 127.0.0.1:${options.port};branch=z9hG4bKuac${n}x${Date.now()}`,
    ...(options.maxForwards === undefined && 'maxForwards' in options ? [] : [`Max-Forwards: ${options.maxForwards ?? 70}`]),
    `From: "Alice" <sip:alice@example.org>;tag=uac${n}`,
    'To: <sip:bob@example.com>',
    `Call-ID: call-${n}-${Date.now()}@127.0.0.1`,
    'CSeq: 1 INVITE',
    `Contact: <sip:alice@127.0.0.1:${options.port};transport=${transport.toLowerCase()}>`,
    ...(options.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The UAS answer to `request`: `status` with To tag `toTag` (except 100), Contact at `port` for INVITE 1xx/2xx, Record-Route copied (§12.1.1). */
export function answer(request: SipRequest, status: number, port: number, reason = 'Whatever', toTag = 'uas'): string {
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const f of request.headers) if (['via', 'record-route', 'from', 'call-id', 'cseq'].includes(f.key)) lines.push(f.wire);
  const to = request.get('to')!;
  lines.push(`To: ${status === 100 || request.to.tag !== undefined ? to : `${to};tag=${toTag}`}`);
  if (status >= 101 && status < 300 && request.method === 'INVITE') lines.push(`Contact: <sip:bob@127.0.0.1:${port}>`);
  lines.push('Content-Length: 0', '', '');
  return lines.join('\r\n');
}

/**
 * An in-dialog request from the UAC (§12.2.1.1): Request-URI the remote target (the 2xx Contact),
 * Route the Record-Route of the 2xx reversed, From/To/Call-ID of the dialog.
 */
export function inDialog(method: 'ACK' | 'BYE', ok: SipResponse, options: { transport?: 'UDP' | 'TCP' | 'WS'; port: number; seq?: number }): string {
  const contact = ok.contact;
  if (contact === '*' || contact[0] === undefined) throw new Error('the 2xx has no Contact');
  const routes = [...ok.recordRoute].reverse().map((r) => `Route: ${r.raw}`);
  return [
    `${method} ${contact[0].uri.raw} SIP/2.0`,
    `Via: SIP/2.0/${options.transport ?? 'UDP'} 127.0.0.1:${options.port};branch=z9hG4bK${method.toLowerCase()}${++counter}x${Date.now()}`,
    'Max-Forwards: 70',
    ...routes,
    `From: ${ok.get('from')}`,
    `To: ${ok.get('to')}`,
    `Call-ID: ${ok.callId}`,
    `CSeq: ${method === 'ACK' ? ok.cseq.seq : (options.seq ?? ok.cseq.seq + 1)} ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** A CANCEL for `inviteText` (same branch, Request-URI, Call-ID, From, To, CSeq number). */
export function cancelOf(inviteText: string): string {
  const lines = inviteText.split('\r\n');
  const pick = (name: string) => lines.find((l) => l.startsWith(`${name}:`))!;
  return [
    lines[0]!.replace(/^INVITE/, 'CANCEL'),
    pick('Via'),
    'Max-Forwards: 70',
    pick('From'),
    pick('To'),
    pick('Call-ID'),
    'CSeq: 1 CANCEL',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A UDP UAC, a UDP UAS and a proxy routing `example.com` to the UAS: the setup of most proxy tests. */
export interface UdpCall {
  readonly uac: UdpPeer;
  readonly uas: UdpPeer;
  readonly harness: ProxyHarness;
}

export async function openUdpCall(): Promise<UdpCall> {
  const uac = await UdpPeer.open();
  const uas = await UdpPeer.open();
  const harness = await startProxy((request) => (request.uri.kind === 'sip' && request.uri.host === 'example.com' ? { transport: 'udp', host: '127.0.0.1', port: uas.port } : undefined));
  return { uac, uas, harness };
}

export async function closeUdpCall(call: UdpCall): Promise<void> {
  await call.harness.close();
  await call.uac.close();
  await call.uas.close();
}
