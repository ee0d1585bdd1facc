/**
 * Malformed input to a running gateway's `sip` listener, over UDP and over TCP, while a call is in
 * progress (set up before, hung up after: the BYE is answered 200 end to end). Each input is answered
 * (400 with a reason phrase saying what is wrong, 513 for an oversize message on TCP) or dropped, never
 * forwarded; on TCP, framing errors close that connection only, and a Content-Length that is too long
 * makes the framer wait for the rest, after which the next message still frames. The gateway runs in
 * this process: a crash or an unhandled error fails the file, and no error is logged.
 *
 * Then a property (fast-check, a few hundred runs): valid messages mutated (byte flips, insertions,
 * deletions, truncation, duplicated lines) and sent over UDP never stop the gateway from answering an
 * OPTIONS probe routed through it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SipRequest } from '../../../src/sip/index.ts';
import { mutate, mutationArbitrary } from '../mutations.ts';
import { answerEverything, establishCall, type Inbox, request, sleep, type SipGateway, startSipGateway, TcpPeer, TcpServerPeer, udpUac, UdpPeer, unique } from './helpers.ts';

const T1 = 50;
const QUIET_MS = 150;

/** An OPTIONS routed to the UAS (example.com) from a UAC at `port`. */
const options = (port: number, transport: 'UDP' | 'TCP', extra: readonly string[] = [], body?: string) =>
  request({ method: 'OPTIONS', port, transport, extra, ...(body === undefined ? {} : { body }) });

