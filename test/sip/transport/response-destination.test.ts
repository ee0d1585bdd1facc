import { describe, expect, it } from 'vitest';
import type { SipResponse } from '../../../src/sip/index.ts';
import { type Flow, FlowTable, isInvalidHost, responseDestination } from '../../../src/sip/transport/index.ts';
import { ok, parsed } from './helpers.ts';

function response(...vias: string[]): SipResponse {
  return parsed(ok(vias)) as SipResponse;
}

const table = new FlowTable();

/** A flow stub: the routing decision only reads identity, transport and state. */
function flow(transport: Flow['transport'], remote: { address: string; port: number }, closed = false): Flow {
  const { id, token } = table.allocate(transport);
  return { id, token, transport, reliable: transport !== 'udp', local: { address: '127.0.0.1', port: 5060 }, remote, closed, send: async () => {}, close: () => {} };
}

describe('response destination (RFC 3261 §18.2.2, RFC 3581 §4, RFC 7118 §5)', () => {
  it('reliable: the response MUST use the connection the request came on while it is open', () => {
    const f = flow('tcp', { address: '192.0.2.7', port: 40000 });
    expect(responseDestination(response('SIP/2.0/TCP pc.example.com;branch=z9hG4bKa;received=192.0.2.7'), f)).toBe(f);
  });

  it('reliable, connection gone: open one to received, at the sent-by port or 5060', () => {
    const gone = flow('tcp', { address: '192.0.2.7', port: 40000 }, true);
    expect(responseDestination(response('SIP/2.0/TCP pc.example.com:5070;branch=z9hG4bKa;received=192.0.2.7'), gone)).toEqual({ transport: 'tcp', host: '192.0.2.7', port: 5070 });
    expect(responseDestination(response('SIP/2.0/TCP pc.example.com;branch=z9hG4bKa'))).toEqual({ transport: 'tcp', host: 'pc.example.com', port: 5060 });
  });

  it('WebSocket: only the connection itself; once it is gone there is no destination', () => {
    const f = flow('ws', { address: '192.0.2.7', port: 40000 });
    const r = response('SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKa;received=192.0.2.7;rport=40000');
    expect(responseDestination(r, f)).toBe(f);
    expect(responseDestination(r, flow('ws', { address: '192.0.2.7', port: 40000 }, true))).toBeUndefined();
    expect(responseDestination(r)).toBeUndefined();
  });

  it('UDP with rport: the received address and the rport port, on the request\'s flow', () => {
    const f = flow('udp', { address: '192.0.2.7', port: 40000 });
    const r = response('SIP/2.0/UDP pc.example.com:5060;branch=z9hG4bKa;received=192.0.2.7;rport=40000');
    expect(responseDestination(r, f)).toBe(f);
    expect(responseDestination(r)).toEqual({ transport: 'udp', host: '192.0.2.7', port: 40000 });
  });

  it('UDP without rport: received at the sent-by port (or 5060); without received: the sent-by', () => {
    expect(responseDestination(response('SIP/2.0/UDP pc.example.com:5062;branch=z9hG4bKa;received=192.0.2.7'))).toEqual({ transport: 'udp', host: '192.0.2.7', port: 5062 });
    expect(responseDestination(response('SIP/2.0/UDP pc.example.com;branch=z9hG4bKa;received=192.0.2.7'))).toEqual({ transport: 'udp', host: '192.0.2.7', port: 5060 });
    expect(responseDestination(response('SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKa'))).toEqual({ transport: 'udp', host: '192.0.2.9', port: 5070 });
    expect(responseDestination(response('SIP/2.0/UDP [2001:db8::9];branch=z9hG4bKa'))).toEqual({ transport: 'udp', host: '2001:db8::9', port: 5060 });
  });

  it('UDP with maddr: the maddr address at the sent-by port', () => {
    expect(responseDestination(response('SIP/2.0/UDP pc.example.com:5062;branch=z9hG4bKa;maddr=239.255.255.1;ttl=1'))).toEqual({ transport: 'udp', host: '239.255.255.1', port: 5062 });
  });

  it('a transport we do not implement, or a .invalid host over UDP, has no destination', () => {
    expect(responseDestination(response('SIP/2.0/SCTP pc.example.com;branch=z9hG4bKa'))).toBeUndefined();
    expect(responseDestination(response('SIP/2.0/UDP x.invalid;branch=z9hG4bKa'))).toBeUndefined();
    expect(isInvalidHost('ABC.INVALID')).toBe(true);
    expect(isInvalidHost('invalid.example.com')).toBe(false);
  });
});

describe('flow tokens (RFC 5626 §5.2)', () => {
  it('are 128-bit base64url HMACs of the flow id, different per table key, stable per key', () => {
    const a = new FlowTable({ key: Buffer.alloc(32, 1) });
    const b = new FlowTable({ key: Buffer.alloc(32, 2) });
    expect(a.tokenOf('tcp-1')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(a.tokenOf('tcp-1')).toBe(new FlowTable({ key: Buffer.alloc(32, 1) }).tokenOf('tcp-1'));
    expect(a.tokenOf('tcp-1')).not.toBe(b.tokenOf('tcp-1'));
    expect(a.tokenOf('tcp-1')).not.toBe(a.tokenOf('tcp-2'));
    expect(() => new FlowTable({ key: Buffer.alloc(8) })).toThrow(RangeError);
  });

  it('allocate gives unique ids and their tokens', () => {
    const t = new FlowTable();
    const ids = new Set(Array.from({ length: 100 }, () => t.allocate('udp').id));
    expect(ids.size).toBe(100);
    const { id, token } = t.allocate('ws');
    expect(t.tokenOf(id)).toBe(token);
  });
});
