/**
 * RFC 4475 torture messages through a running gateway: every message of the archive
 * (/work/shared/testdata/rfc4475, byte-exact from the files) sent to the `sip` listener over UDP and
 * over TCP (a fresh connection per message), and to the `sip-ws` listener over WebSocket (RFC 7118: a
 * fresh connection with subprotocol `sip` per message, the message in ONE WebSocket message, a text
 * frame, or a binary frame for mpart01, the only file that is not valid UTF-8), with SIP routes for the
 * messages' Request-URI domains (applying to both listeners) to a raw UAS (UDP, and TCP on the same
 * port) that answers 200. Each row states what the RFC (and the archive's README) expects of a proxy,
 * and what Tandem does: forwarded (the UAS sees exactly one copy, end-to-end headers and body
 * unchanged, the 200 relayed back), answered (status, reason phrase, never forwarded), or dropped.
 *
 * Where responses go: the messages' Vias are fixed, so responses follow RFC 3261 §18.2.2 to
 * 127.0.0.1 (the `received` Tandem adds) at the Via's sent-by port, 5060 for all of them: the test's
 * UAC side is UDP and TCP 127.0.0.1:5060 (the only fixed ports, with 5080 for mpart01's Route). A
 * response goes by the Via's sent-protocol, not by the transport the request came on: a UDP Via on a
 * request that came over TCP is answered over UDP, a TCP Via on a datagram over a new TCP connection.
 * Requests refused by the transport layer (a parse error) are answered on the flow they came on.
 *
 * Over WebSocket: framed like UDP (RFC 7118 §5.1: one SIP message per WebSocket message, so the
 * Content-Length rules of datagrams apply, RFC 3261 §18.3, and a framing fault never costs the
 * connection), reliable like TCP. Responses follow the same §18.2.2 as for TCP, which RFC 7118 §5 only
 * extends with WS/WSS among the reliable sent-protocols: a TCP, TLS (or WS) Via is answered on the open
 * WebSocket connection, a UDP Via over UDP to `received` at the sent-by port, from the `sip` listener
 * (none of these messages has a WS Via, which a real WebSocket client would send). So every WS outcome
 * is the UDP one but bext01's (a TLS Via: 420 on the connection, as over TCP); the channel a response
 * takes follows from its Via. Every response on the connection is one WebSocket message, a text frame
 * when it is valid UTF-8. REGISTERs from a WebSocket client without Supported: path (all of the
 * archive's) are refused 421 with Require: path (RFC 3327 §5.2: Tandem needs the Path to reach them). Forwarded requests leave from the `sip` listener over UDP; one over 1300
 * bytes may leave over TCP (RFC 3261 §18.1.1 asks for it), so the UAS takes both.
 *
 * Each message gets a fresh gateway: several messages share a branch and sent-by (cparam01/cparam02,
 * escnull/regescrt), which one gateway rightly treats as retransmissions of one transaction. The last
 * tests send the whole archive to one gateway and then make normal calls over UDP, TCP and WebSocket.
 */
import { isUtf8 } from 'node:buffer';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage, serialize, type SipMessage, type SipRequest } from '../../../src/sip/index.ts';
import {
  answer,
  answerEverything,
  establishCall,
  freePort,
  Inbox,
  type Received,
  retryBind,
  sleep,
  type SipGateway,
  startSipGateway,
  TcpPeer,
  TcpServerPeer,
  type Uac,
  udpUac,
  UdpPeer,
} from './helpers.ts';
import { WsPeer } from './ws-peer.ts';

const DIR = new URL('../../../../shared/testdata/rfc4475/', import.meta.url);
const load = (file: string): Buffer => readFileSync(new URL(file, DIR));

/** The Request-URI domains of the archive's requests (one SIP route each, all to the UAS). */
const DOMAINS = ['example.com', '*.example.com', 'example.org', 'example.net', 'company.com', 'jasomi.com', '*.example.net'];
/** Scaled T1: retransmissions (Timer A/E to the UAS, G to the UAC) stay rare and quick. */
const T1 = 100;
/** How long "nothing happens" is watched for. */
const QUIET_MS = 200;

/** Where a response reached the UAC side. */
type Channel =
  /** UDP to 127.0.0.1:5060 (from the listener's own port). */
  | 'udp'
  /** A TCP connection the gateway opened to 127.0.0.1:5060. */
  | 'tcp5060'
  /** The test's own TCP or WebSocket connection the request came on. */
  | 'conn'
  /** UDP to 127.0.0.1 at the port number of the test's TCP (or WebSocket) connection (a UDP Via with `rport` on a request over it). */
  | 'twin';

/** How a message reaches the gateway. */
type Arrival = 'udp' | 'tcp' | 'ws';

