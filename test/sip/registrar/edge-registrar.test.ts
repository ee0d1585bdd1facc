/** The edge registrar (RFC 3261 §10.3) on a simulated clock, with stand-in flows. */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../../src/fsm/index.ts';
import { parseMessage, parseUri, type SipRequest } from '../../../src/sip/index.ts';
import { aorOf, EdgeRegistrar } from '../../../src/sip/registrar/edge-registrar.ts';
import type { Flow } from '../../../src/sip/transport/index.ts';

function flow(id: string): Flow & { closed: boolean } {
  return {
    id,
    token: `tok-${id}`,
    transport: 'ws',
    reliable: true,
    local: { address: '127.0.0.1', port: 5066 },
    remote: { address: '127.0.0.1', port: 40000 },
    closed: false,
    send: async () => {},
    close() {
      this.closed = true;
    },
  };
}

function register(contacts: string[], extra: string[] = [], to = 'sip:alice@Example.COM'): SipRequest {
  const text = [
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/WS h.invalid;branch=z9hG4bKr1',
    'Max-Forwards: 70',
    `From: <${to}>;tag=1`,
    `To: <${to}>`,
    'Call-ID: r1',
    'CSeq: 1 REGISTER',
    ...contacts.map((c) => `Contact: ${c}`),
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const result = parseMessage(new TextEncoder().encode(text));
  if (!result.ok) throw new Error(result.error.reason);
  return result.message as SipRequest;
}

const uri = (s: string) => parseUri(s)!;

describe('EdgeRegistrar', () => {
  it('binds a Contact to the To AOR (host lower-cased) for its expires, answers 200 listing the bindings, finds it by Request-URI', () => {
    const clock = new SimulatedClock();
    const registrar = new EdgeRegistrar({ clock });
    const f = flow('a');
    const answer = registrar.register(register(['<sip:x@h.invalid;transport=ws>;expires=120']), f);
    expect(answer.status).toBe(200);
    expect(answer.headers).toEqual([['Contact', '<sip:x@h.invalid;transport=ws>;expires=120']]);
    const binding = registrar.lookup(uri('sip:alice@example.com:5060;transport=udp'));
    expect(binding).toMatchObject({ aor: 'sip:alice@example.com', contact: 'sip:x@h.invalid;transport=ws', flow: f });
    expect(registrar.lookup(uri('sip:bob@example.com'))).toBeUndefined();
    expect(registrar.size).toBe(1);
    expect(registrar.flows).toBe(1);
  });

  it('uses Expires, else 3600 s, capped at maxExpiresS; a binding expires on the clock', async () => {
    const clock = new SimulatedClock();
    const registrar = new EdgeRegistrar({ clock, maxExpiresS: 600 });
    expect(registrar.register(register(['<sip:x@h.invalid>'], ['Expires: 60']), flow('a')).headers[0]![1]).toMatch(/;expires=60$/);
    expect(registrar.register(register(['<sip:y@h.invalid>'], [], 'sip:bob@example.com'), flow('b')).headers[0]![1]).toMatch(/;expires=600$/);
    await clock.advance(60_000);
    expect(registrar.lookup(uri('sip:alice@example.com'))).toBeUndefined();
    expect(registrar.lookup(uri('sip:bob@example.com'))).toBeDefined();
  });

  it('removes a Contact with expires=0, all with Contact: * and Expires: 0; refuses * without Expires: 0', () => {
    const clock = new SimulatedClock();
    const registrar = new EdgeRegistrar({ clock });
    const f = flow('a');
    registrar.register(register(['<sip:x@h.invalid>', '<sip:z@h.invalid>']), f);
    expect(registrar.size).toBe(2);
    expect(registrar.register(register(['<sip:x@h.invalid>;expires=0']), f).headers).toHaveLength(1);
    expect(registrar.register(register(['*']), f).status).toBe(400);
    expect(registrar.register(register(['*'], ['Expires: 0']), f).status).toBe(200);
    expect(registrar.size).toBe(0);
    expect(registrar.flows).toBe(0);
  });

  it('a REGISTER without Contact is a query; the most recent live binding wins; a closed or dropped flow ends its bindings', () => {
    const clock = new SimulatedClock();
    const registrar = new EdgeRegistrar({ clock });
    const a = flow('a');
    const b = flow('b');
    registrar.register(register(['<sip:x@h.invalid>']), a);
    registrar.register(register(['<sip:y@h.invalid>']), b);
    expect(registrar.register(register([]), a).headers).toHaveLength(2);
    expect(registrar.lookup(uri('sip:alice@example.com'))?.flow).toBe(b);
    b.closed = true;
    expect(registrar.lookup(uri('sip:alice@example.com'))?.flow).toBe(a);
    registrar.dropFlow(a);
    registrar.dropFlow(b);
    expect(registrar.lookup(uri('sip:alice@example.com'))).toBeUndefined();
    expect(registrar.size).toBe(0);
    expect(registrar.flows).toBe(0);
  });

  it('refuses a non-sip AOR with 404; aorOf drops parameters and port', () => {
    const registrar = new EdgeRegistrar({ clock: new SimulatedClock() });
    expect(registrar.register(register(['<sip:x@h.invalid>'], [], 'tel:+15551234'), flow('a')).status).toBe(404);
    expect(aorOf(uri('sip:Alice@EXAMPLE.com:5070;transport=tcp'))).toBe('sip:Alice@example.com');
    expect(aorOf(uri('tel:+15551234'))).toBeUndefined();
  });

  it('refuses a Contact URI with headers or a method parameter (400), and more than maxBindingsPerAor contacts (403)', () => {
    const registrar = new EdgeRegistrar({ clock: new SimulatedClock(), maxBindingsPerAor: 2 });
    expect(registrar.register(register(['<sip:x@h.invalid?Subject=hi>']), flow('a')).status).toBe(400);
    expect(registrar.register(register(['<sip:x@h.invalid;method=INVITE>']), flow('a')).status).toBe(400);
    expect(registrar.register(register(['<sip:x@h.invalid>', '<sip:y@h.invalid>']), flow('a')).status).toBe(200);
    const refused = registrar.register(register(['<sip:z@h.invalid>']), flow('b'));
    expect(refused.status).toBe(403);
    expect(registrar.size).toBe(2);
  });

  it('counts live bindings only: expired and closed ones are pruned from size and flows', async () => {
    const clock = new SimulatedClock();
    const registrar = new EdgeRegistrar({ clock });
    const a = flow('a');
    registrar.register(register(['<sip:x@h.invalid>;expires=10']), a);
    registrar.register(register(['<sip:y@h.invalid>;expires=100'], [], 'sip:bob@example.com'), flow('b'));
    expect(registrar.size).toBe(2);
    await clock.advance(10_000);
    expect(registrar.size).toBe(1);
    expect(registrar.flows).toBe(1);
  });
});
