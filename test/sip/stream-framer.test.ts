import { describe, expect, it } from 'vitest';
import { type FramerEvent, parseMessage, serialize, StreamFramer } from '../../src/sip/index.ts';
import { BYE, INVITE, parsed, sip, text } from './fixtures.ts';

/** Events with message bytes shown as text, for comparison. */
function show(events: FramerEvent[]): unknown[] {
  return events.map((e) => (e.type === 'message' ? { message: text(e.bytes) } : e.type === 'error' ? { error: e.error.reason, status: e.error.status } : e.type));
}

function feed(framer: StreamFramer, chunks: Uint8Array[]): FramerEvent[] {
  return chunks.flatMap((c) => framer.push(c));
}

describe('stream framing (RFC 3261 §18.3)', () => {
  const pair = Buffer.concat([INVITE, BYE]);
  const expected = [{ message: text(INVITE) }, { message: text(BYE) }];

  it('two messages split at every byte boundary are framed the same', () => {
    for (let cut = 0; cut <= pair.length; cut++) {
      const events = feed(new StreamFramer(), [pair.subarray(0, cut), pair.subarray(cut)]);
      expect(show(events), `cut at ${cut}`).toEqual(expected);
    }
  });

  it('a message fed one byte at a time is framed once, when its last body byte arrives', () => {
    const framer = new StreamFramer();
    const events: FramerEvent[] = [];
    for (let i = 0; i < INVITE.length; i++) {
      const out = framer.push(INVITE.subarray(i, i + 1));
      if (i < INVITE.length - 1) expect(out).toEqual([]);
      events.push(...out);
    }
    expect(show(events)).toEqual([{ message: text(INVITE) }]);
    expect(framer.buffered).toBe(0);
  });

  it('several messages coalesced in one chunk are all framed, in order, and each parses', () => {
    const events = new StreamFramer().push(Buffer.concat([INVITE, BYE, INVITE]));
    expect(show(events)).toEqual([...expected, { message: text(INVITE) }]);
    for (const e of events) if (e.type === 'message') expect(parseMessage(e.bytes).ok).toBe(true);
  });

  it('the body is cut by Content-Length, even when it contains an empty line', () => {
    const body = 'a\r\n\r\nb';
    const m = sip(['MESSAGE sip:u@b SIP/2.0', 'Via: SIP/2.0/TCP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:u@b>', 'Call-ID: x', 'CSeq: 1 MESSAGE', `l: ${body.length}`], body);
    const events = new StreamFramer().push(Buffer.concat([m, BYE]));
    expect(show(events)).toEqual([{ message: text(m) }, { message: text(BYE) }]);
    const first = events[0];
    expect(first?.type === 'message' && text(parsed(first.bytes).body)).toBe(body);
  });

  it('message bytes handed out are never overwritten by later input, and input chunks are never written into', () => {
    const framer = new StreamFramer();
    const chunk1 = Buffer.concat([INVITE, BYE.subarray(0, 40)]);
    const copy1 = Buffer.from(chunk1);
    const [first] = framer.push(chunk1);
    const chunk2 = BYE.subarray(40);
    const events = framer.push(Buffer.from(chunk2));
    for (let i = 0; i < 50; i++) framer.push(Buffer.from('\r\n\r\n'));
    expect(first?.type === 'message' && text(first.bytes)).toBe(text(INVITE));
    expect(show(events)).toEqual([{ message: text(BYE) }]);
    expect(chunk1.equals(copy1)).toBe(true);
  });

  it('a large message arriving one byte per chunk is framed once, intact', () => {
    const body = 'x'.repeat(30_000);
    const m = sip(['MESSAGE sip:u@b SIP/2.0', 'Via: SIP/2.0/TCP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:u@b>', 'Call-ID: x', 'CSeq: 1 MESSAGE', `Content-Length: ${body.length}`], body);
    const framer = new StreamFramer();
    const events: FramerEvent[] = [];
    for (let i = 0; i < m.length; i++) events.push(...framer.push(m.subarray(i, i + 1)));
    expect(show(events)).toEqual([{ message: text(m) }]);
  });

  it('a folded Content-Length is read across its continuation line', () => {
    const m = sip(['OPTIONS sip:u@b SIP/2.0', 'Via: SIP/2.0/TCP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:u@b>', 'Call-ID: x', 'CSeq: 1 OPTIONS', 'Content-Length:', ' 2'], 'hi');
    expect(show(new StreamFramer().push(m))).toEqual([{ message: text(m) }]);
  });
});