type Outcome =
  /** Forwarded to the UAS (or, `to: 'route'`, to mpart01's Route 127.0.0.1:5080); the 200 comes back. */
  | { readonly kind: 'forward'; readonly to?: 'route'; readonly closes?: boolean; readonly check?: (forwarded: SipRequest, original: SipRequest) => void }
  /**
   * Answered with `status` (and `reason`); never forwarded. `transport`: refused by the transport layer
   * (parse error, answered on the flow it came on); `proxy`: by the proxy core (§16.3), sent per §18.2.2.
   */
  | { readonly kind: 'answer'; readonly status: number; readonly reason?: string; readonly level: 'transport' | 'proxy'; readonly closes?: boolean; readonly check?: (raw: string) => void }
  /** Neither forwarded nor answered. */
  | { readonly kind: 'drop'; readonly closes?: boolean }
  /** TCP only: the framer waits for the rest of the message: no answer, nothing forwarded, the connection stays open. */
  | { readonly kind: 'wait' };

interface Row {
  readonly file: string;
  readonly section: string;
  readonly udp: Outcome;
  readonly tcp: Outcome;
  /** Over WebSocket: message-framed like UDP, so mostly the UDP outcome (see the rows where UDP and TCP differ). */
  readonly ws: Outcome;
  /** What the RFC / README asks, and why Tandem's outcome matches it. */
  readonly note: string;
}

const forward = (check?: (forwarded: SipRequest, original: SipRequest) => void): Outcome => ({ kind: 'forward', ...(check === undefined ? {} : { check }) });
const refused = (reason: string, status = 400): Outcome => ({ kind: 'answer', status, reason, level: 'transport' });
const drop: Outcome = { kind: 'drop' };
/** The same outcome over UDP, TCP and WebSocket. */
const all = (outcome: Outcome): { udp: Outcome; tcp: Outcome; ws: Outcome } => ({ udp: outcome, tcp: outcome, ws: outcome });

/** dblreq over a message transport: the REGISTER alone. */
const registerOnly = (f: SipRequest): void => {
  expect(f.method).toBe('REGISTER');
  expect(f.body).toHaveLength(0);
  expect(Buffer.from(serialize(f)).toString('latin1')).not.toContain('INVITE');
};
/** inv2543 forwarded: still without branch and From tag. */
const rfc2543 = (f: SipRequest): void => {
  expect(f.from.tag).toBeUndefined();
  expect(f.via[1]!.branch).toBeUndefined();
};
/**
 * A REGISTER over WebSocket without `Supported: path` (none of the archive's has it): Tandem needs a
 * Path to reach a WebSocket client again, so 421 with Require: path (RFC 3327 §5.2), sent per §18.2.2.
 */
const needsPath: Outcome = { kind: 'answer', status: 421, reason: 'Extension Required', level: 'proxy', check: (raw) => expect(raw).toMatch(/\r\nRequire: path\r\n/) };
const badExtension: Outcome = { kind: 'answer', status: 420, reason: 'Bad Extension', level: 'proxy', check: (raw) => expect(raw).toContain('\r\nUnsupported: noProxiesSupportThis, norDoAnyProxiesSupportThis\r\n') };

