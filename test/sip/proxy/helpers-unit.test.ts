/** The proxy's pure helpers: the CANCEL of §9.1, URI → target, the loop-detection hash. */
import { describe, expect, it } from 'vitest';
import { parseMessage, type SipRequest, parseUri } from '../../../src/sip/index.ts';
import { createCancel, loopKey, uriTarget } from '../../../src/sip/proxy/index.ts';

function request(text: string): SipRequest {
  const result = parseMessage(Buffer.from(text.split('\n').join('\r\n'), 'latin1'));
  if (!result.ok || result.message.kind !== 'request') throw new Error('bad fixture');
  return result.message;
}

const INVITE = `INVITE sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKproxy1
Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKuac1
Max-Forwards: 69
Route: <sip:192.0.2.3;lr>
Record-Route: <sip:192.0.2.1;lr>
From: <sip:alice@example.org>;tag=a1
To: <sip:bob@example.com>
Call-ID: c1@192.0.2.9
CSeq: 7 INVITE
Contact: <sip:alice@192.0.2.9>
Content-Type: application/sdp
Content-Length: 3

v=0
`;

describe('createCancel (RFC 3261 §9.1)', () => {
  it('MUST copy Request-URI, Call-ID, To, From and the CSeq number, carry only the top Via, and keep the Route', () => {
    const invite = request(INVITE.slice(0, -1));
    const cancel = createCancel(invite);
    expect(cancel.method).toBe('CANCEL');
    expect(cancel.uri.raw).toBe('sip:bob@192.0.2.4');
    expect(cancel.via.map((v) => v.branch)).toEqual(['z9hG4bKproxy1']);
    expect(cancel.callId).toBe('c1@192.0.2.9');
    expect(cancel.get('from')).toBe(invite.get('from'));
    expect(cancel.get('to')).toBe(invite.get('to'));
    expect(cancel.cseq).toEqual({ seq: 7, method: 'CANCEL' });
    expect(cancel.getAll('route')).toEqual(['<sip:192.0.2.3;lr>']);
    expect(cancel.has('record-route')).toBe(false);
    expect(cancel.has('contact')).toBe(false);
    expect(cancel.body).toHaveLength(0);
    expect(cancel.maxForwards).toBe(70);
  });
});

describe('uriTarget', () => {
  it('takes host, port (default 5060) and transport (default UDP) from a SIP URI', () => {
    expect(uriTarget(parseUri('sip:bob@192.0.2.4')!)).toEqual({ transport: 'udp', host: '192.0.2.4', port: 5060 });
    expect(uriTarget(parseUri('sip:192.0.2.4:5070;transport=TCP;lr')!)).toEqual({ transport: 'tcp', host: '192.0.2.4', port: 5070 });
    expect(uriTarget(parseUri('sip:[2001:db8::1]:5062')!)).toEqual({ transport: 'udp', host: '2001:db8::1', port: 5062 });
    expect(uriTarget(parseUri('sip:proxy.example.com;maddr=192.0.2.8')!)).toEqual({ transport: 'udp', host: '192.0.2.8', port: 5060 });
  });

  it('has no target for SIPS, tel, or transports the listener does not send on', () => {
    expect(uriTarget(parseUri('sips:bob@192.0.2.4')!)).toBeUndefined();
    expect(uriTarget(parseUri('tel:+15551234')!)).toBeUndefined();
    expect(uriTarget(parseUri('sip:edge.example.com;transport=ws')!)).toBeUndefined();
  });
});

describe('loopKey (RFC 3261 §16.6 step 8)', () => {
  it('is the same for the same request and differs when the Request-URI or the CSeq number changes', () => {
    const a = request(INVITE.slice(0, -1));
    expect(loopKey(a)).toBe(loopKey(request(INVITE.slice(0, -1))));
    expect(loopKey(a)).not.toBe(loopKey(request(INVITE.slice(0, -1).replace('INVITE sip:bob@192.0.2.4', 'INVITE sip:bob@192.0.2.5'))));
    expect(loopKey(a)).not.toBe(loopKey(request(INVITE.slice(0, -1).replace('CSeq: 7 INVITE', 'CSeq: 8 INVITE'))));
  });
});
