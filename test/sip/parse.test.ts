import { describe, expect, it } from 'vitest';
import { parseMessage, serialize, SipHeaderError } from '../../src/sip/index.ts';
import { INVITE, parsed, request, response, SDP, sip, text, TYPICAL } from './fixtures.ts';

describe('parsing typical messages (RFC 3261 §7)', () => {
  it.each(Object.entries(TYPICAL))('%s round-trips byte-exact when unmodified', (_name, bytes) => {
    expect(Buffer.compare(Buffer.from(serialize(parsed(bytes))), bytes)).toBe(0);
  });

  it('an INVITE exposes the request line, the transaction headers and the SDP body', () => {
    const m = request(INVITE);
    expect(m.method).toBe('INVITE');
    expect(m.uri).toMatchObject({ kind: 'sip', user: 'bob', host: 'biloxi.example.com' });
    expect(m.topVia).toMatchObject({ transport: 'UDP', host: 'client.atlanta.example.com', port: 5060, branch: 'z9hG4bK74bf9', rport: null });
    expect(m.maxForwards).toBe(70);
    expect(m.from).toMatchObject({ displayName: 'Alice', tag: '9fxced76sl' });
    expect(m.to).toMatchObject({ displayName: 'Bob', tag: undefined });
    expect(m.callId).toBe('3848276298220188511@atlanta.example.com');
    expect(m.cseq).toEqual({ seq: 1, method: 'INVITE' });
    expect(m.route.map((r) => r.uri.raw)).toEqual(['sip:ss1.atlanta.example.com;lr', 'sip:ss2.biloxi.example.com;lr']);
    expect(m.supported).toEqual(['replaces', '100rel']);
    expect(m.contentType).toMatchObject({ type: 'application', subtype: 'sdp' });
    expect(m.contentLength).toBe(Buffer.byteLength(SDP));
    expect(Buffer.from(m.body).toString()).toBe(SDP);
    expect(m.get('x-custom')).toBe('keep   me  exactly');
  });

  it('a REGISTER exposes its Contact list with header parameters, IPv6 hosts and Path', () => {
    const m = request(TYPICAL.REGISTER);
    const contact = m.contact;
    if (contact === '*') throw new Error('unexpected *');
    expect(contact.map((c) => [c.displayName, c.uri.raw, Object.fromEntries(c.params)])).toEqual([
      [undefined, 'sip:bob@192.0.2.4', { expires: '7200' }],
      ['Bob mobile', 'sip:bob@[2001:db8::4]:5080;transport=tcp', { q: '0.5' }],
    ]);
    expect(m.path.map((p) => p.uri.raw)).toEqual(['sip:edge.biloxi.example.com;lr']);
  });

  it('a 200 OK exposes status, reason, Via received/rport and Record-Route', () => {
    const m = response(TYPICAL.OK_200);
    expect([m.status, m.reason]).toEqual([200, 'OK']);
    expect(m.via.map((v) => [v.received, v.rport])).toEqual([
      ['192.0.2.111', undefined],
      ['192.0.2.101', 5060],
    ]);
    expect(m.recordRoute[0]?.uri.raw).toBe('sip:ss1.atlanta.example.com;lr');
  });

  it('Contact: * is the REGISTER wildcard (§10.2.2)', () => {
    const m = request(sip(['REGISTER sip:r.example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bKx', 'From: <sip:a@b>;tag=1', 'To: <sip:a@b>', 'Call-ID: c', 'CSeq: 2 REGISTER', 'Contact: *', 'Expires: 0', 'Content-Length: 0']));
    expect(m.contact).toBe('*');
  });

  it('CRLFs before the start line are ignored (§7.5)', () => {
    const m = parsed(Buffer.concat([Buffer.from('\r\n\r\n'), TYPICAL.BYE]));
    expect(Buffer.compare(Buffer.from(serialize(m)), TYPICAL.BYE)).toBe(0);
  });
});

