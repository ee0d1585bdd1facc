/**
 * Real sip.js (0.21) user agents running in Node as SIP-over-WebSocket clients (RFC 7118), for
 * acceptance tests against Tandem's `sip-ws` listener.
 *
 * - **WebSocket.** sip.js's Web transport (`Web.Transport`, the one browsers use) calls
 *   `new WebSocket(server, "sip")` on the global `WebSocket` and has no option to pass another
 *   implementation. {@link NodeWsTransport} subclasses it and, for the one synchronous call in which
 *   sip.js constructs its socket, points `globalThis.WebSocket` at the `ws` package's class (a
 *   WebSocket-compatible constructor: `addEventListener`, `binaryType = 'arraybuffer'`, `close(code)`),
 *   then restores the original property. It is plugged in through sip.js's supported
 *   `UserAgentOptions.transportConstructor`; everything else (framing, CRLF keepalives, state machine)
 *   is sip.js's own browser code.
 * - **Media.** No WebRTC: {@link StaticSessionDescriptionHandler} offers and answers a fixed SDP.
 * - **Trace.** Every SIP message the client sends or receives is recorded in {@link SipTrace}, in
 *   wire order (received messages are recorded before sip.js handles them).
 * - **Teardown.** {@link SipJsClient.stop} hangs up, unregisters (bounded), disposes every sip.js
 *   timer (transactions, registration refresh, no-answer) and waits for the socket to close.
 *
 * ```ts
 * const alice = createSipJsClient({ wsUrl: `ws://127.0.0.1:${port}`, aor: 'sip:alice@example.com' });
 * await alice.start();
 * expect((await alice.register()).status).toBe(200);
 * const call = alice.call('sip:bob@example.com');
 * await call.established;
 * await call.bye();
 * await alice.stop();
 * ```
 *
 * @module
 */
import {
  type BodyAndContentType,
  type Core,
  type Invitation,
  Inviter,
  type LogLevel,
  Registerer,
  RegistererState,
  type Session,
  type SessionDescriptionHandler,
  type SessionDescriptionHandlerFactory,
  SessionState,
  TransportState,
  UserAgent,
  type UserAgentOptions,
  Web,
} from 'sip.js';
import WebSocket from 'ws';
import { type NameAddr, parseMessage, type SipMessage } from '../../src/sip/index.ts';

// ---------------------------------------------------------------------------------------------
// Media: a static SDP session description handler
// ---------------------------------------------------------------------------------------------