describe('CRLF keepalives between messages (RFC 5626 §3.5.1)', () => {
  it('a double CRLF is a ping, a single CRLF is a pong; neither is part of a message', () => {
    const events = new StreamFramer().push(Buffer.concat([Buffer.from('\r\n\r\n'), INVITE, Buffer.from('\r\n'), BYE, Buffer.from('\r\n\r\n')]));
    expect(show(events)).toEqual(['ping', { message: text(INVITE) }, 'pong', { message: text(BYE) }, 'ping']);
  });

  it('a server waits for the next byte before calling a lone CRLF a pong; a client reports it at once', () => {
    const server = new StreamFramer({ role: 'server' });
    expect(server.push(Buffer.from('\r\n'))).toEqual([]);
    expect(show(server.push(Buffer.from('\r\n')))).toEqual(['ping']);
    const client = new StreamFramer({ role: 'client' });
    expect(show(client.push(Buffer.from('\r\n')))).toEqual(['pong']);
  });

  it('a ping split across chunks is still one ping for a server', () => {
    const framer = new StreamFramer();
    expect(show(feed(framer, [Buffer.from('\r'), Buffer.from('\n\r'), Buffer.from('\n'), BYE]))).toEqual(['ping', { message: text(BYE) }]);
  });
});

describe('stream framing errors are fatal for the connection', () => {
  it('a message without Content-Length is a framing error the transport answers with 400 before closing', () => {
    const m = sip(['OPTIONS sip:u@b SIP/2.0', 'Via: SIP/2.0/TCP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:u@b>', 'Call-ID: x', 'CSeq: 1 OPTIONS']);
    const framer = new StreamFramer();
    const [event, ...rest] = framer.push(Buffer.concat([m, BYE]));
    expect(rest).toEqual([]);
    expect(event).toMatchObject({ type: 'error', error: { status: 400, reason: 'Missing Content-Length', canRespond: true, partial: { callId: 'x' } } });
    expect(framer.failed).toBe(true);
    expect(framer.push(BYE)).toEqual([]);
  });

  it.each([
    ['a negative Content-Length (RFC 4475 §3.1.2.3)', ['Content-Length: -999'], 'Invalid Content-Length'],
    ['two Content-Length headers (RFC 4475 §3.3.9)', ['Content-Length: 13', 'l: 5'], 'Multiple Content-Length values'],
  ])('%s is a framing error', (_title, extra, reason) => {
    const m = sip(['OPTIONS sip:u@b SIP/2.0', 'Via: SIP/2.0/TCP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:u@b>', 'Call-ID: x', 'CSeq: 1 OPTIONS', ...extra]);
    expect(show(new StreamFramer().push(m))).toEqual([{ error: reason, status: 400 }]);
  });

  it('a message larger than maxMessageBytes is refused with 513, whether its header or its body is too long', () => {
    const big = sip(['OPTIONS sip:u@b SIP/2.0', 'Via: SIP/2.0/TCP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:u@b>', 'Call-ID: x', 'CSeq: 1 OPTIONS', 'Content-Length: 5000'], 'x'.repeat(5000));
    expect(show(new StreamFramer({ maxMessageBytes: 1024 }).push(big.subarray(0, 300)))).toEqual([{ error: 'Message Too Large', status: 513 }]);
    const endless = new StreamFramer({ maxMessageBytes: 1024 });
    expect(endless.push(Buffer.from('OPTIONS sip:u@b SIP/2.0\r\nX: ' + 'y'.repeat(900)))).toEqual([]);
    expect(show(endless.push(Buffer.from('y'.repeat(200))))).toEqual([{ error: 'Message Too Large', status: 513 }]);
    expect(endless.buffered).toBe(0);
  });

  it('a message re-serialized after edits frames again on a stream', () => {
    const m = parsed(INVITE);
    m.setBody('changed');
    expect(show(new StreamFramer().push(serialize(m)))).toEqual([{ message: text(serialize(m)) }]);
  });
});