function withoutHeader(message: string, name: string): string {
  return message
    .split('\r\n')
    .filter((line) => !line.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .join('\r\n');
}

function setContentLength(message: string, length: number): string {
  return message.replace(/\r\nContent-Length: \d+\r\n/, `\r\nContent-Length: ${length}\r\n`);
}

/** Deterministic binary noise (no PRNG state shared with fast-check). */
function noise(length: number, seed: number, withHeaderEnd: boolean): Buffer {
  const b = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  // Keep accidental CRLFCRLF out, or put one in on purpose.
  for (let i = 0; i + 3 < length; i++) if (b[i] === 0x0d && b[i + 1] === 0x0a && b[i + 2] === 0x0d && b[i + 3] === 0x0a) b[i + 3] = 0x20;
  if (withHeaderEnd) b.write('\r\n\r\n', Math.floor(length / 2), 'latin1');
  return b;
}

type Expect =
  /** Answered by the listener: this status and reason phrase. */
  | { readonly answer: number; readonly reason: string; readonly closes?: boolean }
  /** No answer, nothing forwarded. `closes`: TCP only, the connection is closed by the gateway. */
  | { readonly drop: true; readonly closes?: boolean }
  /** TCP only: nothing yet (the framer waits for the rest), the connection stays open. */
  | { readonly wait: true };

interface Case {
  readonly name: string;
  /** The bytes, for a UAC at `port` over `transport`. */
  readonly bytes: (port: number, transport: 'UDP' | 'TCP') => string | Buffer;
  readonly udp?: Expect;
  readonly tcp?: Expect;
}

const answer = (status: number, reason: string, closes = false): Expect => ({ answer: status, reason, closes });
const dropped: Expect = { drop: true };

/** Both transports, unless a side says otherwise; a side left out is not run. */
const CASES: readonly Case[] = [
  { name: 'truncated in the middle of a header line', bytes: (p, t) => { const m = options(p, t); return m.slice(0, m.indexOf('Contact:') + 4); },
    udp: answer(400, 'Malformed header line'), tcp: { wait: true } },
  { name: 'truncated before its CSeq (nothing to copy into a response)', bytes: (p, t) => { const m = options(p, t); return m.slice(0, m.indexOf('Call-ID:') + 5); },
    udp: dropped, tcp: { wait: true } },
  { name: 'truncated after a header line (no empty line)', bytes: (p, t) => { const m = options(p, t); return m.slice(0, m.indexOf('Content-Length:')); },
    udp: answer(400, 'No end of header section'), tcp: { wait: true } },
  { name: 'Content-Length larger than the body', bytes: (p, t) => setContentLength(options(p, t, ['Content-Type: text/plain'], 'hello'), 50),
    udp: answer(400, 'Content-Length larger than message'), tcp: { wait: true } },
  { name: 'Content-Length not a number', bytes: (p, t) => options(p, t).replace('Content-Length: 0', 'Content-Length: 12abc'),
    udp: answer(400, 'Invalid Content-Length'), tcp: answer(400, 'Invalid Content-Length', true) },
  { name: 'no Content-Length on a stream', bytes: (p, t) => withoutHeader(options(p, t), 'Content-Length'), tcp: answer(400, 'Missing Content-Length', true) },
  { name: 'two Content-Lengths', bytes: (p, t) => options(p, t).replace('Content-Length: 0', 'Content-Length: 0\r\nContent-Length: 0'),
    udp: answer(400, 'Multiple Content-Length values'), tcp: answer(400, 'Multiple Content-Length values', true) },
  { name: 'no Via', bytes: (p, t) => withoutHeader(options(p, t), 'Via'), udp: dropped, tcp: dropped },
  { name: 'no From', bytes: (p, t) => withoutHeader(options(p, t), 'From'), udp: answer(400, 'Missing From'), tcp: answer(400, 'Missing From') },
  { name: 'no To', bytes: (p, t) => withoutHeader(options(p, t), 'To'), udp: answer(400, 'Missing To'), tcp: answer(400, 'Missing To') },
  { name: 'no Call-ID', bytes: (p, t) => withoutHeader(options(p, t), 'Call-ID'), udp: answer(400, 'Missing Call-ID'), tcp: answer(400, 'Missing Call-ID') },
  { name: 'no CSeq (nothing to copy into a response)', bytes: (p, t) => withoutHeader(options(p, t), 'CSeq'), udp: dropped, tcp: dropped },
  { name: 'CSeq not a number', bytes: (p, t) => options(p, t).replace('CSeq: 1 OPTIONS', 'CSeq: one OPTIONS'), udp: answer(400, 'Malformed CSeq'), tcp: answer(400, 'Malformed CSeq') },
  { name: 'Max-Forwards out of range', bytes: (p, t) => options(p, t).replace('Max-Forwards: 70', 'Max-Forwards: 256'), udp: answer(400, 'Malformed Max-Forwards'), tcp: answer(400, 'Malformed Max-Forwards') },
  { name: 'a header line without a colon', bytes: (p, t) => options(p, t).replace('Max-Forwards: 70', 'Max-Forwards 70'), udp: answer(400, 'Malformed header line'), tcp: answer(400, 'Malformed header line') },
  { name: 'a bare LF inside a header', bytes: (p, t) => options(p, t).replace('To: <sip:bob@example.com>', 'To: <sip:bob@\nexample.com>'), udp: answer(400, 'Bare CR or LF in header'), tcp: answer(400, 'Bare CR or LF in header') },
  { name: 'SIP/3.0', bytes: (p, t) => options(p, t).replace('OPTIONS sip:bob@example.com SIP/2.0', 'OPTIONS sip:bob@example.com SIP/3.0'), udp: answer(505, 'Version Not Supported'), tcp: answer(505, 'Version Not Supported') },
  { name: 'control bytes in the method', bytes: (p, t) => options(p, t).replace('OPTIONS sip:', 'OPT\u0000\u0007IONS sip:'), udp: dropped, tcp: dropped },
  { name: 'a malformed response', bytes: () => 'SIP/2.0 2000 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n', udp: dropped, tcp: dropped },
  { name: 'garbage bytes (binary, no header end)', bytes: () => noise(512, 7, false), udp: dropped, tcp: { wait: true } },
  { name: 'binary noise with an empty line in it', bytes: () => noise(2048, 11, true), udp: dropped, tcp: { drop: true, closes: true } },
  { name: 'binary noise beyond the stream limit (80 KB, no header end)', bytes: () => noise(80_000, 13, false), tcp: { drop: true, closes: true } },
  { name: 'oversize: a 70 KB header on a stream', bytes: (p, t) => options(p, t, [`X-Padding: ${'a'.repeat(70_000)}`]), tcp: answer(513, 'Message Too Large', true) },
  { name: 'oversize and malformed: a 60 KB datagram with a bad header', bytes: (p, t) => options(p, t, [`X-Padding: ${'a'.repeat(60_000)}`, 'Broken header']), udp: answer(400, 'Malformed header line') },
];

interface Fixture {
  gw: SipGateway;
  uas: UdpPeer;
  /** The call in progress: its hang-up resolves with the UAC's 200 for the BYE. */
  hangUp: () => Promise<unknown>;
  /** Sends bytes as an attacker over the transport and returns what it got back. */
  attack: (bytes: (port: number, transport: 'UDP' | 'TCP') => string | Buffer) => Promise<{ inbox: Inbox; conn?: TcpPeer; since: number }>;
  closers: (() => unknown)[];
}

async function fixture(transport: 'UDP' | 'TCP'): Promise<Fixture> {
  const closers: (() => unknown)[] = [];
  const uas = await UdpPeer.open();
  closers.push(() => uas.close());
  answerEverything(uas);
  const gw = await startSipGateway({ upstream: { port: uas.port }, T1 });
  closers.push(() => gw.stop());
  let hangUp: () => Promise<unknown>;
  if (transport === 'UDP') {
    const uac = await UdpPeer.open();
    closers.push(() => uac.close());
    ({ hangUp } = await establishCall(udpUac(uac, gw.port), uas.inbox, 'UDP'));
  } else {
    const uac = await TcpPeer.connect(gw.port);
    closers.push(() => uac.close());
    ({ hangUp } = await establishCall(uac, uas.inbox, 'TCP'));
  }
  const attack: Fixture['attack'] = async (bytes) => {
    const since = performance.now();
    if (transport === 'UDP') {
      const peer = await UdpPeer.open();
      closers.push(() => peer.close());
      await peer.send(bytes(peer.port, 'UDP'), gw.port);
      return { inbox: peer.inbox, since };
    }
    const conn = await TcpPeer.connect(gw.port);
    closers.push(() => conn.close());
    await conn.send(bytes(conn.port, 'TCP'));
    return { inbox: conn.inbox, conn, since };
  };
  return { gw, uas, hangUp, attack, closers };
}

/** Responses an attacker received, parsed or not, as [status, reason]. */
function responses(inbox: Inbox): [number, string][] {
  const raw = [...inbox.all.map((r) => r.bytes), ...inbox.garbage.map((g) => g.bytes)];
  return raw.map((b) => /^SIP\/2\.0 (\d{3}) ([^\r\n]*)\r\n/.exec(b.toString('latin1'))).filter((m) => m !== null).map((m) => [Number(m[1]), m[2]!]);
}

const forwardedSince = (uas: UdpPeer, since: number) => uas.inbox.all.filter((r) => r.at >= since && r.message.kind === 'request');

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
}