describe('values repeated across messages (the parser remembers recent ones)', () => {
  const bye = (via: string, from: string) =>
    sip(['BYE sip:alice@client.atlanta.example.com SIP/2.0', `Via: ${via}`, 'Max-Forwards: 70', `From: ${from}`, 'To: <sip:alice@atlanta.example.com>;tag=9f', 'Call-ID: c1@atlanta.example.com', 'CSeq: 1 BYE', 'Content-Length: 0']);

  it('the same Via and From text read in two messages give equal values; long values (over 256 chars) too', () => {
    const long = `SIP/2.0/UDP h.example.com;branch=z9hG4bK1;x-long=${'a'.repeat(400)}`;
    for (const via of ['SIP/2.0/UDP h.example.com:5070;branch=z9hG4bKrepeat;rport', long]) {
      const a = request(bye(via, 'Bob <sip:bob@biloxi.example.com>;tag=77'));
      const b = request(bye(via, 'Bob <sip:bob@biloxi.example.com>;tag=77'));
      expect(b.via).toEqual(a.via);
      expect(b.from).toEqual(a.from);
      expect(a.via[0]!.branch).toBe(via === long ? 'z9hG4bK1' : 'z9hG4bKrepeat');
      expect(a.from.tag).toBe('77');
    }
  });

  it('a malformed value is refused every time it comes (faults are not remembered)', () => {
    for (let i = 0; i < 2; i++) {
      const r = parseMessage(bye('SIP/2.0/UDP h.example.com;branch=z9hG4bK1', 'Bob <sip:bob@biloxi.example.com;tag=77'));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.reason).toBe('Malformed From');
    }
  });
});

describe('header field syntax (RFC 3261 §7.3)', () => {
  const base = (extra: string[]) => [
    'OPTIONS sip:u@example.com SIP/2.0',
    'Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1',
    'From: <sip:a@example.com>;tag=1',
    'To: <sip:u@example.com>',
    'Call-ID: x1',
    'CSeq: 1 OPTIONS',
    ...extra,
  ];

  it('compact forms are the same headers as their long forms (§7.3.3)', () => {
    const m = request(sip(['OPTIONS sip:u@example.com SIP/2.0', 'v: SIP/2.0/UDP h;branch=z9hG4bK1', 'f: <sip:a@b>;tag=1', 't: <sip:u@b>', 'i: x@y', 'CSeq: 1 OPTIONS', 'm: <sip:a@h>', 'k: path', 'c: text/plain', 'l: 2'], 'hi'));
    expect([m.topVia?.branch, m.from.tag, m.to.uri.raw, m.callId, m.supported, m.contentType?.subtype, m.contentLength]).toEqual([
      'z9hG4bK1', '1', 'sip:u@b', 'x@y', ['path'], 'plain', 2,
    ]);
    expect(m.get('Call-ID')).toBe('x@y');
    expect(m.get('i')).toBe('x@y');
  });

  it('header names are case-insensitive, and whitespace before the colon is allowed', () => {
    const m = request(sip(base(['MAX-forwards  : 12'])));
    expect(m.maxForwards).toBe(12);
  });

  it('folded lines are unfolded (CRLF followed by SP or HT is LWS)', () => {
    const m = request(sip(base(['Subject: first', '\tsecond', 'Max-Forwards:', ' 9'])));
    expect(m.get('subject')).toBe('first \tsecond');
    expect(m.maxForwards).toBe(9);
  });

  it('several values on one line are split at commas outside quotes and <>, like separate lines', () => {
    const m = request(sip(base(['Contact: "Smith, John" <sip:j,r@h;x=a>, <sip:k@h>', 'Contact: sip:l@h;q=0.1'])));
    const c = m.contact;
    if (c === '*') throw new Error('unexpected *');
    expect(c.map((x) => [x.displayName, x.uri.raw, x.params.get('q')])).toEqual([
      ["Smith, John", "sip:j,r@h;x=a", undefined],
      [undefined, 'sip:k@h', undefined],
      [undefined, 'sip:l@h', '0.1'],
    ]);
  });

  it('quoted strings resolve quoted-pairs and may hold UTF-8', () => {
    const m = request(sip(base(['Contact: "Zoë \\"Z\\" \\\\ Ünal" <sip:z@h>'])));
    const c = m.contact;
    expect(c !== '*' && c[0]?.displayName).toBe('Zoë "Z" \\ Ünal');
  });

  it('params after an addr-spec belong to the header, params inside <> to the URI (§20.10)', () => {
    const m = request(sip(base(['Contact: sip:a@h;expires=60', 'Record-Route: <sip:p@h;lr>;foo'])));
    const c = m.contact;
    if (c === '*') throw new Error('unexpected *');
    const uri = c[0]?.uri;
    expect([c[0]?.params.get('expires'), uri?.kind === 'sip' && uri.params.size]).toEqual(['60', 0]);
    expect(m.recordRoute[0]?.params.get('foo')).toBeNull();
  });

  it('Via accepts LWS around / ; = and an IPv6 sent-by, and upper-cases the transport', () => {
    const m = request(sip(['OPTIONS sip:u@example.com SIP/2.0', 'Via: SIP / 2.0 / ws [2001:db8::9]:8443 ; branch = z9hG4bKw ; received=2001:db8::1', 'From: <sip:a@b>;tag=1', 'To: <sip:u@b>', 'Call-ID: x', 'CSeq: 1 OPTIONS']));
    expect(m.topVia).toMatchObject({ transport: 'WS', host: '[2001:db8::9]', hostKind: 'ipv6', port: 8443, branch: 'z9hG4bKw', received: '2001:db8::1' });
  });

  it('a malformed header that is not validated at parse time throws SipHeaderError from its getter, and check() reports it', () => {
    const result = parseMessage(sip(base(['Content-Type: nonsense'])));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(() => result.message.contentType).toThrow(SipHeaderError);
    expect(result.message.check(['content-type'])).toMatchObject({ ok: false, header: 'content-type' });
  });

  it('unknown headers keep their exact bytes, including odd spacing and folding', () => {
    const lines = base(['X-Odd :  a ,, b ;;', '  continued', 'Content-Length: 0']);
    const bytes = sip(lines);
    const m = parsed(bytes);
    m.setHeader('Subject', 'hi');
    expect(text(serialize(m))).toContain('X-Odd :  a ,, b ;;\r\n  continued\r\n');
  });
});

