/** The OPTIONS Tandem probes SIP targets with, and what counts as a live server. */
import { describe, expect, it } from 'vitest';
import { parseMessage, serialize, type SipRequest } from '../../../src/sip/index.ts';
import { probeSucceeded } from '../../../src/sip/ping/options-ping.ts';
import { createOptionsRequest } from '../../../src/sip/ping/options-request.ts';

function reparsed(request: SipRequest): SipRequest {
  const result = parseMessage(serialize(request));
  if (!result.ok || result.message.kind !== 'request') throw new Error('the OPTIONS does not parse');
  return result.message;
}

describe('OPTIONS probes', () => {
  it('serialize to a request with the mandatory header fields (RFC 3261 §8.1.1) that parses back', () => {
    const text = Buffer.from(serialize(createOptionsRequest({ target: { transport: 'tcp', host: '10.0.0.5', port: 5070 }, local: { host: '192.0.2.1', port: 5060 }, branch: 'z9hG4bKabc', callId: 'c1@192.0.2.1', fromTag: 'f00', seq: 7 }))).toString('latin1');
    expect(text).toBe(
      [
        'OPTIONS sip:10.0.0.5:5070;transport=tcp SIP/2.0',
        'Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKabc',
        'Max-Forwards: 70',
        'From: <sip:tandem@192.0.2.1>;tag=f00',
        'To: <sip:10.0.0.5:5070;transport=tcp>',
        'Call-ID: c1@192.0.2.1',
        'CSeq: 7 OPTIONS',
        'Accept: application/sdp',
        'User-Agent: Tandem',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
  });

  it('bracket IPv6 hosts in the Request-URI, Via and From', () => {
    const request = reparsed(createOptionsRequest({ target: { transport: 'udp', host: '2001:db8::5', port: 5060 }, local: { host: '::1', port: 5080 }, branch: 'z9hG4bKv6', callId: 'c', fromTag: 't', seq: 1 }));
    expect(request.uri.raw).toBe('sip:[2001:db8::5]:5060');
    expect(request.topVia).toMatchObject({ transport: 'UDP', port: 5080, branch: 'z9hG4bKv6' });
    expect(request.from.uri.raw).toBe('sip:tandem@[::1]');
  });

  it('count any final response but 408 and 503 as a live server', () => {
    expect([200, 202, 404, 405, 481, 500, 501, 600].map(probeSucceeded)).toEqual(Array.from({ length: 8 }, () => true));
    expect([100, 180, 408, 503].map(probeSucceeded)).toEqual([false, false, false, false]);
  });
});