function noErrorsLogged(gw: SipGateway): void {
  expect(gw.logs.filter((l) => l['level'] === 'error' || l['level'] === 'fatal')).toEqual([]);
}

for (const transport of ['UDP', 'TCP'] as const) {
  describe(`malformed input over ${transport} while a call is in progress`, () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await fixture(transport);
    });
    afterAll(async () => {
      for (const close of f.closers.reverse()) await close();
    });

    for (const c of CASES) {
      const expected = transport === 'UDP' ? c.udp : c.tcp;
      if (expected === undefined) continue;
      const what = 'answer' in expected ? `${expected.answer} ${expected.reason}${expected.closes === true ? ', connection closed' : ''}` : 'wait' in expected ? 'the framer waits, the connection stays open' : `dropped${expected.closes === true ? ', connection closed' : ''}`;
      it(`${c.name}: ${what}`, async () => {
        const { inbox, conn, since } = await f.attack(c.bytes);
        if ('answer' in expected) {
          await until(() => responses(inbox).length > 0);
          await sleep(20);
          expect(responses(inbox)).toEqual([[expected.answer, expected.reason]]);
          if (conn !== undefined) expect(await conn.closesWithin(expected.closes === true ? 1000 : 100)).toBe(expected.closes === true);
        } else {
          if ('drop' in expected && expected.closes === true) expect(await conn!.closesWithin(2000)).toBe(true);
          else await sleep(QUIET_MS);
          expect(responses(inbox)).toEqual([]);
          if (conn !== undefined && !('drop' in expected && expected.closes === true)) expect(conn.closed).toBe(false);
        }
        expect(forwardedSince(f.uas, since), 'never forwarded').toEqual([]);
      });
    }

    if (transport === 'TCP') {
      it('Content-Length too long: the framer waits; the rest of the body completes the message (forwarded), and the next message on the connection still frames', async () => {
        const { inbox, conn, since } = await f.attack((p) => setContentLength(options(p, 'TCP', ['Content-Type: text/plain'], 'hello'), 11));
        await sleep(QUIET_MS);
        expect(responses(inbox)).toEqual([]);
        expect(forwardedSince(f.uas, since)).toEqual([]);
        await conn!.send(' world'); // 5 + 6 = 11 octets
        await until(() => responses(inbox).length === 1);
        expect(responses(inbox)).toEqual([[200, 'OK']]);
        const [forwarded] = forwardedSince(f.uas, since);
        expect(Buffer.from(forwarded!.message.body).toString('latin1')).toBe('hello world');
        await conn!.send(options(conn!.port, 'TCP'));
        await until(() => responses(inbox).length === 2);
        expect(responses(inbox)).toEqual([[200, 'OK'], [200, 'OK']]);
        expect(conn!.closed).toBe(false);
      });

      it('Content-Length too short: the body is cut there (forwarded so), the left-over octets start the next message, which is refused 400; the one after frames again', async () => {
        const { inbox, conn, since } = await f.attack((p) => setContentLength(options(p, 'TCP', ['Content-Type: text/plain'], 'v=0xyz'), 3));
        await until(() => responses(inbox).length === 1);
        expect(Buffer.from(forwardedSince(f.uas, since)[0]!.message.body).toString('latin1')).toBe('v=0');
        // "xyz" + the next OPTIONS: the Request-Line reads "xyzOPTIONS sip:...": a method the CSeq does not match.
        await conn!.send(options(conn!.port, 'TCP'));
        await until(() => responses(inbox).length === 2);
        expect(responses(inbox)[1]).toEqual([400, 'CSeq method does not match the request method']);
        await conn!.send(options(conn!.port, 'TCP'));
        await until(() => responses(inbox).length === 3);
        expect(responses(inbox)).toEqual([[200, 'OK'], [400, 'CSeq method does not match the request method'], [200, 'OK']]);
        expect(forwardedSince(f.uas, since)).toHaveLength(2);
        expect(conn!.closed).toBe(false);
      });

      it('a truncated message followed by the peer closing its connection: nothing forwarded, nothing answered', async () => {
        const { inbox, conn, since } = await f.attack((p) => options(p, 'TCP').slice(0, 60));
        conn!.socket.end();
        await sleep(QUIET_MS);
        expect(responses(inbox)).toEqual([]);
        expect(forwardedSince(f.uas, since)).toEqual([]);
      });
    } else {
      it('Content-Length too short on UDP: the body is cut there (RFC 3261 §18.3) and forwarded so', async () => {
        const { inbox, since } = await f.attack((p) => setContentLength(options(p, 'UDP', ['Content-Type: text/plain'], 'v=0xyz'), 3));
        await until(() => responses(inbox).length === 1);
        expect(responses(inbox)).toEqual([[200, 'OK']]);
        const [forwarded] = forwardedSince(f.uas, since);
        expect(Buffer.from(forwarded!.message.body).toString('latin1')).toBe('v=0');
        expect((forwarded!.message as SipRequest).contentLength).toBe(3);
      });

      it('an empty datagram and CRLF keepalives: ignored', async () => {
        const { inbox, since } = await f.attack(() => '\r\n\r\n');
        const again = await f.attack(() => Buffer.alloc(0));
        await sleep(QUIET_MS);
        expect([...responses(inbox), ...responses(again.inbox)]).toEqual([]);
        expect(forwardedSince(f.uas, since)).toEqual([]);
      });

      // RFC 3261 §18.1.1: "If a request is within 200 bytes of the path MTU, or if it is larger than
      // 1300 bytes and the path MTU is unknown, the request MUST be sent using an RFC 2914 congestion
      // controlled transport protocol, such as TCP."
      it('a 2 KB request from a UDP UAC is forwarded over TCP (RFC 3261 §18.1.1), with a TCP Via', async () => {
        const tcpUas = await TcpServerPeer.listen();
        const udpUas = await UdpPeer.open(tcpUas.port);
        answerEverything(udpUas);
        tcpUas.onMessage = (m, peer) => {
          if (m.kind === 'request') void peer.send(`SIP/2.0 200 OK\r\n${m.headers.filter((h) => ['via', 'from', 'to', 'call-id', 'cseq'].includes(h.key)).map((h) => h.wire).join('\r\n')}\r\nContent-Length: 0\r\n\r\n`);
        };
        const gw = await startSipGateway({ upstream: { port: tcpUas.port }, T1 });
        try {
          const { inbox } = await (async () => {
            const peer = await UdpPeer.open();
            await peer.send(options(peer.port, 'UDP', [`X-Padding: ${'a'.repeat(2000)}`]), gw.port);
            return { inbox: peer.inbox };
          })();
          await until(() => responses(inbox).length > 0);
          expect(tcpUas.inbox.count((m) => m.kind === 'request')).toBe(1);
          expect(udpUas.inbox.count((m) => m.kind === 'request')).toBe(0);
          expect((tcpUas.inbox.all[0]!.message as SipRequest).topVia?.transport).toBe('TCP');
        } finally {
          await gw.stop();
          await tcpUas.close();
          await udpUas.close();
        }
      });
    }

    it('afterwards: an OPTIONS is still forwarded and answered, the call in progress hangs up (BYE 200 end to end), nothing was logged as an error', async () => {
      const { inbox } = await f.attack((p, t) => options(p, t));
      await until(() => responses(inbox).length === 1);
      expect(responses(inbox)).toEqual([[200, 'OK']]);
      const byeOk = await f.hangUp();
      expect(byeOk).toMatchObject({ status: 200 });
      noErrorsLogged(f.gw);
    });
  });
}