describe('refusing malformed messages: parse never throws, and says how to answer', () => {
  const ok = ['Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:u@b>', 'Call-ID: x', 'CSeq: 1 OPTIONS', 'Content-Length: 0'];

  it.each([
    ['a request with an unknown SIP version is refused with 505', ['OPTIONS sip:u@b SIP/3.0', ...ok], 505, true],
    ['a Request-Line without a version is refused with 400', ['OPTIONS sip:u@b', ...ok], 400, true],
    ['a header line without a colon is refused with 400', ['OPTIONS sip:u@b SIP/2.0', 'Garbage line', ...ok], 400, true],
    ['a bare LF inside a header is refused', ['OPTIONS sip:u@b SIP/2.0', 'Subject: a\nb', ...ok], 400, true],
    ['a request without Via cannot be answered', ['OPTIONS sip:u@b SIP/2.0', ...ok.slice(1)], 400, false],
    ['an ACK is never answered (§17.2.1)', ['ACK sip:u@b SIP/2.0', ...ok.slice(0, 4), 'CSeq: 1 INVITE'], 400, false],
    ['a response is never answered, only dropped (§18.1.2)', ['SIP/2.0 2000 OK', ...ok], 400, false],
    ['Max-Forwards above 255 is refused', ['OPTIONS sip:u@b SIP/2.0', 'Max-Forwards: 256', ...ok], 400, true],
    ['a folded line before any header is refused', ['OPTIONS sip:u@b SIP/2.0', ' folded', ...ok], 400, true],
  ])('%s', (_title, lines, status, canRespond) => {
    const result = parseMessage(sip(lines));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toMatchObject({ status, canRespond });
    if (canRespond) expect(result.error.partial?.via).toEqual(['SIP/2.0/UDP h;branch=z9hG4bK1']);
  });

  it('bytes that are not SIP at all are refused without throwing', () => {
    for (const junk of ['', '\r\n', '\u0000\u0001', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'SIP/2.0\r\n\r\n']) {
      const result = parseMessage(Buffer.from(junk, 'latin1'));
      expect(result.ok).toBe(false);
    }
  });

  it('datagram framing (§18.3): a shorter Content-Length truncates the body, a longer one is an error', () => {
    const short = parsed(sip(['OPTIONS sip:u@b SIP/2.0', ...ok.slice(0, 5), 'Content-Length: 2'], 'abcdef'));
    expect(Buffer.from(short.body).toString()).toBe('ab');
    expect(text(serialize(short)).endsWith('\r\n\r\nab')).toBe(true);
    const long = parseMessage(sip(['OPTIONS sip:u@b SIP/2.0', ...ok.slice(0, 5), 'Content-Length: 7'], 'abcdef'));
    expect(long).toMatchObject({ ok: false, error: { status: 400, reason: 'Content-Length larger than message' } });
  });

  it('without Content-Length, a datagram body runs to the end of the datagram (§18.3)', () => {
    expect(Buffer.from(parsed(sip(['OPTIONS sip:u@b SIP/2.0', ...ok.slice(0, 5)], 'xyz')).body).toString()).toBe('xyz');
  });
});
