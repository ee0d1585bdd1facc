/**
 * RFC 4475 torture messages through a running gateway: every message of the archive
 * (/work/shared/testdata/rfc4475, byte-exact from the files) sent to the `sip` listener over UDP and
 * over TCP (a fresh connection per message), with SIP routes for the messages' Request-URI domains to
 * a raw UDP UAS that answers 200. Each row states what the RFC (and the archive's README) expects of
 * a proxy, and what Tandem does: forwarded (the UAS sees exactly one copy, end-to-end headers and body
 * unchanged, the 200 relayed back), answered (status, reason phrase, never forwarded), or dropped.
 *
 * Where responses go: the messages' Vias are fixed, so responses follow RFC 3261 §18.2.2 to
 * 127.0.0.1 (the `received` Tandem adds) at the Via's sent-by port, 5060 for all of them: the test's
 * UAC side is UDP and TCP 127.0.0.1:5060 (the only fixed ports, with 5080 for mpart01's Route). A
 * response goes by the Via's sent-protocol, not by the transport the request came on: a UDP Via on a
 * request that came over TCP is answered over UDP, a TCP Via on a datagram over a new TCP connection.
 * Requests refused by the transport layer (a parse error) are answered on the flow they came on.
 *
 * Each message gets a fresh gateway: several messages share a branch and sent-by (cparam01/cparam02,
 * escnull/regescrt), which one gateway rightly treats as retransmissions of one transaction. The last
 * tests send the whole archive to one gateway and then make normal calls over UDP and TCP.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage, serialize, type SipMessage, type SipRequest } from '../../../src/sip/index.ts';
import {
  answerEverything,
  establishCall,
  type Inbox,
  retryBind,
  sleep,
  type SipGateway,
  startSipGateway,
  TcpPeer,
  TcpServerPeer,
  udpUac,
  UdpPeer,
} from './helpers.ts';

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
  /** The test's own TCP connection the request came on. */
  | 'conn'
  /** UDP to 127.0.0.1 at the port number of the test's TCP connection (a UDP Via with `rport` on a request over TCP). */
  | 'twin';

type Outcome =
  /** Forwarded to the UAS (or, `to: 'route'`, to mpart01's Route 127.0.0.1:5080); the 200 comes back. */
  | { readonly kind: 'forward'; readonly to?: 'route'; readonly check?: (forwarded: SipRequest, original: SipRequest) => void }
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
  /** What the RFC / README asks, and why Tandem's outcome matches it. */
  readonly note: string;
}

const forward = (check?: (forwarded: SipRequest, original: SipRequest) => void): Outcome => ({ kind: 'forward', ...(check === undefined ? {} : { check }) });
const refused = (reason: string, status = 400): Outcome => ({ kind: 'answer', status, reason, level: 'transport' });
const drop: Outcome = { kind: 'drop' };
const both = (outcome: Outcome): { udp: Outcome; tcp: Outcome } => ({ udp: outcome, tcp: outcome });

