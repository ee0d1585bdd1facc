import { describe, expect, it } from 'vitest';
import { type SipRequest, serialize } from '../../../src/sip/index.ts';
import { normalizeAddress, rewriteViaParams, sameAddress, stampReceived } from '../../../src/sip/transport/index.ts';
import { options, parsed } from './helpers.ts';

function request(via: string, extra: readonly string[] = []): SipRequest {
  return parsed(options(via, extra)) as SipRequest;
}

const FROM = { address: '192.0.2.7', port: 41000 };

describe('received and rport on the top Via (RFC 3261 §18.2.1, RFC 3581 §4)', () => {
  it('a domain name in sent-by MUST get received', () => {
    const r = request('SIP/2.0/UDP pc.example.com:5060;branch=z9hG4bKa');
    expect(stampReceived(r, FROM)).toBe(true);
    expect(r.topVia).toMatchObject({ host: 'pc.example.com', port: 5060, branch: 'z9hG4bKa', received: '192.0.2.7', rport: undefined });
  });

  it('an IP address that differs from the source MUST get received', () => {
    const r = request('SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa');
    stampReceived(r, FROM);
    expect(r.topVia!.received).toBe('192.0.2.7');
  });

  it('the source address itself gets nothing, and the message stays byte-exact', () => {
    const r = request('SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKa');
    expect(stampReceived(r, FROM)).toBe(false);
    expect(r.source).toBeDefined();
  });

  it('a bare rport MUST be filled with the source port, and received MUST be added even for the same host', () => {
    const r = request('SIP/2.0/UDP 192.0.2.7:5060;rport;branch=z9hG4bKa');
    stampReceived(r, FROM);
    expect(r.topVia).toMatchObject({ received: '192.0.2.7', rport: 41000, branch: 'z9hG4bKa' });
    expect(r.topVia!.raw).toBe('SIP/2.0/UDP 192.0.2.7:5060;received=192.0.2.7;rport=41000;branch=z9hG4bKa');
  });

  it('only the top Via changes; the other Via values keep their order and text', () => {
    const r = request('SIP/2.0/UDP a.example.com;branch=z9hG4bK1;rport, SIP/2.0/UDP b.example.com;branch=z9hG4bK2', ['Via: SIP/2.0/TCP c.example.com;branch=z9hG4bK3']);
    stampReceived(r, FROM);
    expect(r.via.map((v) => [v.host, v.received, v.rport])).toEqual([
      ['a.example.com', '192.0.2.7', 41000],
      ['b.example.com', undefined, undefined],
      ['c.example.com', undefined, undefined],
    ]);
    const text = Buffer.from(serialize(r)).toString('latin1');
    expect(text).toContain('\r\nVia: SIP/2.0/UDP b.example.com;branch=z9hG4bK2\r\nMax-Forwards: 70');
    expect(text).toContain('\r\nVia: SIP/2.0/TCP c.example.com;branch=z9hG4bK3\r\n');
  });

  it('a received the client wrote is replaced by the real source', () => {
    const r = request('SIP/2.0/UDP pc.example.com;received=203.0.113.9;branch=z9hG4bKa');
    stampReceived(r, FROM);
    expect(r.topVia!.received).toBe('192.0.2.7');
    expect(r.topVia!.raw.match(/received/g)).toHaveLength(1);
  });

  it('a WebSocket client\'s .invalid host is never resolved: received is the source address (RFC 7118 §5)', () => {
    const r = request('SIP/2.0/WS df7jal23ls0d.invalid;rport;branch=z9hG4bKa');
    stampReceived(r, FROM);
    expect(r.topVia).toMatchObject({ transport: 'WS', host: 'df7jal23ls0d.invalid', received: '192.0.2.7', rport: 41000 });
  });

  it('IPv6: a bracketed sent-by equal to the source gets nothing; a different one gets an unbracketed received', () => {
    const same = request('SIP/2.0/UDP [2001:db8::0:1]:5060;branch=z9hG4bKa');
    expect(stampReceived(same, { address: '2001:DB8::1', port: 5060 })).toBe(false);
    const other = request('SIP/2.0/UDP [2001:db8::1];branch=z9hG4bKa');
    stampReceived(other, { address: '2001:db8::2', port: 5060 });
    expect(other.topVia!.received).toBe('2001:db8::2');
  });

  it('parameter text is kept: spacing around ; and =, quoted values, unknown parameters', () => {
    expect(rewriteViaParams('SIP/2.0/UDP h ; rport ; branch = z9hG4bKa ; x="a;b"', '192.0.2.7', 5)).toBe('SIP/2.0/UDP h;received=192.0.2.7;rport=5;branch=z9hG4bKa;x="a;b"');
    expect(rewriteViaParams('SIP/2.0/UDP h;branch=z9hG4bKa', '192.0.2.7', undefined)).toBe('SIP/2.0/UDP h;branch=z9hG4bKa;received=192.0.2.7');
    expect(rewriteViaParams('SIP/2.0/UDP h;rport=9;branch=z9hG4bKa', '192.0.2.7', 5)).toBe('SIP/2.0/UDP h;received=192.0.2.7;rport=9;branch=z9hG4bKa');
  });

  it('addresses are normalized: IPv4-mapped IPv6 as IPv4, IPv6 canonical', () => {
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeAddress('[2001:DB8:0::1]')).toBe('2001:db8::1');
    expect(sameAddress('[2001:db8::1]', '2001:db8::1')).toBe(true);
    expect(sameAddress('host.example.com', 'host.example.com')).toBe(false);
  });
});
