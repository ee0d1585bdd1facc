import { describe, expect, it } from 'vitest';
import { createResponse, errorResponseBytes, parseMessage, serialize } from '../../src/sip/index.ts';
import { INVITE, OK_200, parsed, request, response, sip, text, TYPICAL } from './fixtures.ts';

/** The header lines of a serialized message. */
function lines(bytes: Uint8Array): string[] {
  const t = text(bytes);
  return t.slice(0, t.indexOf('\r\n\r\n')).split('\r\n');
}

describe('proxy edits (RFC 3261 §16.6) rewrite only what they touch', () => {
  it('a proxy MUST insert its Via above the existing ones (§16.6 step 8)', () => {
    const m = request(INVITE);
    m.prependVia('SIP/2.0/TCP proxy.example.com:5060;branch=z9hG4bKp1');
    expect(m.via.map((v) => v.branch)).toEqual(['z9hG4bKp1', 'z9hG4bK74bf9']);
    const out = lines(serialize(m));
    expect(out[1]).toBe('Via: SIP/2.0/TCP proxy.example.com:5060;branch=z9hG4bKp1');
    expect(out.slice(2)).toEqual(lines(INVITE).slice(1));
  });

  it('edits of headers named like Object properties leave the typed values alone', () => {
    const m = request(INVITE);
    const via = m.via;
    m.addHeader('Constructor', 'x');
    m.addHeader('toString', 'y');
    expect(m.removeHeader('constructor')).toBe(1);
    expect(m.removeHeader('TOSTRING')).toBe(1);
    expect(m.via).toBe(via); // still the cached value: only the edited header's slot is cleared
    expect(m.get('Constructor')).toBeUndefined();
    m.prependVia('SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp2');
    expect(m.via).not.toBe(via);
    expect(m.via.map((v) => v.branch)).toEqual(['z9hG4bKp2', 'z9hG4bK74bf9']);
  });

  it('a proxy MUST decrement Max-Forwards by one (§16.6 step 3) and add 70 when absent', () => {
    const m = request(INVITE);
    expect(m.decrementMaxForwards()).toBe(69);
    expect(lines(serialize(m))).toContain('Max-Forwards: 69');
    const n = request(sip(['OPTIONS sip:u@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:u@b>', 'Call-ID: x', 'CSeq: 1 OPTIONS']));
    expect(n.decrementMaxForwards()).toBe(70);
    expect(n.get('Max-Forwards')).toBe('70');
    const zero = request(sip(['OPTIONS sip:u@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'Max-Forwards: 0', 'From: <sip:a@b>;tag=1', 'To: <sip:u@b>', 'Call-ID: x', 'CSeq: 1 OPTIONS']));
    expect(() => zero.decrementMaxForwards()).toThrow(RangeError);
  });

  it('Record-Route goes above existing Record-Route values, or after the Vias (§16.6 step 4)', () => {
    const m = request(INVITE);
    m.prependRecordRoute('<sip:p1.example.com;lr>');
    expect(lines(serialize(m))[2]).toBe('Record-Route: <sip:p1.example.com;lr>');
    m.prependRecordRoute('<sip:p2.example.com;lr;transport=ws>');
    expect(m.recordRoute.map((r) => r.uri.raw)).toEqual(['sip:p2.example.com;lr;transport=ws', 'sip:p1.example.com;lr']);
    expect(() => m.prependRecordRoute('sip:no-brackets.example.com')).toThrow(TypeError);
  });

  it('popping the top Route keeps the other values of a multi-value line as written (§16.4)', () => {
    const m = request(INVITE);
    expect(m.popRoute()?.uri.raw).toBe('sip:ss1.atlanta.example.com;lr');
    expect(lines(serialize(m))).toContain('Route: <sip:ss2.biloxi.example.com;lr>');
    expect(m.popRoute()?.uri.raw).toBe('sip:ss2.biloxi.example.com;lr');
    expect(m.has('Route')).toBe(false);
    expect(m.popRoute()).toBeUndefined();
  });

  it('a proxy removes its own top Via from a response (§16.7 step 3); the rest is untouched', () => {
    const m = response(OK_200);
    expect(m.removeTopVia()?.host).toBe('ss1.atlanta.example.com');
    expect(m.via.length).toBe(1);
    const out = text(serialize(m));
    expect(out).toBe(text(OK_200).replace(/Via: SIP\/2.0\/UDP ss1[^\r]*\r\n/, ''));
  });

  it('removing the top value of a compact multi-value Via line keeps the compact name', () => {
    const m = request(sip(['OPTIONS sip:u@b SIP/2.0', 'v: SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/UDP b;branch=z9hG4bK2', 'f: <sip:a@b>;tag=1', 't: <sip:u@b>', 'i: x', 'CSeq: 1 OPTIONS']));
    m.removeTopVia();
    expect(lines(serialize(m))[1]).toBe('v: SIP/2.0/UDP b;branch=z9hG4bK2');
  });

  it('replacing the Request-URI rewrites only the start line (§16.6 step 2)', () => {
    const m = request(INVITE);
    m.setRequestUri('sip:bob@192.0.2.4:5060;transport=tcp');
    expect(m.uri).toMatchObject({ host: '192.0.2.4', port: 5060 });
    expect(text(serialize(m))).toBe(text(INVITE).replace('INVITE sip:bob@biloxi.example.com SIP/2.0', 'INVITE sip:bob@192.0.2.4:5060;transport=tcp SIP/2.0'));
    expect(() => m.setRequestUri('<sip:x@y>')).toThrow(TypeError);
    expect(() => m.setRequestUri('sip:x@y?Route=a')).toThrow(TypeError);
  });

  it('setHeader replaces every line of a header in place; addHeader appends; removeHeader removes all', () => {
    const m = request(INVITE);
    m.setHeader('supported', 'path');
    m.addHeader('P-Flow', 'abc');
    expect(m.supported).toEqual(['path']);
    const out = lines(serialize(m));
    expect(out.indexOf('Supported: path')).toBe(lines(INVITE).indexOf('Supported: replaces, 100rel'));
    expect(out.at(-1)).toBe('P-Flow: abc');
    expect(m.removeHeader('p-flow')).toBe(1);
    expect(() => m.addHeader('Bad Name', 'x')).toThrow(TypeError);
    expect(() => m.addHeader('X-Inject', 'a\r\nVia: evil')).toThrow(TypeError);
  });

  it('changing the body recomputes Content-Length (§20.14), and the result re-parses', () => {
    const m = request(INVITE);
    m.setBody('hello', 'text/plain');
    const out = serialize(m);
    const again = request(out);
    expect([again.contentLength, again.contentType?.subtype, Buffer.from(again.body).toString()]).toEqual([5, 'plain', 'hello']);
    m.setBody(new Uint8Array(0));
    expect([m.get('content-length'), m.has('content-type')]).toEqual(['0', false]);
  });

  it('a typed value read before an edit is refreshed after it', () => {
    const m = request(INVITE);
    expect(m.maxForwards).toBe(70);
    m.setHeader('Max-Forwards', '5');
    expect(m.maxForwards).toBe(5);
  });
});

describe('building responses (RFC 3261 §8.2.6)', () => {
  it('a response copies Via (all, in order), From, To, Call-ID and CSeq, and adds the To tag', () => {
    const req = request(sip([
      'INVITE sip:bob@b SIP/2.0',
      'Via: SIP/2.0/UDP p1;branch=z9hG4bK1',
      'Via: SIP/2.0/UDP c1;branch=z9hG4bK2, SIP/2.0/UDP c0;branch=z9hG4bK3',
      'From: <sip:a@b>;tag=1',
      'To: Bob <sip:bob@b>',
      'Call-ID: x@y',
      'CSeq: 7 INVITE',
      'Subject: not copied',
      'Content-Length: 0',
    ]));
    const res = createResponse(req, 486, { toTag: 'srv1' });
    expect(text(serialize(res))).toBe([
      'SIP/2.0 486 Busy Here',
      'Via: SIP/2.0/UDP p1;branch=z9hG4bK1',
      'Via: SIP/2.0/UDP c1;branch=z9hG4bK2, SIP/2.0/UDP c0;branch=z9hG4bK3',
      'From: <sip:a@b>;tag=1',
      'To: Bob <sip:bob@b>;tag=srv1',
      'Call-ID: x@y',
      'CSeq: 7 INVITE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'));
    expect(res.to.tag).toBe('srv1');
    const again = parseMessage(serialize(res));
    expect(again.ok).toBe(true);
  });

  it('a To that already has a tag keeps it; 100 Trying gets no tag and copies Timestamp (§8.2.6.1)', () => {
    const withTag = createResponse(request(TYPICAL.BYE), 200, { toTag: 'other' });
    expect(withTag.to.tag).toBe('9fxced76sl');
    const req = request(INVITE);
    req.addHeader('Timestamp', '54');
    const trying = createResponse(req, 100, { toTag: 'x' });
    expect([trying.to.tag, trying.get('timestamp'), trying.reason]).toEqual([undefined, '54', 'Trying']);
  });

  it('extra headers and a reason phrase can be given (e.g. 420 with Unsupported, §8.2.2.3)', () => {
    const res = createResponse(request(TYPICAL.OPTIONS), 420, { headers: [['Unsupported', 'foo']], reason: 'Bad\r\nExtension' });
    expect([res.reason, res.get('unsupported')]).toEqual(['BadExtension', 'foo']);
    expect(() => createResponse(request(TYPICAL.OPTIONS), 99)).toThrow(RangeError);
  });

  it('a 400 can be built from the headers salvaged from a request that failed to parse', () => {
    const result = parseMessage(sip(['OPTIONS sip:u@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:u@b>', 'Call-ID: x', 'CSeq: 1 INVITE']));
    if (result.ok || !result.error.canRespond || result.error.partial === undefined) throw new Error('expected an answerable error');
    const bytes = errorResponseBytes(result.error.partial, result.error.status, result.error.reason, 't1');
    const res = response(bytes);
    expect([res.status, res.reason, res.to.tag, res.cseq.method, res.topVia?.branch]).toEqual([400, 'CSeq method does not match the request method', 't1', 'INVITE', 'z9hG4bK1']);
  });
});

describe('unmodified messages serialize to their source bytes without copying', () => {
  it('serialize returns the parsed view until the first edit', () => {
    const m = parsed(INVITE);
    expect(serialize(m).buffer).toBe(INVITE.buffer);
    m.setHeader('Subject', 'x');
    expect(m.source).toBeUndefined();
  });
});

describe('clone() copies a message without re-parsing it', () => {
  it('the copy serializes like the original, and edits to either do not show in the other', () => {
    const m = request(INVITE);
    expect(m.via).toHaveLength(1); // parsed before the clone: the copy shares the parsed values
    const c = m.clone();
    expect(text(serialize(c))).toBe(text(serialize(m)));
    expect([c.method, c.uri.raw, c.cseq.seq]).toEqual([m.method, m.uri.raw, m.cseq.seq]);
    c.prependVia('SIP/2.0/UDP proxy.example.com;branch=z9hG4bKc1');
    c.decrementMaxForwards();
    c.setRequestUri('sip:other@example.com');
    expect(m.via.map((v) => v.branch)).toEqual(['z9hG4bK74bf9']);
    expect(c.via.map((v) => v.branch)).toEqual(['z9hG4bKc1', 'z9hG4bK74bf9']);
    expect(m.maxForwards).toBe(70);
    expect(c.maxForwards).toBe(69);
    expect(m.uri.raw).not.toBe('sip:other@example.com');
    expect(serialize(m).buffer).toBe(INVITE.buffer);
    m.removeTopVia();
    expect(c.via).toHaveLength(2);
  });

  it('a response clone keeps status and reason; removing its top Via leaves the original intact', () => {
    const r = response(OK_200);
    const c = r.clone();
    expect([c.kind, c.status, c.reason]).toEqual([r.kind, r.status, r.reason]);
    c.removeTopVia();
    expect(c.via.length).toBe(r.via.length - 1);
    expect(text(serialize(r))).toBe(text(OK_200));
  });
});