// ---- property: mutated valid messages over UDP ----

const INSERTS = ['\r', '\n', '\r\n', '\r\n ', ',', '"', '\u0000', ';', '<', '>', ' ', '\\', '%', ':', '=', '@', '\r\n\r\n', 'é', 'Content-Length: 9\r\n', 'Via: garbage\r\n'];
const mutation = mutationArbitrary({ inserts: INSERTS, maxAt: 100_000, maxDeleteLength: 12, maxLine: 20 });

describe('property: mutated messages over UDP never stop the gateway', () => {
  it('after each of 300 mutated INVITE/OPTIONS/REGISTER/BYE/ACK/response datagrams, an OPTIONS probe is still forwarded and answered 200', async () => {
    const uas = await UdpPeer.open();
    answerEverything(uas);
    const gw = await startSipGateway({ upstream: { port: uas.port }, T1 });
    const attacker = await UdpPeer.open();
    const prober = await UdpPeer.open();
    try {
      const p = attacker.port;
      const seeds = [
        request({ port: p, extra: ['Content-Type: application/sdp'], body: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n' }),
        request({ method: 'OPTIONS', port: p }),
        request({ method: 'REGISTER', port: p, uri: 'sip:example.com', extra: ['Expires: 60'] }),
        request({ method: 'BYE', port: p }).replace('To: <sip:bob@example.com>', 'To: <sip:bob@example.com>;tag=x'),
        request({ method: 'ACK', port: p }).replace('To: <sip:bob@example.com>', 'To: <sip:bob@example.com>;tag=x'),
        `SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:${p};branch=z9hG4bKstray\r\nFrom: <sip:a@example.org>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: stray@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
      ].map((s) => Buffer.from(s, 'latin1'));
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (seed, mutations) => {
          runs++;
          await attacker.send(mutate(seed, mutations), gw.port);
          const callId = unique('probe-');
          await prober.send(request({ method: 'OPTIONS', port: prober.port, callId }), gw.port);
          const ok = await prober.inbox.next((m) => m.kind === 'response' && m.callId === `${callId}@127.0.0.1`, 2000);
          expect(ok.message.kind === 'response' && ok.message.status).toBe(200);
        }),
        { numRuns: 300 },
      );
      expect(runs).toBe(300);
      // The call path still works end to end after all that.
      const { hangUp } = await establishCall(udpUac(prober, gw.port), uas.inbox, 'UDP');
      expect(await hangUp()).toMatchObject({ status: 200 });
      noErrorsLogged(gw);
    } finally {
      await gw.stop();
      await attacker.close();
      await prober.close();
      await uas.close();
    }
  });
});