const ROWS: readonly Row[] = [
  // §3.1.1 valid messages
  { file: 'wsinv.sip', section: '3.1.1.1', ...all({ kind: 'answer', status: 503, level: 'proxy', check: (raw) => expect(raw).toMatch(/\r\nRetry-After: \d+\r\n/) }),
    note: 'valid; in-dialog (To tag) with a Route to services.example.com: loose-routed there (§16.4, §16.6 step 6), which does not resolve → 503 with Retry-After (SPEC D.9); never sent to the route of the Request-URI' },
  { file: 'intmeth.sip', section: '3.1.1.2', ...all(forward((f) => expect(f.to.displayName).toContain('NUL:\u0000'))),
    note: 'valid; unknown method: a proxy forwards it (with the quoted NUL in the To display name intact)' },
  { file: 'esc01.sip', section: '3.1.1.3', ...all(forward((f) => expect(f.uri.raw).toBe('sip:sips%3Auser%40example.com@example.net'))), note: 'valid; escapes forwarded as received' },
  { file: 'escnull.sip', section: '3.1.1.4', ...all(forward((f) => expect(f.getAll('contact').join(',')).toContain('%00'))), ws: needsPath, note: 'valid; %00 in user parts forwarded untruncated' },
  { file: 'esc02.sip', section: '3.1.1.5', ...all(forward((f) => expect(f.method).toBe('RE%47IST%45R'))), note: 'valid; RE%47IST%45R is an unknown method (not REGISTER): forwarded' },
  { file: 'lwsdisp.sip', section: '3.1.1.6', ...all(forward()), note: 'valid (RFC 3261 grammar bug): forwarded' },
  { file: 'longreq.sip', section: '3.1.1.7', ...all(forward()), note: 'valid; long values and 34 Vias forwarded' },
  { file: 'dblreq.sip', section: '3.1.1.8',
    udp: forward(registerOnly),
    tcp: { kind: 'forward', closes: true },
    ws: needsPath,
    note: 'UDP: the REGISTER (CL 0) is forwarded, the trailing INVITE bytes are ignored (§18.3), never forwarded. TCP: a stream has no datagram end, so the bytes after the REGISTER are the next message, an INVITE (forwarded too), then "C\\r\\n\\r\\n" has no Content-Length → framing error, connection closed (checked below). WS: one WebSocket message is one SIP message (RFC 7118 §5.1), so as over UDP the trailing bytes are ignored' },
  { file: 'semiuri.sip', section: '3.1.1.9', ...all(forward((f) => expect(f.uri.raw).toBe('sip:user;par=u%40example.net@example.com'))), note: 'valid; the user part keeps its ;par=' },
  { file: 'transports.sip', section: '3.1.1.10', ...all(forward((f) => expect(f.via.slice(1).map((v) => v.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']))), note: 'valid; every transport token accepted' },
  { file: 'mpart01.sip', section: '3.1.1.11', ...all({ kind: 'forward', to: 'route' }),
    note: 'valid; has Route <sip:127.0.0.1:5080> (a strict router, no ;lr): sent there (§16.6 step 6); the binary multipart body (NULs, bare CR/LF) forwarded byte-exact' },
  { file: 'unreason.sip', section: '3.1.1.12', ...all(drop), note: 'a valid 200 response, but not for any of our transactions and its top Via is not ours: a proxy drops it (§16.7)' },
  { file: 'noreason.sip', section: '3.1.1.13', ...all(drop), note: 'a valid 100 response (empty reason), not ours: dropped' },
  // §3.1.2 invalid messages
  { file: 'badinv01.sip', section: '3.1.2.1', ...all(drop), note: 'invalid (400 expected), but its only Via is unusable (";;,;,,"), so there is nowhere to send a 400: dropped, never forwarded' },
  { file: 'clerr.sip', section: '3.1.2.2', udp: refused('Content-Length larger than message'), tcp: { kind: 'wait' }, ws: refused('Content-Length larger than message'),
    note: 'UDP: 400; TCP: waits for the rest of the body (no answer, no forwarding); WS: the WebSocket message is the whole SIP message, so as over UDP: 400 on the connection, which stays open' },
  { file: 'ncl.sip', section: '3.1.2.3', udp: refused('Invalid Content-Length'), tcp: { ...refused('Invalid Content-Length'), closes: true } as Outcome, ws: refused('Invalid Content-Length'),
    note: 'negative Content-Length: 400; on TCP framing is lost → 400, then the connection is closed; WS frames by message, nothing is lost: 400, the connection stays open' },
  { file: 'scalar02.sip', section: '3.1.2.4', ...all(refused('Malformed CSeq')), note: 'CSeq > 2^32−1: 400 (the 400 copies the CSeq as received)' },
  { file: 'scalarlg.sip', section: '3.1.2.5', ...all(drop), note: 'an invalid response: dropped' },
  { file: 'quotbal.sip', section: '3.1.2.6', ...all(refused('Malformed To')), note: 'unterminated quote: 400' },
  { file: 'ltgtruri.sip', section: '3.1.2.7', ...all(refused('Malformed Request-URI')), note: '<> around the Request-URI: 400' },
  { file: 'lwsruri.sip', section: '3.1.2.8', ...all(refused('Malformed Request-Line')), note: 'LWS in the Request-URI: 400' },
  { file: 'lwsstart.sip', section: '3.1.2.9', ...all(refused('Malformed Request-Line')), note: 'multiple SPs in the Request-Line: rejected (allowed by the RFC)' },
  { file: 'trws.sip', section: '3.1.2.10', ...all(refused('Malformed Request-Line')), note: 'trailing SPs on the Request-Line: rejected (allowed by the RFC)' },
  { file: 'escruri.sip', section: '3.1.2.11', ...all(refused('Headers in Request-URI')), note: 'escaped headers in the Request-URI: 400' },
  { file: 'baddate.sip', section: '3.1.2.12', ...all(forward((f) => expect(f.get('Date')).toBe('Fri, 01 Jan 2010 16:00:00 EST'))), note: 'bad Date time zone: a proxy does not use Date, so it is ignored and forwarded unchanged (the RFC prefers this to rejecting)' },
  { file: 'regbadct.sip', section: '3.1.2.13', ...all(refused('Malformed Contact')), note: 'Contact URI with an escaped header outside <>: 400' },
  { file: 'badaspec.sip', section: '3.1.2.14', ...all(refused('Malformed To')), note: 'spaces inside the addr-spec: 400' },
  { file: 'baddn.sip', section: '3.1.2.15', udp: refused('Malformed From'), tcp: { kind: 'wait' }, ws: refused('Malformed From'),
    note: 'unquoted non-token display name: 400. The file has no empty line after its headers: a datagram (and a WebSocket message) ends there, but on TCP the header section is not over yet, so Tandem waits (completed below: then 400)' },
  { file: 'badvers.sip', section: '3.1.2.16', ...all(refused('Version Not Supported', 505)), note: 'SIP/7.0: 505' },
  { file: 'mismatch01.sip', section: '3.1.2.17', ...all(refused('CSeq method does not match the request method')), note: 'CSeq method ≠ request method: 400' },
  { file: 'mismatch02.sip', section: '3.1.2.18', ...all(refused('CSeq method does not match the request method')), note: 'unknown method with CSeq mismatch: 400 (the RFC accepts 400 as well as 501)' },
  { file: 'bigcode.sip', section: '3.1.2.19', ...all(drop), note: 'response code 4294967301: dropped' },
  // §3.2 transaction layer
  { file: 'badbranch.sip', section: '3.2.1', ...all(forward()), note: 'branch is the bare magic cookie: Tandem falls back to RFC 2543 matching and forwards it (one of the two reactions the RFC allows)' },
  // §3.3 application layer
  { file: 'insuf.sip', section: '3.3.1', ...all(refused('Missing From')), note: 'no Call-ID, From, To: 400 (with the Via and CSeq it has)' },
  { file: 'unkscm.sip', section: '3.3.2', ...all({ kind: 'answer', status: 416, reason: 'Unsupported URI Scheme', level: 'proxy' }), note: 'unknown Request-URI scheme: 416, not routed on To' },
  { file: 'novelsc.sip', section: '3.3.3', ...all({ kind: 'answer', status: 416, reason: 'Unsupported URI Scheme', level: 'proxy' }), note: 'soap.beep: scheme: 416' },
  { file: 'unksm2.sip', section: '3.3.4', ...all(forward()), ws: needsPath, note: 'unknown schemes in To/From/Contact: a proxy treats the request normally (forwarded)' },
  { file: 'bext01.sip', section: '3.3.5',
    udp: drop,
    tcp: badExtension,
    ws: badExtension,
    note: 'Proxy-Require with unknown tags: 420 with Unsupported, never forwarded. Its Via is TLS: over TCP and WS the 420 goes back on the connection (§18.2.2; RFC 7118 §5); over UDP there is no connection and the listener cannot open a TLS one, so the 420 cannot be sent' },
  { file: 'invut.sip', section: '3.3.6', ...all(forward()), note: 'unknown Content-Type: a proxy forwards it (415 is for the endpoint)' },
  { file: 'regaut01.sip', section: '3.3.7', ...all(forward((f) => expect(f.get('Authorization')).toBe('NoOneKnowsThisScheme opaque-data=here'))), ws: needsPath, note: 'unknown Authorization scheme: forwarded unchanged' },
  { file: 'multi01.sip', section: '3.3.8', ...all(refused('Multiple From values')), note: 'several single-value headers: 400' },
  { file: 'mcl01.sip', section: '3.3.9', udp: refused('Multiple Content-Length values'), tcp: { ...refused('Multiple Content-Length values'), closes: true } as Outcome, ws: refused('Multiple Content-Length values'),
    note: 'two Content-Lengths: 400; on TCP a framing error → 400 and close; over WS (message-framed) 400, the connection stays open' },
  { file: 'bcast.sip', section: '3.3.10', ...all(drop), note: 'a 200 with a broadcast second Via, not ours: dropped, never sent to 255.255.255.255' },
  { file: 'zeromf.sip', section: '3.3.11', ...all({ kind: 'answer', status: 483, reason: 'Too Many Hops', level: 'proxy' }), note: 'Max-Forwards 0: 483, not forwarded' },
  { file: 'cparam01.sip', section: '3.3.12', ...all(forward()), ws: needsPath, note: 'REGISTER with a contact-param: forwarded (the registrar behind answers 200)' },
  { file: 'cparam02.sip', section: '3.3.13', ...all(forward()), ws: needsPath, note: 'REGISTER with a URI parameter: forwarded' },
  { file: 'regescrt.sip', section: '3.3.14', ...all(forward((f) => {
    expect(f.route).toHaveLength(0); // the escaped Route stays inside the Contact URI
    expect(f.get('Contact')).toBe('<sip:user@example.com?Route=%3Csip:sip.example.com%3E>');
  })), ws: needsPath, note: 'REGISTER whose Contact URI has an escaped Route header: forwarded, the header stays escaped in the URI' },
  { file: 'sdp01.sip', section: '3.3.15', ...all(forward()), note: 'Accept nobody supports: a proxy forwards (406 is for the UAS)' },
  // §3.4 backward compatibility
  { file: 'inv2543.sip', section: '3.4.1',
    udp: forward(rfc2543),
    tcp: { ...refused('Missing Content-Length'), closes: true } as Outcome,
    ws: forward(rfc2543),
    note: 'RFC 2543 INVITE: over UDP and WS (message-framed) accepted and forwarded (no branch, no From tag, body = rest of the datagram or WebSocket message, Max-Forwards 70 added); over TCP Content-Length is mandatory (§18.3, §20.14): 400 and close' },
  // Not described by the RFC
  { file: 'test.sip', section: '—', ...all(drop), note: 'no SIP-Version on the Request-Line and no Via: unanswerable, dropped' },
];

// ---- the UAC side (fixed ports: the messages' Vias name 127.0.0.1:5060) and the UASs ----

/**
 * A UAS on one port over UDP and TCP, answering every request but ACK with 200 (180 first for an
 * INVITE with `ring`): a request over 1300 bytes may be forwarded to it over TCP (RFC 3261 §18.1.1).
 */
interface Uas {
  readonly port: number;
  readonly udp: UdpPeer;
  readonly tcp: TcpServerPeer;
  close(): Promise<void>;
}

async function openUas(options: { port?: number; ring?: boolean } = {}): Promise<Uas> {
  const port = options.port ?? (await freePort());
  const tcp = await retryBind(`TCP 127.0.0.1:${port} (a UAS)`, () => TcpServerPeer.listen(port));
  const udp = await retryBind(`UDP 127.0.0.1:${port} (a UAS)`, () => UdpPeer.open(port));
  answerEverything(udp, { ring: options.ring ?? false });
  tcp.onMessage = (m, peer) => {
    if (m.kind !== 'request' || m.method === 'ACK') return;
    if (m.method === 'INVITE' && options.ring === true) void peer.send(answer(m, 180, port, 'Ringing'));
    void peer.send(answer(m, 200, port, 'OK'));
  };
  return { port, udp, tcp, close: async () => void (await Promise.all([udp.close(), tcp.close()])) };
}

let udp5060: UdpPeer;
let tcp5060: TcpServerPeer;
let uas: Uas;
let route5080: Uas;
let gw: SipGateway | undefined;
const opened: { close(): unknown }[] = [];

beforeAll(async () => {
  udp5060 = await retryBind('UDP 127.0.0.1:5060 (the torture messages\' Via port)', () => UdpPeer.open(5060));
  tcp5060 = await retryBind('TCP 127.0.0.1:5060', () => TcpServerPeer.listen(5060));
  route5080 = await openUas({ port: 5080 }); // mpart01's Route
  uas = await openUas();
});

afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
  await gw?.stop();
  gw = undefined;
});

afterAll(async () => {
  await udp5060.close();
  await tcp5060.close();
  await route5080.close();
  await uas.close();
});

// ---- observing ----

interface SeenResponse {
  readonly channel: Channel;
  readonly status: number;
  readonly reason: string;
  readonly raw: string;
  readonly fromPort: number;
}

function statusOf(raw: string): { status: number; reason: string } | undefined {
  const m = /^SIP\/2\.0 (\d{3}) ([^\r\n]*)\r\n/.exec(raw);
  return m === null ? undefined : { status: Number(m[1]), reason: m[2]! };
}

interface Item {
  readonly at: number;
  readonly fromPort: number;
  readonly bytes: Buffer;
  readonly message: SipMessage | undefined;
}

function itemsOf(inbox: Inbox): Item[] {
  return [
    ...inbox.all.map((r) => ({ at: r.at, fromPort: r.fromPort, bytes: r.bytes, message: r.message as SipMessage | undefined })),
    ...inbox.garbage.map((g) => ({ at: g.at, fromPort: g.fromPort, bytes: g.bytes, message: undefined })),
  ];
}

/** What a WebSocket client received: one item per WebSocket message. */
function framesOf(peer: WsPeer): Item[] {
  return peer.frames.map((f) => {
    const parsed = parseMessage(f.bytes);
    return { at: f.at, fromPort: 0, bytes: f.bytes, message: parsed.ok ? parsed.message : undefined };
  });
}

/**
 * Everything that reached the UAC side since `since`: responses (parsed or not), requests (would be a
 * bug) and anything else (on a WebSocket, a message that is neither: would be a bug too).
 */
function uacSide(since: number, conn: TcpPeer | WsPeer | undefined, twin: UdpPeer | undefined): { responses: SeenResponse[]; requests: SipMessage[]; other: string[] } {
  const responses: SeenResponse[] = [];
  const requests: SipMessage[] = [];
  const other: string[] = [];
  const collect = (all: Item[], channel: Channel, fromPort?: number) => {
    for (const item of all.sort((a, b) => a.at - b.at)) {
      if (item.at < since || (fromPort !== undefined && item.fromPort !== fromPort)) continue;
      if (item.message?.kind === 'request') {
        requests.push(item.message);
        continue;
      }
      const raw = item.bytes.toString('latin1');
      const s = statusOf(raw);
      if (s !== undefined) responses.push({ channel, ...s, raw, fromPort: item.fromPort });
      else if (channel === 'conn' && conn instanceof WsPeer) other.push(raw);
    }
  };
  collect(itemsOf(udp5060.inbox), 'udp', gw!.port);
  collect(itemsOf(tcp5060.inbox), 'tcp5060');
  if (conn instanceof TcpPeer) collect(itemsOf(conn.inbox), 'conn');
  if (conn instanceof WsPeer) collect(framesOf(conn), 'conn');
  if (twin !== undefined) collect(itemsOf(twin.inbox), 'twin', gw!.port);
  return { responses, requests, other };
}

/** Requests of this message (by Call-ID) the UAS (or the Route target) received since `since`, over UDP or TCP, in order. */
function forwardedCopies(peer: Uas, since: number, callId: string | undefined): Received[] {
  return [...peer.udp.inbox.all, ...peer.tcp.inbox.all]
    .filter((r) => r.at >= since && r.message.kind === 'request' && (callId === undefined || r.message.callId === callId))
    .sort((a, b) => a.at - b.at);
}

/** True when `raw` is a response to `request` (Call-ID and CSeq method). */
function answers(raw: string, request: SipRequest): boolean {
  const parsed = parseMessage(Buffer.from(raw, 'latin1'));
  return parsed.ok && parsed.message.callId === request.callId && parsed.message.cseq.method === request.method;
}

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** Via sent-protocols that run over a connection (RFC 3261 §18.2.2; RFC 7118 §5 adds WS and WSS). */
const CONNECTION_SENT_PROTOCOLS = ['TCP', 'TLS', 'SCTP', 'WS', 'WSS'];

/** The channel a proxy-level response takes (RFC 3261 §18.2.2) for a request with this top Via that arrived over `arrival`. */
function proxyChannel(request: SipRequest, arrival: Arrival): Channel | undefined {
  const via = request.topVia!;
  if (via.transport === 'UDP') {
    expect([undefined, 5060, 5070]).toContain(via.port);
    if (arrival === 'udp') return 'udp';
    return via.rport === undefined ? 'udp' : 'twin';
  }
  // A connection-oriented sent-protocol: the open connection (TCP or WebSocket) the request came on.
  if (arrival !== 'udp') return CONNECTION_SENT_PROTOCOLS.includes(via.transport) ? 'conn' : undefined;
  // Over UDP there is none: a TCP Via gets a new connection; TLS and SCTP cannot be opened here.
  return via.transport === 'TCP' ? 'tcp5060' : undefined;
}

/**
 * Headers a proxy may change (§16.6): Via, Max-Forwards, Route, Record-Route; Content-Length may be
 * rewritten; Path (RFC 3327) may be added to a REGISTER, which Tandem does for a WebSocket client (checked apart).
 */
const HOP_BY_HOP = new Set(['via', 'max-forwards', 'route', 'record-route', 'content-length', 'path']);
const endToEnd = (m: SipMessage): [string, string][] => m.headers.filter((f) => !HOP_BY_HOP.has(f.key)).map((f) => [f.key, f.value]);

/** RFC 3261 §18.1.1: a request over 1300 bytes (path MTU unknown) MUST go over a congestion-controlled transport. */
const MTU_BYTES = 1300;

function checkForwarded(copy: Received, original: SipRequest, strictRoute: boolean, _arrival: Arrival): void {
  const forwarded = copy.message as SipRequest;
  expect(forwarded.method).toBe(original.method);
  if (!strictRoute) expect(forwarded.uri.raw).toBe(original.uri.raw);
  // Over UDP, or (only a request over 1300 bytes) TCP; the Via we add names the transport used.
  if (copy.via !== 'udp') expect([copy.via, copy.bytes.length > MTU_BYTES]).toEqual(['tcp', true]);
  expect(forwarded.via).toHaveLength(original.via.length + 1);
  expect([forwarded.via[0]!.transport, forwarded.via[0]!.host, forwarded.via[0]!.port, forwarded.via[0]!.branch]).toEqual([copy.via.toUpperCase(), '127.0.0.1', gw!.port, expect.stringMatching(/^z9hG4bK/)]);
  expect(forwarded.via[1]!.branch).toBe(original.via[0]!.branch);
  expect(forwarded.via[1]!.received).toBe('127.0.0.1');
  expect(forwarded.via.slice(2).map((v) => v.raw)).toEqual(original.via.slice(1).map((v) => v.raw));
  expect(forwarded.maxForwards).toBe(original.maxForwards === undefined ? 70 : original.maxForwards - 1);
  expect(Buffer.from(forwarded.body).equals(Buffer.from(original.body))).toBe(true);
  expect(forwarded.contentLength ?? forwarded.body.length).toBe(original.body.length);
  // §16.6: everything end to end (unknown headers included) is forwarded unchanged, in order.
  expect(endToEnd(forwarded)).toEqual(endToEnd(original));
  // No torture message has a Path, and none is added: over WebSocket their REGISTERs (without
  // Supported: path) are refused 421 (RFC 3327 §5.2), see needsPath.
  expect(original.getAll('path')).toEqual([]);
  expect(forwarded.getAll('path')).toEqual([]);
}

/** Which files are not valid UTF-8, and so go in a binary WebSocket frame (RFC 7118 §5.1). */
const NOT_UTF8 = ['mpart01.sip'];

async function runRow(row: Row, arrival: Arrival): Promise<void> {
  const outcome = row[arrival];
  const bytes = load(row.file);
  const parsed = parseMessage(bytes);
  const original = parsed.ok && parsed.message.kind === 'request' ? parsed.message : undefined;
  const callId = parsed.ok ? parsed.message.callId : undefined;
  gw = await startSipGateway({ upstream: { port: uas.port }, domains: DOMAINS, T1, ws: arrival === 'ws' });
  const since = performance.now();
  let conn: TcpPeer | WsPeer | undefined;
  let twin: UdpPeer | undefined;
  if (arrival === 'udp') {
    await udp5060.send(bytes, gw.port);
  } else {
    conn = arrival === 'tcp' ? await TcpPeer.connect(gw.port) : await WsPeer.connect(gw.wsPort!);
    opened.push(conn);
    if (original?.topVia?.rport !== undefined) {
      const port = conn.port;
      twin = await retryBind('the UDP twin of the connection', () => UdpPeer.open(port), 1000);
      opened.push(twin);
    }
    // Over WebSocket: the whole file in one message, a text frame unless it is not UTF-8.
    await (conn instanceof TcpPeer ? conn.send(bytes) : conn.sendBytes(bytes));
  }
  const side = () => uacSide(since, conn, twin);
  const target = outcome.kind === 'forward' && outcome.to === 'route' ? route5080 : uas;

  switch (outcome.kind) {
    case 'forward': {
      expect(original, 'a forwarded message parses as a request').toBeDefined();
      const expected = proxyChannel(original!, arrival);
      await until(() => side().responses.some((r) => r.status === 200));
      const copies = forwardedCopies(target, since, callId);
      expect(copies, 'forwarded exactly once').toHaveLength(1);
      checkForwarded(copies[0]!, original!, outcome.to === 'route', arrival);
      outcome.check?.(copies[0]!.message as SipRequest, original!);
      // The 200 (a 100 Trying, never forwarded but sent by us to an INVITE, may come before it; dblreq
      // over TCP: the INVITE that follows on the stream gets a 200 too).
      const responses = side().responses.filter((r) => answers(r.raw, original!));
      const ok = responses.find((r) => r.status === 200);
      expect(responses.filter((r) => r !== ok).map((r) => [r.status, r.channel])).toEqual(responses.filter((r) => r.status === 100).map(() => [100, expected]));
      expect(ok).toMatchObject({ status: 200, channel: expected });
      // The 200 is the UAS's, with our Via removed: its top Via is the UAC's.
      const response = parseMessage(Buffer.from(ok!.raw, 'latin1'));
      if (!response.ok) throw new Error(response.error.reason);
      expect(response.message.via).toHaveLength(original!.via.length);
      expect(response.message.topVia?.branch).toBe(original!.topVia?.branch);
      if (target === uas) expect(forwardedCopies(route5080, since, callId)).toHaveLength(0);
      if (conn !== undefined) expect(await conn.closesWithin(outcome.closes === true ? 1000 : 0)).toBe(outcome.closes === true);
      break;
    }
    case 'answer': {
      await until(() => side().responses.length > 0);
      await sleep(50);
      const [first, ...rest] = side().responses;
      expect({ status: first!.status, reason: first!.reason }).toEqual({ status: outcome.status, reason: outcome.reason ?? expect.any(String) });
      // Only retransmissions of the same final response (Timer G, INVITE over UDP) may follow.
      for (const r of rest) expect(r.raw).toBe(first!.raw);
      const expected = outcome.level === 'transport' ? (arrival === 'udp' ? 'udp' : 'conn') : proxyChannel(original!, arrival);
      expect(first!.channel).toBe(expected);
      if (first!.channel === 'udp') expect(first!.fromPort).toBe(gw.port); // RFC 3581 §4: from the port the request came to
      // The response answers this request: its top Via is the request's (branch copied).
      const branch = /\r\n(?:Via|v)\s*:[^\r\n]*branch\s*=\s*([^;,\s]+)/i.exec(bytes.toString('latin1'))?.[1];
      if (branch !== undefined) expect(first!.raw).toContain(`branch=${branch}`);
      outcome.check?.(first!.raw);
      expect(forwardedCopies(uas, since, callId), 'never forwarded').toHaveLength(0);
      expect(forwardedCopies(route5080, since, callId)).toHaveLength(0);
      if (conn !== undefined) expect(await conn.closesWithin(outcome.closes === true ? 1000 : 100)).toBe(outcome.closes === true);
      break;
    }
    case 'drop':
    case 'wait': {
      await sleep(QUIET_MS);
      expect(side().responses, 'no answer').toEqual([]);
      expect(forwardedCopies(uas, since, undefined), 'never forwarded').toHaveLength(0);
      expect(forwardedCopies(route5080, since, undefined)).toHaveLength(0);
      if (conn !== undefined) expect(conn.closed, 'the connection stays open').toBe(false);
      break;
    }
  }
  expect(side().requests, 'no request goes back to the UAC').toEqual([]);
  if (conn instanceof WsPeer) {
    expect(side().other, 'every WebSocket message is a SIP response').toEqual([]);
    // RFC 7118 §5.1: a text frame carries UTF-8; anything else needs a binary frame.
    for (const frame of conn.frames) expect(frame.binary).toBe(!isUtf8(frame.bytes));
  }
}

const ARRIVALS = ['udp', 'tcp', 'ws'] as const;
const TRANSPORT_NAME: Record<Arrival, string> = { udp: 'UDP', tcp: 'TCP', ws: 'WebSocket' };

describe('RFC 4475 torture messages through the gateway', () => {
  it('the table covers every file of the archive', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.sip')).sort();
    expect(files).toHaveLength(50);
    expect(ROWS.map((r) => r.file).sort()).toEqual(files);
    // Over WebSocket, every file goes in a text frame but mpart01 (its binary body part): a binary frame.
    expect(files.filter((f) => !isUtf8(load(f)))).toEqual(NOT_UTF8);
  });

  for (const arrival of ARRIVALS) {
    describe(`over ${TRANSPORT_NAME[arrival]}`, () => {
      for (const row of ROWS) {
        const outcome = row[arrival];
        const closes = outcome.kind !== 'drop' && outcome.kind !== 'wait' && outcome.closes === true ? ', connection closed' : '';
        const what = outcome.kind === 'answer' ? `answered ${outcome.status}${outcome.reason === undefined ? '' : ` ${outcome.reason}`}${closes}` : outcome.kind === 'forward' ? `forwarded, 200 relayed${closes}` : outcome.kind === 'wait' ? 'waits for more bytes' : 'dropped';
        it(`${row.file} (§${row.section}): ${what}`, () => runRow(row, arrival));
      }
    });
  }

  it('baddn over TCP, completed by the empty line it lacks: 400 Malformed From on the connection, which stays open', async () => {
    gw = await startSipGateway({ upstream: { port: uas.port }, domains: DOMAINS, T1 });
    const since = performance.now();
    const conn = await TcpPeer.connect(gw.port);
    opened.push(conn);
    await conn.send(load('baddn.sip'));
    await sleep(QUIET_MS);
    expect(uacSide(since, conn, undefined).responses).toEqual([]);
    await conn.send('\r\n');
    await until(() => uacSide(since, conn, undefined).responses.length > 0);
    expect(uacSide(since, conn, undefined).responses.map((r) => [r.channel, r.status, r.reason])).toEqual([['conn', 400, 'Malformed From']]);
    expect(forwardedCopies(uas, since, undefined)).toHaveLength(0);
    expect(conn.closed).toBe(false);
  });

  it('dblreq over TCP: REGISTER, then the INVITE that follows on the stream, then the connection closes on the unframable rest', async () => {
    gw = await startSipGateway({ upstream: { port: uas.port }, domains: DOMAINS, T1 });
    const since = performance.now();
    const conn = await TcpPeer.connect(gw.port);
    opened.push(conn);
    await conn.send(load('dblreq.sip'));
    await conn.closedPromise;
    await until(() => forwardedCopies(uas, since, undefined).length === 2);
    const [register, invite] = forwardedCopies(uas, since, undefined).map((r) => r.message as SipRequest);
    expect([register!.method, register!.body.length]).toEqual(['REGISTER', 0]);
    expect([invite!.method, invite!.callId, invite!.body.length]).toEqual(['INVITE', 'dblreq.0ha0isnda977644900765@192.0.2.15', 150]);
  });

});

/** A UAC on a WebSocket connection (its Via `SIP/2.0/WS 127.0.0.1:<its port>`). */
function wsUac(peer: WsPeer): Uac {
  const inbox = new Inbox();
  peer.onMessage = (message) => inbox.push({ message, bytes: Buffer.from(serialize(message)), at: performance.now(), via: 'ws', fromPort: 0 });
  return { inbox, port: peer.port, send: (m) => peer.sendBytes(typeof m === 'string' ? Buffer.from(m, 'latin1') : m) };
}

describe('after the whole archive', () => {
  it('one gateway that received every message over UDP, TCP and WebSocket forwards none of the invalid ones and still serves calls on all three', async () => {
    const callUas = await openUas({ ring: true });
    opened.push(callUas);
    gw = await startSipGateway({ upstream: { port: callUas.port }, domains: DOMAINS, T1, ws: true });
    const since = performance.now();
    // Over WebSocket, the whole archive on one connection (none of it closes a WebSocket connection).
    const ws = await WsPeer.connect(gw.wsPort!);
    opened.push(ws);
    for (const row of ROWS) {
      const bytes = load(row.file);
      await udp5060.send(bytes, gw.port);
      const conn = await TcpPeer.connect(gw.port);
      opened.push(conn);
      await conn.send(bytes);
      await ws.sendBytes(bytes);
    }
    await sleep(QUIET_MS);
    // Nothing that is invalid (answered or dropped over every transport) reached the UAS.
    const neverForwarded = ROWS.filter((r) => ARRIVALS.every((a) => r[a].kind !== 'forward'));
    const seen = new Set(forwardedCopies(callUas, since, undefined).map((r) => r.message.callId));
    for (const row of neverForwarded) {
      const m = /\r\n(?:Call-ID|i)\s*:\s*([^\r\n]+)/i.exec(load(row.file).toString('latin1'));
      if (m !== null) expect(seen.has(m[1]!.trim()), row.file).toBe(false);
    }
    expect(ws.closed, 'the WebSocket connection that carried the archive is open').toBe(false);

    const uac = await UdpPeer.open();
    opened.push(uac);
    const udpCall = await establishCall(udpUac(uac, gw.port), callUas.udp.inbox, 'UDP');
    const tcp = await TcpPeer.connect(gw.port);
    opened.push(tcp);
    const tcpCall = await establishCall(tcp, callUas.udp.inbox, 'TCP');
    // A call from the WebSocket client to the UDP UAS: Record-Route on both sides of the gateway, ACK and BYE along the route set.
    const wsCall = await establishCall(wsUac(ws), callUas.udp.inbox, 'WS');
    expect(wsCall.ok.recordRoute).toHaveLength(2);
    expect((await udpCall.hangUp()).status).toBe(200);
    expect((await tcpCall.hangUp()).status).toBe(200);
    expect((await wsCall.hangUp()).status).toBe(200);
  });
});