/** Builds a minimal audio SDP (RFC 4566) for offers and answers: PCMU on `port` at `address`. */
export function staticSdp(options: { readonly address?: string; readonly port?: number; readonly sessionId?: number } = {}): string {
  const address = options.address ?? '127.0.0.1';
  const id = options.sessionId ?? 1;
  return [
    'v=0',
    `o=- ${id} ${id} IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${options.port ?? 40000} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

/** The SDP the stub handler offers and answers with unless a client is given another. */
export const STATIC_SDP = staticSdp();

/**
 * sip.js `SessionDescriptionHandler` without media: `getDescription` always yields the static SDP
 * (`{ body, contentType: 'application/sdp' }`), `setDescription` records the remote SDP and accepts it,
 * `hasDescription` is true for `application/sdp` only; `close`, `sendDtmf` (returns true) and
 * `rollbackDescription` do nothing.
 */
export class StaticSessionDescriptionHandler implements SessionDescriptionHandler {
  readonly sdp: string;
  /** Remote SDPs given to `setDescription`, in order (offer or answer from the peer). */
  readonly remote: string[] = [];
  closed = false;

  constructor(sdp: string = STATIC_SDP) {
    this.sdp = sdp;
  }

  getDescription(): Promise<BodyAndContentType> {
    return Promise.resolve({ body: this.sdp, contentType: 'application/sdp' });
  }

  setDescription(sdp: string): Promise<void> {
    this.remote.push(sdp);
    return Promise.resolve();
  }

  hasDescription(contentType: string): boolean {
    return contentType.split(';')[0]!.trim().toLowerCase() === 'application/sdp';
  }

  rollbackDescription(): Promise<void> {
    return Promise.resolve();
  }

  sendDtmf(): boolean {
    return true;
  }

  close(): void {
    this.closed = true;
  }
}

/** A `sessionDescriptionHandlerFactory` making one {@link StaticSessionDescriptionHandler} per session. */
export function staticSessionDescriptionHandlerFactory(sdp: string = STATIC_SDP): SessionDescriptionHandlerFactory {
  return () => new StaticSessionDescriptionHandler(sdp);
}

// ---------------------------------------------------------------------------------------------
// Transport: sip.js's Web transport on the `ws` package
// ---------------------------------------------------------------------------------------------

/**
 * sip.js's browser transport (`Web.Transport`) with the `ws` package as its WebSocket. Give it to a
 * `UserAgent` as `transportConstructor`, with `transportOptions: { server: 'ws://127.0.0.1:port' }`.
 *
 * sip.js looks `WebSocket` up on the global object inside `connect()`, synchronously, and nowhere
 * else; the override swaps the global for exactly that call (no other code can run in between) and
 * puts the original property descriptor back.
 */
export class NodeWsTransport extends Web.Transport {
  override connect(): Promise<void> {
    const original = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
    Object.defineProperty(globalThis, 'WebSocket', { value: WebSocket, configurable: true, writable: true, enumerable: false });
    try {
      return super.connect();
    } finally {
      if (original === undefined) Reflect.deleteProperty(globalThis, 'WebSocket');
      else Object.defineProperty(globalThis, 'WebSocket', original);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Trace
// ---------------------------------------------------------------------------------------------

/** One SIP message the client sent or received over its WebSocket. */
export interface SipTraceEntry {
  readonly direction: 'sent' | 'received';
  /** `performance.now()` when recorded (ms). */
  readonly at: number;
  /** The message text as it went over the WebSocket. */
  readonly raw: string;
  /** Parsed with Tandem's parser; undefined when it does not parse. */
  readonly message: SipMessage | undefined;
  /** Request method; for a response, the CSeq method. */
  readonly method: string | undefined;
  /** Response status; undefined for a request. */
  readonly status: number | undefined;
  readonly callId: string | undefined;
}

/** What {@link SipTrace.find} and {@link SipTrace.wait} match; every given field must be equal. */
export interface TraceFilter {
  readonly direction?: 'sent' | 'received';
  /** Request method, or the CSeq method of a response. */
  readonly method?: string;
  /** `'request'` or `'response'`. */
  readonly kind?: 'request' | 'response';
  readonly status?: number;
  readonly callId?: string;
}

/** The record of a client's SIP traffic, in order. CRLF keepalives are left out. */
export class SipTrace {
  readonly entries: SipTraceEntry[] = [];
  readonly #listeners = new Set<(entry: SipTraceEntry) => void>();
  readonly #waiters = new Set<{ match: (e: SipTraceEntry) => boolean; resolve: (e: SipTraceEntry) => void }>();

  /** @internal Records one message. */
  record(direction: 'sent' | 'received', raw: string): void {
    if (/^(\r\n)*$/.test(raw)) return;
    const parsed = parseMessage(Buffer.from(raw, 'utf8'));
    const message = parsed.ok ? parsed.message : undefined;
    let method: string | undefined;
    let status: number | undefined;
    let callId: string | undefined;
    if (message !== undefined) {
      status = message.kind === 'response' ? message.status : undefined;
      method = message.kind === 'request' ? message.method : safe(() => message.cseq.method);
      callId = safe(() => message.callId);
    } else {
      const line = raw.slice(0, raw.indexOf('\r\n'));
      const m = /^SIP\/2\.0 (\d{3})/.exec(line);
      if (m) status = Number(m[1]);
      else method = line.split(' ')[0];
    }
    const entry: SipTraceEntry = { direction, at: performance.now(), raw, message, method, status, callId };
    this.entries.push(entry);
    for (const listener of this.#listeners) listener(entry);
    for (const waiter of this.#waiters) {
      if (waiter.match(entry)) {
        this.#waiters.delete(waiter);
        waiter.resolve(entry);
      }
    }
  }

  /** Calls `listener` with every entry recorded from now on; returns an unsubscribe function. */
  subscribe(listener: (entry: SipTraceEntry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Entries matching `filter`, in order. */
  filter(filter: TraceFilter | ((entry: SipTraceEntry) => boolean)): SipTraceEntry[] {
    const match = matcher(filter);
    return this.entries.filter(match);
  }

  /** The first entry matching `filter`. */
  find(filter: TraceFilter | ((entry: SipTraceEntry) => boolean)): SipTraceEntry | undefined {
    return this.entries.find(matcher(filter));
  }

  /** Statuses of the responses matching `filter` (e.g. `{ direction: 'received', method: 'INVITE' }` → `[100, 180, 200]`). */
  statuses(filter: TraceFilter = {}): number[] {
    return this.filter({ ...filter, kind: 'response' }).map((e) => e.status!);
  }

  /**
   * The first entry matching `filter`, already recorded or arriving within `timeoutMs` (default 5000 ms);
   * rejects on timeout with the trace's start lines in the message.
   */
  wait(filter: TraceFilter | ((entry: SipTraceEntry) => boolean), timeoutMs = 5000): Promise<SipTraceEntry> {
    const match = matcher(filter);
    const found = this.entries.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (e: SipTraceEntry) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`no SIP message matching ${JSON.stringify(typeof filter === 'function' ? '(predicate)' : filter)} within ${timeoutMs} ms; trace:\n${this.summary()}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** One line per entry: `→ INVITE sip:bob@example.com SIP/2.0` / `← SIP/2.0 180 Ringing`. */
  summary(): string {
    return this.entries.map((e) => `${e.direction === 'sent' ? '→' : '←'} ${e.raw.slice(0, e.raw.indexOf('\r\n'))}`).join('\n');
  }
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

function matcher(filter: TraceFilter | ((entry: SipTraceEntry) => boolean)): (entry: SipTraceEntry) => boolean {
  if (typeof filter === 'function') return filter;
  return (e) =>
    (filter.direction === undefined || e.direction === filter.direction) &&
    (filter.method === undefined || e.method === filter.method) &&
    (filter.kind === undefined || (filter.kind === 'response') === (e.status !== undefined)) &&
    (filter.status === undefined || e.status === filter.status) &&
    (filter.callId === undefined || e.callId === filter.callId);
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/** A SIP failure seen by the client: a final non-2xx status (also sip.js's internal 408 on timeout), or none. */
export class SipJsError extends Error {
  /** Final status, when there was one. */
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'SipJsError';
    this.status = status;
  }
}

/**
 * What the client does with an incoming INVITE (after sip.js's automatic 100 Trying):
 * - `auto`: 180 Ringing, then 200 OK with the static SDP after `ringMs` (default 0 ms);
 * - `ring`: 180 Ringing and nothing more, until the test calls {@link SipJsCall.accept} or
 *   {@link SipJsCall.reject}, the caller cancels, or `noAnswerTimeoutSec` expires (480);
 * - `reject`: the final `status` (default 486 Busy Here);
 * - `manual`: nothing beyond the 100.
 */
export type AnswerPolicy =
  | { readonly mode: 'auto'; readonly ringMs?: number }
  | { readonly mode: 'ring' }
  | { readonly mode: 'reject'; readonly status?: number }
  | { readonly mode: 'manual' };

export interface SipJsClientOptions {
  /** The listener, `ws://127.0.0.1:PORT` (sip.js accepts `ws:` and `wss:`). */
  readonly wsUrl: string;
  /** Address of record, `sip:alice@example.com`: the From of requests and the To of REGISTER. */
  readonly aor: string;
  readonly displayName?: string;
  /** User part of the Contact (default: random, as sip.js does; its host is always `<random>.invalid`). */
  readonly contactName?: string;
  /** Digest credentials (RFC 3261 §22), used on 401/407. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Expiry asked for in REGISTER (seconds, default 300). */
  readonly registerExpiresSec?: number;
  /** Incoming INVITE handling (default `{ mode: 'auto' }`). */
  readonly answer?: AnswerPolicy;
  /** SDP offered and answered (default {@link STATIC_SDP}). */
  readonly sdp?: string;
  /** Seconds before an unanswered incoming INVITE gets 480 (sip.js `noAnswerTimeout`, default 60). */
  readonly noAnswerTimeoutSec?: number;
  /** Seconds sip.js waits for the WebSocket to open (default 3). */
  readonly connectionTimeoutSec?: number;
  /** sip.js log level collected into {@link SipJsClient.logs} (default `warn`). */
  readonly logLevel?: LogLevel;
  /** Also called with each sip.js log line (e.g. `console.error` while debugging). */
  readonly onLog?: (line: string) => void;
  /** Any other sip.js `UserAgentOptions`, applied last. */
  readonly userAgentOptions?: Partial<UserAgentOptions>;
}

/** The outcome of a REGISTER. */
export interface RegisterOutcome {
  /** Final status (200…299). */
  readonly status: number;
  /** Expiry the registrar granted our Contact (its `expires` parameter, else the Expires header), seconds. */
  readonly expiresSec: number | undefined;
}

/** How a call ended. */
export interface CallEnd {
  /**
   * Final status of the initial INVITE: received (outgoing) or sent (incoming); sip.js's internal 408
   * when Timer B (32 s) fires, which it only does while no response at all came; undefined when none
   * was seen (e.g. the socket closed first).
   */
  readonly finalStatus: number | undefined;
  /**
   * Who ended an established call: `local` (we sent BYE), `remote` (we got BYE), or undefined. sip.js
   * terminates the session when it sends BYE, before the BYE's response: {@link SipJsCall.bye} waits
   * for that status.
   */
  readonly byeBy: 'local' | 'remote' | undefined;
}

/** One call, outgoing (an `Inviter`) or incoming (an `Invitation`). */
export interface SipJsCall {
  readonly direction: 'outgoing' | 'incoming';
  readonly session: Inviter | Invitation;
  readonly callId: string;
  /** Provisional statuses received (outgoing) or sent (incoming), in order, 100 included. */
  readonly provisional: readonly number[];
  /** Final status of the initial INVITE once known (see {@link CallEnd.finalStatus}). */
  readonly finalStatus: number | undefined;
  /** The remote SDP (offer or answer) last given to the session description handler. */
  readonly remoteSdp: string | undefined;
  /**
   * Resolves when the session is established (outgoing: 2xx received and ACK sent; incoming: our 2xx
   * sent, sip.js does not wait for the ACK); rejects with
   * a {@link SipJsError} carrying the final status when it ends first. Already marked handled: not
   * awaiting it is not an unhandled rejection.
   */
  readonly established: Promise<void>;
  /** Resolves when the session is terminated (never rejects). */
  readonly terminated: Promise<CallEnd>;
  /**
   * Sends BYE on an established call; resolves with the BYE's final status (2xx), rejects with a
   * {@link SipJsError} on a non-2xx (sip.js's internal 408 after Timer F, 32 s) or after `timeoutMs`
   * (default 5000 ms).
   */
  bye(options?: { readonly timeoutMs?: number }): Promise<number>;
  /**
   * Sends CANCEL on an outgoing call not yet answered; resolves with the INVITE's final status (487
   * expected; 200 when the answer crossed the CANCEL, sip.js then ACKs and BYEs it). Rejects after
   * `timeoutMs` (default 5000 ms) without a final response: sip.js clears Timer B on the first
   * provisional response and has no Timer C, so it would wait for ever.
   */
  cancel(options?: { readonly timeoutMs?: number }): Promise<number | undefined>;
  /** Incoming only: sends 180 Ringing (what the `auto` and `ring` policies do); resolves once sent. */
  ring(): Promise<void>;
  /** Incoming only: sends 200 OK with the static SDP; resolves once sent. */
  accept(): Promise<void>;
  /** Incoming only: sends a final `status` (default 486). */
  reject(status?: number): Promise<void>;
}

/** A sip.js user agent in Node, connected over `ws` (see the module doc). */
export interface SipJsClient {
  readonly ua: UserAgent;
  readonly aor: string;
  /** The Contact URI sip.js puts in REGISTER and INVITE (`sip:<user>@<random>.invalid;transport=ws`). */
  readonly contact: string;
  /** The `*.invalid` sent-by host of every Via the client sends (RFC 7118 §5). */
  readonly viaHost: string;
  readonly trace: SipTrace;
  /** sip.js log lines (`level category | text`) at or above the configured level. */
  readonly logs: readonly string[];
  /** Every call made or received, in order. */
  readonly calls: readonly SipJsCall[];
  /** Opens the WebSocket; rejects when it cannot. */
  start(): Promise<void>;
  /**
   * Gracefully (default) sends BYE/CANCEL for live calls and unregisters, waiting at most
   * `timeoutMs` (default 2000 ms) for answers; then disposes every sip.js timer, closes the WebSocket
   * (1000) and waits for it to close. Idempotent.
   */
  stop(options?: { readonly graceful?: boolean; readonly timeoutMs?: number }): Promise<void>;
  /**
   * Sends REGISTER (Contact `;expires=`, `expiresSec` taken on the first call only: sip.js keeps one
   * `Registerer` per client, and re-registers by itself before expiry); resolves on a 2xx sip.js
   * accepted; rejects with a {@link SipJsError} on a non-2xx, on a 2xx sip.js dropped (no Contact of
   * ours with an expiry), or after `timeoutMs` (default 10000 ms).
   */
  register(options?: { readonly expiresSec?: number; readonly timeoutMs?: number }): Promise<RegisterOutcome>;
  /** Removes our binding (REGISTER with `expires=0` for our Contact); resolves with the final status. */
  unregister(options?: { readonly timeoutMs?: number }): Promise<number>;
  /** Sends INVITE (with the static SDP offer) to `target` (`sip:bob@example.com`). */
  call(target: string, options?: { readonly extraHeaders?: readonly string[] }): SipJsCall;
  /** The next incoming call not yet taken by an earlier `nextIncoming` (rejects after `timeoutMs`, default 5000). */
  nextIncoming(timeoutMs?: number): Promise<SipJsCall>;
  /** Called for each incoming call after the answer policy was applied; returns an unsubscribe function. */
  onInvite(handler: (call: SipJsCall) => void): () => void;
}

const MAX_LOG_LINES = 2000;
const LOG_RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, log: 2, debug: 3 };

/** Creates a client; nothing is sent until {@link SipJsClient.start}. */
export function createSipJsClient(options: SipJsClientOptions): SipJsClient {
  return new Client(options);
}

class Client implements SipJsClient {
  readonly ua: UserAgent;
  readonly aor: string;
  readonly trace = new SipTrace();
  readonly logs: string[] = [];
  readonly calls: CallImpl[] = [];
  readonly #options: SipJsClientOptions;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Rejecters of bounded operations still waiting, called by stop(). */
  readonly #pending = new Set<() => void>();
  readonly #incoming: CallImpl[] = [];
  readonly #incomingWaiters: ((call: CallImpl) => void)[] = [];
  readonly #inviteHandlers = new Set<(call: SipJsCall) => void>();
  #registerer: Registerer | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: SipJsClientOptions) {
    this.#options = options;
    this.aor = options.aor;
    const uri = UserAgent.makeURI(options.aor);
    if (uri === undefined) throw new TypeError(`not a SIP URI: ${options.aor}`);
    const level = options.logLevel ?? 'warn';
    this.ua = new UserAgent({
      uri,
      displayName: options.displayName,
      contactName: options.contactName,
      authorizationUsername: options.auth?.username,
      authorizationPassword: options.auth?.password,
      transportConstructor: NodeWsTransport,
      // traceSip off: the trace below records the exact strings instead of log lines.
      transportOptions: { server: options.wsUrl, connectionTimeout: options.connectionTimeoutSec ?? 3, traceSip: false },
      sessionDescriptionHandlerFactory: staticSessionDescriptionHandlerFactory(options.sdp),
      noAnswerTimeout: options.noAnswerTimeoutSec ?? 60,
      // sip.js always sends 100 Trying; its automatic 180 is replaced by the answer policy.
      sendInitialProvisionalResponse: false,
      // stop() does the graceful part itself, bounded; sip.js's own can wait for Timer F (32 s).
      gracefulShutdown: false,
      logBuiltinEnabled: false,
      logConfiguration: false,
      logLevel: level,
      // sip.js applies logLevel to its console output only; the connector gets every line.
      logConnector: (lvl, category, _label, content) => {
        if (LOG_RANK[lvl] > LOG_RANK[level]) return;
        const line = `${lvl} ${category} | ${content}`;
        if (this.logs.length >= MAX_LOG_LINES) this.logs.shift();
        this.logs.push(line);
        options.onLog?.(line);
      },
      delegate: { onInvite: (invitation) => this.#onInvite(invitation) },
      ...options.userAgentOptions,
    });
    // Record traffic around sip.js's transport: outgoing in send(), incoming before the UA parses it.
    const transport = this.ua.transport;
    const send = transport.send.bind(transport);
    transport.send = (message: string) => {
      // sip.js refuses to send while not connected (the message never leaves): not recorded.
      if (transport.state === TransportState.Connected) this.trace.record('sent', message);
      return send(message);
    };
    const receive = transport.onMessage;
    transport.onMessage = (message: string) => {
      this.trace.record('received', message);
      receive?.(message);
    };
  }

  get contact(): string {
    return this.ua.contact.uri.toString();
  }

  get viaHost(): string {
    return this.ua.configuration.viaHost;
  }

  start(): Promise<void> {
    return this.ua.start();
  }

  register(options: { readonly expiresSec?: number; readonly timeoutMs?: number } = {}): Promise<RegisterOutcome> {
    const expires = options.expiresSec ?? this.#options.registerExpiresSec ?? 300;
    this.#registerer ??= new Registerer(this.ua, { expires });
    const registerer = this.#registerer;
    return this.bounded(options.timeoutMs ?? 10_000, 'REGISTER', (resolve, reject) => {
      let settled = false;
      const settle = (f: () => void): void => {
        if (settled) return;
        settled = true;
        unsubscribe();
        f();
      };
      // sip.js drops a 2xx without a Contact pointing to us (with an expires) silently: neither
      // delegate is called. The trace sees the response first; if sip.js has not settled by the next
      // turn, it dropped it.
      const unsubscribe = this.trace.subscribe((entry) => {
        if (entry.direction !== 'received' || entry.method !== 'REGISTER' || entry.status === undefined || entry.status < 200) return;
        setImmediate(() =>
          settle(() => reject(new SipJsError(`REGISTER got ${entry.status} but sip.js dropped it: ${this.logs.filter((l) => l.includes('Registerer')).slice(-1).join('')}`, entry.status))),
        );
      });
      const accepted = (response: Core.IncomingResponse): void => {
        const status = statusOf(response);
        settle(() => resolve({ status, expiresSec: grantedExpires(this.trace.filter({ direction: 'received', method: 'REGISTER', status }).at(-1), this.ua.contact.uri.user) }));
      };
      const rejected = (response: Core.IncomingResponse): void => {
        const status = statusOf(response);
        settle(() => reject(new SipJsError(`REGISTER failed with ${status}`, status)));
      };
      registerer
        .register({ requestDelegate: { onAccept: accepted, onReject: rejected, onRedirect: rejected } })
        .catch((error: unknown) => settle(() => reject(error)));
    });
  }

  unregister(options: { readonly timeoutMs?: number } = {}): Promise<number> {
    const registerer = this.#registerer;
    if (registerer === undefined) return Promise.reject(new SipJsError('not registered'));
    return this.bounded(options.timeoutMs ?? 10_000, 'un-REGISTER', (resolve, reject) => {
      const final = (response: Core.IncomingResponse): void => resolve(statusOf(response));
      registerer.unregister({ requestDelegate: { onAccept: final, onReject: final, onRedirect: final } }).catch(reject);
    });
  }

  call(target: string, options: { readonly extraHeaders?: readonly string[] } = {}): SipJsCall {
    const uri = UserAgent.makeURI(target);
    if (uri === undefined) throw new TypeError(`not a SIP URI: ${target}`);
    const inviter = new Inviter(this.ua, uri, { extraHeaders: [...(options.extraHeaders ?? [])] });
    const call = new CallImpl('outgoing', inviter, this);
    this.calls.push(call);
    inviter
      .invite({
        // Only for sip.js's internal 408 (Timer B), which never goes over the wire.
        requestDelegate: { onReject: (r) => call.finalSeen(statusOf(r)) },
      })
      .catch((error: unknown) => call.fail(error));
    return call;
  }

  nextIncoming(timeoutMs = 5000): Promise<SipJsCall> {
    const ready = this.#incoming.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    let waiter: ((call: CallImpl) => void) | undefined;
    return this.bounded<SipJsCall>(timeoutMs, 'incoming INVITE', (resolve) => {
      waiter = resolve;
      this.#incomingWaiters.push(resolve);
    }).finally(() => {
      // A waiter that timed out (or was aborted) must not swallow a later call.
      const i = waiter === undefined ? -1 : this.#incomingWaiters.indexOf(waiter);
      if (i >= 0) this.#incomingWaiters.splice(i, 1);
    });
  }

  onInvite(handler: (call: SipJsCall) => void): () => void {
    this.#inviteHandlers.add(handler);
    return () => this.#inviteHandlers.delete(handler);
  }

  stop(options: { readonly graceful?: boolean; readonly timeoutMs?: number } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.graceful ?? true, options.timeoutMs ?? 2000);
    return this.#stopping;
  }

  /** @internal A timer cleared by stop(). */
  later(ms: number, f: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      f();
    }, ms);
    this.#timers.add(timer);
  }

  async #stop(graceful: boolean, timeoutMs: number): Promise<void> {
    this.#quiesce();
    const live = this.calls.filter((c) => c.session.state !== SessionState.Terminated);
    if (graceful && this.ua.isConnected()) {
      const goodbyes: Promise<unknown>[] = live.map((c) => c.hangup());
      if (this.#registerer?.state === RegistererState.Registered) goodbyes.push(this.unregister({ timeoutMs }).catch(() => undefined));
      await withTimeout(Promise.allSettled(goodbyes), timeoutMs);
      this.#quiesce();
    }
    // Dispose what holds sip.js timers: sessions (no-answer, expires), the registerer (refresh).
    for (const c of this.calls) void c.session.dispose().catch(() => undefined);
    if (this.#registerer !== undefined) void this.#registerer.dispose().catch(() => undefined);
    // Close the WebSocket and wait for it, then stop the UA: the core disposes every transaction timer.
    const transport = this.ua.transport;
    if (transport.state !== TransportState.Disconnected) await withTimeout(transport.disconnect().catch(() => undefined), timeoutMs);
    await this.ua.stop();
    for (const c of this.calls) c.forceEnd();
    // A socket that did not finish the closing handshake in time is cut.
    const ws = (transport as NodeWsTransport).ws as unknown as WebSocket | undefined;
    ws?.terminate();
  }

  /** Clears the helper's own timers and rejects what still waits on them. */
  #quiesce(): void {
    for (const abort of [...this.#pending]) abort();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #onInvite(invitation: Invitation): void {
    const call = new CallImpl('incoming', invitation, this);
    this.calls.push(call);
    const policy = this.#options.answer ?? { mode: 'auto' };
    switch (policy.mode) {
      case 'auto':
        void call.ring().then(() => this.later(policy.ringMs ?? 0, () => void call.accept().catch(() => undefined)), () => undefined);
        break;
      case 'ring':
        void call.ring().catch(() => undefined);
        break;
      case 'reject':
        void call.reject(policy.status ?? 486).catch(() => undefined);
        break;
      case 'manual':
        break;
    }
    const waiter = this.#incomingWaiters.shift();
    if (waiter !== undefined) waiter(call);
    else this.#incoming.push(call);
    for (const handler of this.#inviteHandlers) handler(call);
  }

  /** @internal A promise that rejects after `timeoutMs` or when the client stops. */
  bounded<T>(timeoutMs: number, what: string, body: (resolve: (v: T) => void, reject: (e: unknown) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const abort = (): void => {
        done();
        reject(new SipJsError(`${what}: the client was stopped`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new SipJsError(`${what}: nothing within ${timeoutMs} ms; trace:\n${this.trace.summary()}`));
      }, timeoutMs);
      this.#timers.add(timer);
      this.#pending.add(abort);
      const done = (): void => {
        clearTimeout(timer);
        this.#timers.delete(timer);
        this.#pending.delete(abort);
      };
      body(
        (v) => {
          done();
          resolve(v);
        },
        (e) => {
          done();
          reject(e);
        },
      );
    });
  }
}

class CallImpl implements SipJsCall {
  readonly direction: 'outgoing' | 'incoming';
  readonly session: Inviter | Invitation;
  readonly provisional: number[] = [];
  finalStatus: number | undefined;
  readonly established: Promise<void>;
  readonly terminated: Promise<CallEnd>;
  readonly #client: Client;
  #byeBy: 'local' | 'remote' | undefined;
  #end: () => void = () => undefined;

  constructor(direction: 'outgoing' | 'incoming', session: Inviter | Invitation, client: Client) {
    this.direction = direction;
    this.session = session;
    this.#client = client;
    let resolveEstablished!: () => void;
    let rejectEstablished!: (e: unknown) => void;
    this.established = new Promise<void>((resolve, reject) => {
      resolveEstablished = resolve;
      rejectEstablished = reject;
    });
    this.established.catch(() => undefined);
    let resolveTerminated!: (end: CallEnd) => void;
    this.terminated = new Promise<CallEnd>((resolve) => {
      resolveTerminated = resolve;
    });
    // Statuses of the initial INVITE come from the trace, which sees each response before sip.js acts
    // on it (sip.js calls its request delegates only after the state change, asynchronously).
    const seen = direction === 'outgoing' ? 'received' : 'sent';
    const onEntry = (entry: SipTraceEntry): void => {
      if (entry.direction !== seen || entry.method !== 'INVITE' || entry.status === undefined || entry.callId !== this.callId) return;
      if (entry.status < 200) {
        if (this.finalStatus === undefined) this.provisional.push(entry.status);
      } else this.finalSeen(entry.status);
    };
    // An incoming call is handed over after sip.js already sent 100 Trying.
    for (const entry of client.trace.entries) onEntry(entry);
    const unsubscribe = client.trace.subscribe(onEntry);
    let wasEstablished = false;
    session.stateChange.addListener((state) => {
      if (state === SessionState.Established) {
        wasEstablished = true;
        resolveEstablished();
      } else if (state === SessionState.Terminated) {
        if (wasEstablished && this.#byeBy === undefined) this.#byeBy = 'remote';
        // sip.js calls the INVITE's onReject delegate (the only place its internal 408 shows) right
        // after this synchronous state change: settle after it.
        queueMicrotask(() => this.#end());
      }
    });
    this.#end = () => {
      unsubscribe();
      rejectEstablished(new SipJsError(`call ${this.callId} ended before it was established (final status ${this.finalStatus ?? 'none'})`, this.finalStatus));
      resolveTerminated({ finalStatus: this.finalStatus, byeBy: this.#byeBy });
    };
  }

  /** @internal Settles `established`/`terminated` of a call sip.js left unfinished (e.g. CANCELled, no final response) at stop(). */
  forceEnd(): void {
    this.#end();
  }

  get callId(): string {
    return this.direction === 'outgoing' ? (this.session as Inviter).request.callId : (this.session as Invitation).request.callId;
  }

  get remoteSdp(): string | undefined {
    const sdh = this.session.sessionDescriptionHandler as StaticSessionDescriptionHandler | undefined;
    return sdh?.remote.at(-1);
  }

  finalSeen(status: number): void {
    this.finalStatus ??= status;
  }

  fail(error: unknown): void {
    this.#client.logs.push(`error helper | ${this.direction} call ${this.callId}: ${String(error)}`);
  }

  bye(options: { readonly timeoutMs?: number } = {}): Promise<number> {
    if (this.session.state !== SessionState.Established) return Promise.reject(new SipJsError(`BYE: call ${this.callId} is ${this.session.state}`));
    this.#byeBy = 'local';
    return this.#client.bounded<number>(options.timeoutMs ?? 5000, `BYE for ${this.callId}`, (resolve, reject) => {
      const final = (response: Core.IncomingResponse): void => {
        const status = statusOf(response);
        if (status < 300) resolve(status);
        else reject(new SipJsError(`BYE got ${status}`, status));
      };
      this.session.bye({ requestDelegate: { onAccept: final, onReject: final } }).catch(reject);
    });
  }

  async cancel(options: { readonly timeoutMs?: number } = {}): Promise<number | undefined> {
    if (this.direction !== 'outgoing') throw new SipJsError('CANCEL: only an outgoing call can be cancelled');
    await (this.session as Inviter).cancel();
    await this.#client.bounded<CallEnd>(options.timeoutMs ?? 5000, `final response after CANCEL of ${this.callId}`, (resolve) => {
      void this.terminated.then(resolve);
    });
    return this.finalStatus;
  }

  async ring(): Promise<void> {
    const invitation = this.#invitation('ring');
    await invitation.progress();
  }

  async accept(): Promise<void> {
    const invitation = this.#invitation('accept');
    await invitation.accept();
  }

  async reject(status = 486): Promise<void> {
    const invitation = this.#invitation('reject');
    await invitation.reject({ statusCode: status });
  }

  /** @internal Ends the call whatever its state, for stop(). */
  hangup(): Promise<unknown> {
    const state = this.session.state;
    if (state === SessionState.Established) return this.bye().then(() => this.terminated);
    if (state === SessionState.Initial || state === SessionState.Establishing) {
      if (this.direction === 'outgoing') return this.cancel();
      // An answered incoming call waits for its ACK; only an unanswered one can still be rejected.
      return this.finalStatus === undefined ? this.reject(480) : this.terminated;
    }
    return this.terminated;
  }

  #invitation(what: string): Invitation {
    if (this.direction !== 'incoming') throw new SipJsError(`${what}: only an incoming call can be answered`);
    return this.session as Invitation;
  }
}

function statusOf(response: Core.IncomingResponse): number {
  return response.message.statusCode ?? 0;
}

/** The expiry a registrar granted our binding: its Contact's `expires`, else the Expires header (RFC 3261 §10.2.4). */
function grantedExpires(entry: SipTraceEntry | undefined, contactUser: string | undefined): number | undefined {
  const message = entry?.message;
  if (message === undefined) return undefined;
  const contacts = safe(() => message.contact);
  if (Array.isArray(contacts)) {
    for (const c of contacts as readonly NameAddr[]) {
      if (c.uri.kind === 'sip' && c.uri.user === contactUser) {
        const value = c.params.get('expires');
        if (value !== undefined && value !== null) return Number(value);
      }
    }
  }
  const header = message.get('Expires');
  return header === undefined ? undefined : Number(header);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The type sip.js sessions are, re-exported for tests that reach into them. */
export type { Session };
