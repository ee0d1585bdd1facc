/** Shared fixtures of the transaction tests: messages, a recording transport, recording TUs. */
import { type Clock, SimulatedClock } from '../../../src/fsm/index.ts';
import { createResponse, parseMessage, serialize, type SipRequest, type SipResponse } from '../../../src/sip/index.ts';
import {
  type ClientTransaction,
  type ClientTransactionUser,
  type ClientTransportFailure,
  type ServerTransaction,
  type ServerTransactionUser,
  TransactionManager,
  type TransactionManagerOptions,
  type TransactionTransport,
} from '../../../src/sip/transaction/index.ts';

export function parse(text: string): SipRequest | SipResponse {
  const result = parseMessage(Buffer.from(text, 'latin1'));
  if (!result.ok) throw new Error(`fixture does not parse: ${result.error.reason}`);
  return result.message;
}

export function parseRequest(text: string): SipRequest {
  const message = parse(text);
  if (message.kind !== 'request') throw new Error('not a request');
  return message;
}

export interface RequestOptions {
  readonly method?: string;
  readonly branch?: string;
  /** Full top Via value; overrides `branch`/`sentBy`. */
  readonly via?: string;
  readonly sentBy?: string;
  readonly transport?: string;
  readonly cseq?: number;
  readonly cseqMethod?: string;
  readonly toTag?: string;
  readonly uri?: string;
  readonly callId?: string;
}

/** A request like one a UA sends (RFC 3665 style), with a Route set. */
export function request(options: RequestOptions = {}): SipRequest {
  const method = options.method ?? 'INVITE';
  const via = options.via ?? `SIP/2.0/${options.transport ?? 'UDP'} ${options.sentBy ?? 'client.atlanta.example.com:5060'};branch=${options.branch ?? 'z9hG4bK74bf9'}`;
  const lines = [
    `${method} ${options.uri ?? 'sip:bob@biloxi.example.com'} SIP/2.0`,
    `Via: ${via}`,
    'Via: SIP/2.0/UDP first.hop.example.com;branch=z9hG4bKfirst',
    'Max-Forwards: 69',
    'Route: <sip:ss1.atlanta.example.com;lr>, <sip:ss2.biloxi.example.com;lr>',
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
    `To: Bob <sip:bob@biloxi.example.com>${options.toTag === undefined ? '' : `;tag=${options.toTag}`}`,
    `Call-ID: ${options.callId ?? '3848276298220188511@atlanta.example.com'}`,
    `CSeq: ${options.cseq ?? 1} ${options.cseqMethod ?? method}`,
    'Contact: <sip:alice@client.atlanta.example.com>',
    'Content-Length: 0',
    '',
    '',
  ];
  return parseRequest(lines.join('\r\n'));
}

/** A response to `req` as the next hop would send it (copied Via etc.), re-parsed so it is a wire message. */
export function response(req: SipRequest, status: number, toTag = status === 100 ? undefined : 'as83kd9bs'): SipResponse {
  const made = createResponse(req, status, toTag === undefined ? {} : { toTag });
  const message = parse(Buffer.from(serialize(made)).toString('latin1'));
  if (message.kind !== 'response') throw new Error('not a response');
  return message;
}

/** One message handed to the transport, with the (simulated or real) time. */
export interface Sent {
  readonly at: number;
  readonly message: SipRequest | SipResponse;
}

/** A transport that records what it is given; `fail` makes the next sends throw (or reject, when `async`). */
export class RecordingTransport implements TransactionTransport {
  readonly reliable: boolean;
  readonly sent: Sent[] = [];
  readonly #clock: Clock;
  fail: { readonly error: Error; readonly async: boolean } | undefined;

  constructor(clock: Clock, reliable = false) {
    this.#clock = clock;
    this.reliable = reliable;
  }

  send(message: SipRequest | SipResponse): void | Promise<void> {
    if (this.fail !== undefined) {
      if (this.fail.async) return Promise.reject(this.fail.error);
      throw this.fail.error;
    }
    this.sent.push({ at: this.#clock.now(), message });
  }

  /** Times of the sent messages matching `filter`. */
  times(filter: (m: SipRequest | SipResponse) => boolean = () => true): number[] {
    return this.sent.filter((s) => filter(s.message)).map((s) => s.at);
  }

  /** Short labels: `INVITE`, `ACK`, `100`, `486`. */
  labels(): string[] {
    return this.sent.map((s) => (s.message.kind === 'request' ? s.message.method : String(s.message.status)));
  }
}

export type ClientReport =
  | { readonly type: 'response'; readonly status: number; readonly at: number }
  | { readonly type: 'timeout'; readonly status: number; readonly at: number }
  | { readonly type: 'transportError'; readonly status: number | undefined; readonly at: number; readonly error: unknown };

/** A client TU that records what it is told. */
export class RecordingClientTU implements ClientTransactionUser {
  readonly reports: ClientReport[] = [];
  readonly #clock: Clock;
  throwOnResponse = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }
  onResponse(response: SipResponse, _transaction: ClientTransaction): void {
    this.reports.push({ type: 'response', status: response.status, at: this.#clock.now() });
    if (this.throwOnResponse) throw new Error('TU bug');
  }
  onTimeout(response: SipResponse, _transaction: ClientTransaction): void {
    this.reports.push({ type: 'timeout', status: response.status, at: this.#clock.now() });
  }
  onTransportError(failure: ClientTransportFailure, _transaction: ClientTransaction): void {
    this.reports.push({ type: 'transportError', status: failure.response?.status, at: this.#clock.now(), error: failure.error });
  }
  labels(): string[] {
    return this.reports.map((r) => `${r.type}:${r.status}`);
  }
}

export type ServerReport =
  | { readonly type: 'request'; readonly method: string; readonly at: number }
  | { readonly type: 'ack'; readonly at: number }
  | { readonly type: 'timeout'; readonly at: number }
  | { readonly type: 'transportError'; readonly at: number; readonly error: unknown };

/** A server TU that records what it is told and optionally answers at once. */
export class RecordingServerTU implements ServerTransactionUser {
  readonly reports: ServerReport[] = [];
  readonly transactions: ServerTransaction[] = [];
  readonly #clock: Clock;
  /** Answer each new request at once with this status. */
  answer: number | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }
  onRequest(req: SipRequest, transaction: ServerTransaction): void {
    this.reports.push({ type: 'request', method: req.method, at: this.#clock.now() });
    this.transactions.push(transaction);
    if (this.answer !== undefined) transaction.respond(createResponse(req, this.answer, { toTag: 'uas1' }));
  }
  onAck(_ack: SipRequest, _transaction: ServerTransaction): void {
    this.reports.push({ type: 'ack', at: this.#clock.now() });
  }
  onTimeout(_transaction: ServerTransaction): void {
    this.reports.push({ type: 'timeout', at: this.#clock.now() });
  }
  onTransportError(error: unknown, _transaction: ServerTransaction): void {
    this.reports.push({ type: 'transportError', at: this.#clock.now(), error });
  }
  labels(): string[] {
    return this.reports.map((r) => (r.type === 'request' ? `request:${r.method}` : r.type));
  }
}

/** A manager on simulated time (RFC default timers unless given), with its clock. */
export async function simulated(options: TransactionManagerOptions = {}): Promise<{ clock: SimulatedClock; manager: TransactionManager }> {
  const clock = new SimulatedClock();
  const manager = await TransactionManager.start({ clock, ...options });
  return { clock, manager };
}

/** Successive differences: [0, 500, 1500] → [500, 1000]. */
export function intervals(times: readonly number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}
