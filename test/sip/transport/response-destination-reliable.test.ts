/**
 * RFC 3261 §18.2.2: "If the "sent-protocol" is a reliable transport protocol such as TCP or SCTP, or
 * TLS over those, the response MUST be sent using the existing connection to the source of the
 * original request". A TLS or SCTP Via on a request that came over a TCP connection (RFC 4475 §3.3.5,
 * bext01) is answered on that connection, though the listener cannot open a TLS or SCTP one itself.
 */
import { describe, expect, it } from 'vitest';
import type { SipResponse } from '../../../src/sip/index.ts';
import { type Flow, FlowTable, responseDestination } from '../../../src/sip/transport/index.ts';
import { ok, parsed } from './helpers.ts';

const table = new FlowTable();

function response(via: string): SipResponse {
  return parsed(ok([via])) as SipResponse;
}

function flow(transport: Flow['transport'], closed = false): Flow {
  const { id, token } = table.allocate(transport);
  return { id, token, transport, reliable: transport !== 'udp', local: { address: '127.0.0.1', port: 5060 }, remote: { address: '192.0.2.7', port: 40000 }, closed, send: async () => {}, close: () => {} };
}

describe('response destination for reliable sent-protocols we do not open ourselves', () => {
  it.each(['TLS', 'SCTP', 'TLS-SCTP', 'tls'])('a %s Via on a request that came over an open TCP connection: that connection', (transport) => {
    const tcp = flow('tcp');
    expect(responseDestination(response(`SIP/2.0/${transport} fold-and-staple.example.com;branch=z9hG4bKkdjuw;received=192.0.2.7`), tcp)).toBe(tcp);
  });

  it('a WSS Via on an open WebSocket connection: that connection', () => {
    const ws = flow('ws');
    expect(responseDestination(response('SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKa;received=192.0.2.7'), ws)).toBe(ws);
  });

  it('no open connection: no destination (the listener cannot open TLS or SCTP)', () => {
    const r = response('SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw;received=192.0.2.7');
    expect(responseDestination(r, flow('tcp', true))).toBeUndefined();
    expect(responseDestination(r)).toBeUndefined();
  });

  it('a TLS Via on a request that came over UDP: no destination (a datagram is no connection)', () => {
    expect(responseDestination(response('SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw;received=192.0.2.7'), flow('udp'))).toBeUndefined();
  });

  it('TCP Via, connection gone: still a new connection to received at the sent-by port (unchanged)', () => {
    expect(responseDestination(response('SIP/2.0/TCP pc.example.com:5070;branch=z9hG4bKa;received=192.0.2.7'), flow('tcp', true))).toEqual({ transport: 'tcp', host: '192.0.2.7', port: 5070 });
  });

  it('a WS Via without its connection: none (unchanged)', () => {
    expect(responseDestination(response('SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKa;received=192.0.2.7'), flow('ws', true))).toBeUndefined();
  });
});