const ROWS: readonly Row[] = [
  // §3.1.1 valid messages
  { file: 'wsinv.sip', section: '3.1.1.1', ...both({ kind: 'answer', status: 503, level: 'proxy', check: (raw) => expect(raw).toMatch(/\r\nRetry-After: \d+\r\n/) }),
    note: 'valid; in-dialog (To tag) with a Route to services.example.com: loose-routed there (§16.4, §16.6 step 6), which does not resolve → 503 with Retry-After (SPEC D.9); never sent to the route of the Request-URI' },
  { file: 'intmeth.sip', section: '3.1.1.2', ...both(forward((f) => expect(f.to.displayName).toContain('NUL:\u0000'))),
    note: 'valid; unknown method: a proxy forwards it (with the quoted NUL in the To display name intact)' },
  { file: 'esc01.sip', section: '3.1.1.3', ...both(forward((f) => expect(f.uri.raw).toBe('sip:sips%3Auser%40example.com@example.net'))), note: 'valid; escapes forwarded as received' },
  { file: 'escnull.sip', section: '3.1.1.4', ...both(forward((f) => expect(f.getAll('contact').join(',')).toContain('%00'))), note: 'valid; %00 in user parts forwarded untruncated' },
  { file: 'esc02.sip', section: '3.1.1.5', ...both(forward((f) => expect(f.method).toBe('RE%47IST%45R'))), note: 'valid; RE%47IST%45R is an unknown method (not REGISTER): forwarded' },
  { file: 'lwsdisp.sip', section: '3.1.1.6', ...both(forward()), note: 'valid (RFC 3261 grammar bug): forwarded' },
  { file: 'longreq.sip', section: '3.1.1.7', ...both(forward()), note: 'valid; long values and 34 Vias forwarded' },
  { file: 'dblreq.sip', section: '3.1.1.8',
    udp: forward((f) => {
      expect(f.method).toBe('REGISTER');
      expect(f.body).toHaveLength(0);
      expect(Buffer.from(serialize(f)).toString('latin1')).not.toContain('INVITE');
    }),
    tcp: forward(),
    note: 'UDP: the REGISTER (CL 0) is forwarded, the trailing INVITE bytes are ignored (§18.3), never forwarded. TCP: a stream has no datagram end, so the bytes after the REGISTER are the next message, an INVITE (forwarded too), then "C\\r\\n\\r\\n" has no Content-Length → framing error, connection closed (checked below)' },
  { file: 'semiuri.sip', section: '3.1.1.9', ...both(forward((f) => expect(f.uri.raw).toBe('sip:user;par=u%40example.net@example.com'))), note: 'valid; the user part keeps its ;par=' },
  { file: 'transports.sip', section: '3.1.1.10', ...both(forward((f) => expect(f.via.slice(1).map((v) => v.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']))), note: 'valid; every transport token accepted' },
  { file: 'mpart01.sip', section: '3.1.1.11', ...both({ kind: 'forward', to: 'route' }),
    note: 'valid; has Route <sip:127.0.0.1:5080> (a strict router, no ;lr): sent there (§16.6 step 6); the binary multipart body (NULs, bare CR/LF) forwarded byte-exact' },
  { file: 'unreason.sip', section: '3.1.1.12', ...both(drop), note: 'a valid 200 response, but not for any of our transactions and its top Via is not ours: a proxy drops it (§16.7)' },
  { file: 'noreason.sip', section: '3.1.1.13', ...both(drop), note: 'a valid 100 response (empty reason), not ours: dropped' },
  // §3.1.2 invalid messages
  { file: 'badinv01.sip', section: '3.1.2.1', ...both(drop), note: 'invalid (400 expected), but its only Via is unusable (";;,;,,"), so there is nowhere to send a 400: dropped, never forwarded' },
  { file: 'clerr.sip', section: '3.1.2.2', udp: refused('Content-Length larger than message'), tcp: { kind: 'wait' }, note: 'UDP: 400; TCP: waits for the rest of the body (no answer, no forwarding)' },
  { file: 'ncl.sip', section: '3.1.2.3', udp: refused('Invalid Content-Length'), tcp: { ...refused('Invalid Content-Length'), closes: true } as Outcome, note: 'negative Content-Length: 400; on TCP framing is lost → 400, then the connection is closed' },
  { file: 'scalar02.sip', section: '3.1.2.4', ...both(refused('Malformed CSeq')), note: 'CSeq > 2^32−1: 400 (the 400 copies the CSeq as received)' },
  { file: 'scalarlg.sip', section: '3.1.2.5', ...both(drop), note: 'an invalid response: dropped' },
  { file: 'quotbal.sip', section: '3.1.2.6', ...both(refused('Malformed To')), note: 'unterminated quote: 400' },
  { file: 'ltgtruri.sip', section: '3.1.2.7', ...both(refused('Malformed Request-URI')), note: '<> around the Request-URI: 400' },
  { file: 'lwsruri.sip', section: '3.1.2.8', ...both(refused('Malformed Request-Line')), note: 'LWS in the Request-URI: 400' },
  { file: 'lwsstart.sip', section: '3.1.2.9', ...both(refused('Malformed Request-Line')), note: 'multiple SPs in the Request-Line: rejected (allowed by the RFC)' },
  { file: 'trws.sip', section: '3.1.2.10', ...both(refused('Malformed Request-Line')), note: 'trailing SPs on the Request-Line: rejected (allowed by the RFC)' },
  { file: 'escruri.sip', section: '3.1.2.11', ...both(refused('Headers in Request-URI')), note: 'escaped headers in the Request-URI: 400' },
  { file: 'baddate.sip', section: '3.1.2.12', ...both(forward((f) => expect(f.get('Date')).toBe('Fri, 01 Jan 2010 16:00:00 EST'))), note: 'bad Date time zone: a proxy does not use Date, so it is ignored and forwarded unchanged (the RFC prefers this to rejecting)' },
  { file: 'regbadct.sip', section: '3.1.2.13', ...both(refused('Malformed Contact')), note: 'Contact URI with an escaped header outside <>: 400' },
  { file: 'badaspec.sip', section: '3.1.2.14', ...both(refused('Malformed To')), note: 'spaces inside the addr-spec: 400' },
  { file: 'baddn.sip', section: '3.1.2.15', udp: refused('Malformed From'), tcp: { kind: 'wait' },
    note: 'unquoted non-token display name: 400. The file has no empty line after its headers: a datagram ends there, but on TCP the header section is not over yet, so Tandem waits (completed below: then 400)' },
  { file: 'badvers.sip', section: '3.1.2.16', ...both(refused('Version Not Supported', 505)), note: 'SIP/7.0: 505' },
  { file: 'mismatch01.sip', section: '3.1.2.17', ...both(refused('CSeq method does not match the request method')), note: 'CSeq method ≠ request method: 400' },
  { file: 'mismatch02.sip', section: '3.1.2.18', ...both(refused('CSeq method does not match the request method')), note: 'unknown method with CSeq mismatch: 400 (the RFC accepts 400 as well as 501)' },
  { file: 'bigcode.sip', section: '3.1.2.19', ...both(drop), note: 'response code 4294967301: dropped' },
  // §3.2 transaction layer
  { file: 'badbranch.sip', section: '3.2.1', ...both(forward()), note: 'branch is the bare magic cookie: Tandem falls back to RFC 2543 matching and forwards it (one of the two reactions the RFC allows)' },
  // §3.3 application layer
  { file: 'insuf.sip', section: '3.3.1', ...both(refused('Missing From')), note: 'no Call-ID, From, To: 400 (with the Via and CSeq it has)' },
  { file: 'unkscm.sip', section: '3.3.2', ...both({ kind: 'answer', status: 416, reason: 'Unsupported URI Scheme', level: 'proxy' }), note: 'unknown Request-URI scheme: 416, not routed on To' },
  { file: 'novelsc.sip', section: '3.3.3', ...both({ kind: 'answer', status: 416, reason: 'Unsupported URI Scheme', level: 'proxy' }), note: 'soap.beep: scheme: 416' },
  { file: 'unksm2.sip', section: '3.3.4', ...both(forward()), note: 'unknown schemes in To/From/Contact: a proxy treats the request normally (forwarded)' },
  { file: 'bext01.sip', section: '3.3.5',
    udp: drop,
    tcp: { kind: 'answer', status: 420, reason: 'Bad Extension', level: 'proxy', check: (raw) => expect(raw).toContain('\r\nUnsupported: noProxiesSupportThis, norDoAnyProxiesSupportThis\r\n') },
    note: 'Proxy-Require with unknown tags: 420 with Unsupported, never forwarded. Its Via is TLS: over TCP the 420 goes back on the connection (§18.2.2); over UDP there is no connection and the listener cannot open a TLS one, so the 420 cannot be sent' },
  { file: 'invut.sip', section: '3.3.6', ...both(forward()), note: 'unknown Content-Type: a proxy forwards it (415 is for the endpoint)' },
  { file: 'regaut01.sip', section: '3.3.7', ...both(forward((f) => expect(f.get('Authorization')).toBe('NoOneKnowsThisScheme opaque-data=here'))), note: 'unknown Authorization scheme: forwarded unchanged' },
  { file: 'multi01.sip', section: '3.3.8', ...both(refused('Multiple From values')), note: 'several single-value headers: 400' },
  { file: 'mcl01.sip', section: '3.3.9', udp: refused('Multiple Content-Length values'), tcp: { ...refused('Multiple Content-Length values'), closes: true } as Outcome, note: 'two Content-Lengths: 400; on TCP a framing error → 400 and close' },
  { file: 'bcast.sip', section: '3.3.10', ...both(drop), note: 'a 200 with a broadcast second Via, not ours: dropped, never sent to 255.255.255.255' },
  { file: 'zeromf.sip', section: '3.3.11', ...both({ kind: 'answer', status: 483, reason: 'Too Many Hops', level: 'proxy' }), note: 'Max-Forwards 0: 483, not forwarded' },
  { file: 'cparam01.sip', section: '3.3.12', ...both(forward()), note: 'REGISTER with a contact-param: forwarded (the registrar behind answers 200)' },
  { file: 'cparam02.sip', section: '3.3.13', ...both(forward()), note: 'REGISTER with a URI parameter: forwarded' },
  { file: 'regescrt.sip', section: '3.3.14', ...both(forward((f) => {
    expect(f.route).toHaveLength(0); // the escaped Route stays inside the Contact URI
    expect(f.get('Contact')).toBe('<sip:user@example.com?Route=%3Csip:sip.example.com%3E>');
  })), note: 'REGISTER whose Contact URI has an escaped Route header: forwarded, the header stays escaped in the URI' },
  { file: 'sdp01.sip', section: '3.3.15', ...both(forward()), note: 'Accept nobody supports: a proxy forwards (406 is for the UAS)' },
  // §3.4 backward compatibility
  { file: 'inv2543.sip', section: '3.4.1',
    udp: forward((f) => {
      expect(f.from.tag).toBeUndefined();
      expect(f.via[1]!.branch).toBeUndefined();
    }),
    tcp: { ...refused('Missing Content-Length'), closes: true } as Outcome,
    note: 'RFC 2543 INVITE: over UDP accepted and forwarded (no branch, no From tag, body = rest of the datagram, Max-Forwards 70 added); over TCP Content-Length is mandatory (§18.3, §20.14): 400 and close' },
  // Not described by the RFC
  { file: 'test.sip', section: '—', ...both(drop), note: 'no SIP-Version on the Request-Line and no Via: unanswerable, dropped' },
];

// ---- the UAC side (fixed ports: the messages' Vias name 127.0.0.1:5060) and the UASs ----

let udp5060: UdpPeer;
let tcp5060: TcpServerPeer;
let uas: UdpPeer;
let route5080: UdpPeer;
let gw: SipGateway | undefined;
const opened: { close(): unknown }[] = [];

beforeAll(async () => {
  udp5060 = await retryBind('UDP 127.0.0.1:5060 (the torture messages\' Via port)', () => UdpPeer.open(5060));
  tcp5060 = await retryBind('TCP 127.0.0.1:5060', () => TcpServerPeer.listen(5060));
  route5080 = await retryBind('UDP 127.0.0.1:5080 (mpart01\'s Route)', () => UdpPeer.open(5080));
  uas = await UdpPeer.open();
  answerEverything(uas, { ring: false });
  answerEverything(route5080, { ring: false });
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

/** Everything that reached the UAC side since `since` (responses, parsed or not; requests would be a bug). */
function uacSide(since: number, conn: TcpPeer | undefined, twin: UdpPeer | undefined): { responses: SeenResponse[]; requests: SipMessage[] } {
  const responses: SeenResponse[] = [];
  const requests: SipMessage[] = [];
  const collect = (inbox: Inbox, channel: Channel, fromPort?: number) => {
    const items = [
      ...inbox.all.map((r) => ({ at: r.at, fromPort: r.fromPort, bytes: r.bytes, message: r.message as SipMessage | undefined })),
      ...inbox.garbage.map((g) => ({ at: g.at, fromPort: g.fromPort, bytes: g.bytes, message: undefined })),
    ].sort((a, b) => a.at - b.at);
    for (const item of items) {
      if (item.at < since || (fromPort !== undefined && item.fromPort !== fromPort)) continue;
      if (item.message?.kind === 'request') {
        requests.push(item.message);
        continue;
      }
      const raw = item.bytes.toString('latin1');
      const s = statusOf(raw);
      if (s !== undefined) responses.push({ channel, ...s, raw, fromPort: item.fromPort });
    }
  };
  collect(udp5060.inbox, 'udp', gw!.port);
  collect(tcp5060.inbox, 'tcp5060');
  if (conn !== undefined) collect(conn.inbox, 'conn');
  if (twin !== undefined) collect(twin.inbox, 'twin', gw!.port);
  return { responses, requests };
}

/** Requests of this message (by Call-ID) the UAS or the Route target received since `since`. */
function forwardedCopies(peer: UdpPeer, since: number, callId: string | undefined): SipRequest[] {
  return peer.inbox.all.filter((r) => r.at >= since && r.message.kind === 'request' && (callId === undefined || r.message.callId === callId)).map((r) => r.message as SipRequest);
}

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** The channel a proxy-level response takes (RFC 3261 §18.2.2) for a request with this top Via that arrived over `arrival`. */
function proxyChannel(request: SipRequest, arrival: 'udp' | 'tcp'): Channel | undefined {
  const via = request.topVia!;
  if (via.transport === 'UDP') {
    expect([undefined, 5060, 5070]).toContain(via.port);
    if (arrival === 'udp') return 'udp';
    return via.rport === undefined ? 'udp' : 'twin';
  }
  if (arrival === 'tcp') return ['TCP', 'TLS', 'SCTP'].includes(via.transport) ? 'conn' : undefined;
  return via.transport === 'TCP' ? 'tcp5060' : undefined;
}

/** Headers a proxy may change (§16.6): Via, Max-Forwards, Route, Record-Route; Content-Length may be rewritten. */
const HOP_BY_HOP = new Set(['via', 'max-forwards', 'route', 'record-route', 'content-length']);
const endToEnd = (m: SipMessage): [string, string][] => m.headers.filter((f) => !HOP_BY_HOP.has(f.key)).map((f) => [f.key, f.value]);

function checkForwarded(forwarded: SipRequest, original: SipRequest, strictRoute: boolean): void {
  expect(forwarded.method).toBe(original.method);
  if (!strictRoute) expect(forwarded.uri.raw).toBe(original.uri.raw);
  expect(forwarded.via).toHaveLength(original.via.length + 1);
  expect([forwarded.via[0]!.host, forwarded.via[0]!.port, forwarded.via[0]!.branch]).toEqual(['127.0.0.1', gw!.port, expect.stringMatching(/^z9hG4bK/)]);
  expect(forwarded.via[1]!.branch).toBe(original.via[0]!.branch);
  expect(forwarded.via[1]!.received).toBe('127.0.0.1');
  expect(forwarded.via.slice(2).map((v) => v.raw)).toEqual(original.via.slice(1).map((v) => v.raw));
  expect(forwarded.maxForwards).toBe(original.maxForwards === undefined ? 70 : original.maxForwards - 1);
  expect(Buffer.from(forwarded.body).equals(Buffer.from(original.body))).toBe(true);
  expect(forwarded.contentLength ?? forwarded.body.length).toBe(original.body.length);
  // §16.6: everything end to end (unknown headers included) is forwarded unchanged, in order.
  expect(endToEnd(forwarded)).toEqual(endToEnd(original));
}

async function runRow(row: Row, arrival: 'udp' | 'tcp'): Promise<void> {
  const outcome = arrival === 'udp' ? row.udp : row.tcp;
  const bytes = load(row.file);
  const parsed = parseMessage(bytes);
  const original = parsed.ok && parsed.message.kind === 'request' ? parsed.message : undefined;
  const callId = parsed.ok ? parsed.message.callId : undefined;
  gw = await startSipGateway({ upstream: { port: uas.port }, domains: DOMAINS, T1 });
  const since = performance.now();
  let conn: TcpPeer | undefined;
  let twin: UdpPeer | undefined;
  if (arrival === 'udp') {
    await udp5060.send(bytes, gw.port);
  } else {
    conn = await TcpPeer.connect(gw.port);
    opened.push(conn);
    if (original?.topVia?.rport !== undefined) {
      twin = await retryBind('the UDP twin of the TCP connection', () => UdpPeer.open(conn!.port), 1000);
      opened.push(twin);
    }
    await conn.send(bytes);
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
      checkForwarded(copies[0]!, original!, outcome.to === 'route');
      outcome.check?.(copies[0]!, original!);
      const [ok] = side().responses;
      expect(ok).toMatchObject({ status: 200, channel: expected });
      expect(parseMessage(Buffer.from(ok!.raw, 'latin1')).ok).toBe(true);
      expect(statusOf(ok!.raw)).toBeDefined();
      // The 200 is the UAS's, with our Via removed: its top Via is the UAC's.
      const response = parseMessage(Buffer.from(ok!.raw, 'latin1'));
      if (!response.ok) throw new Error(response.error.reason);
      expect(response.message.via).toHaveLength(original!.via.length);
      expect(response.message.topVia?.branch).toBe(original!.topVia?.branch);
      if (target === uas) expect(forwardedCopies(route5080, since, callId)).toHaveLength(0);
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
}

describe('RFC 4475 torture messages through the gateway', () => {
  it('the table covers every file of the archive', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.sip')).sort();
    expect(files).toHaveLength(50);
    expect(ROWS.map((r) => r.file).sort()).toEqual(files);
  });

  for (const arrival of ['udp', 'tcp'] as const) {
    describe(`over ${arrival.toUpperCase()}`, () => {
      for (const row of ROWS) {
        const outcome = arrival === 'udp' ? row.udp : row.tcp;
        const what = outcome.kind === 'answer' ? `answered ${outcome.status}${outcome.reason === undefined ? '' : ` ${outcome.reason}`}${outcome.closes === true ? ', connection closed' : ''}` : outcome.kind === 'forward' ? 'forwarded, 200 relayed' : outcome.kind === 'wait' ? 'waits for more bytes' : 'dropped';
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
    const [register, invite] = forwardedCopies(uas, since, undefined);
    expect([register!.method, register!.body.length]).toEqual(['REGISTER', 0]);
    expect([invite!.method, invite!.callId, invite!.body.length]).toEqual(['INVITE', 'dblreq.0ha0isnda977644900765@192.0.2.15', 150]);
  });
});

describe('after the whole archive', () => {
  it('one gateway that received every message over UDP and TCP forwards none of the invalid ones and still serves calls on both transports', async () => {
    const callUas = await UdpPeer.open();
    opened.push(callUas);
    answerEverything(callUas);
    gw = await startSipGateway({ upstream: { port: callUas.port }, domains: DOMAINS, T1 });
    const since = performance.now();
    for (const row of ROWS) {
      const bytes = load(row.file);
      await udp5060.send(bytes, gw.port);
      const conn = await TcpPeer.connect(gw.port);
      opened.push(conn);
      await conn.send(bytes);
    }
    await sleep(QUIET_MS);
    // Nothing that is invalid (answered or dropped over both transports) reached the UAS.
    const neverForwarded = ROWS.filter((r) => r.udp.kind !== 'forward' && r.tcp.kind !== 'forward');
    const seen = new Set(callUas.inbox.all.filter((r) => r.at >= since).map((r) => r.message.callId));
    for (const row of neverForwarded) {
      const m = /\r\n(?:Call-ID|i)\s*:\s*([^\r\n]+)/i.exec(load(row.file).toString('latin1'));
      if (m !== null) expect(seen.has(m[1]!.trim()), row.file).toBe(false);
    }

    const uac = await UdpPeer.open();
    opened.push(uac);
    const udpCall = await establishCall(udpUac(uac, gw.port), callUas.inbox, 'UDP');
    const tcp = await TcpPeer.connect(gw.port);
    opened.push(tcp);
    const tcpCall = await establishCall(tcp, callUas.inbox, 'TCP');
    expect((await udpCall.hangUp()).status).toBe(200);
    expect((await tcpCall.hangUp()).status).toBe(200);
  });
});
