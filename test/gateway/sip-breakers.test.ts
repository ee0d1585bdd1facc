/**
 * The SIP breakers' bookkeeping across reloads: a lookup with an upstream object from before a reload
 * (a failover of a request routed then) must not replace the running config's breakers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/fsm/index.ts';
import { SipBreakers } from '../../src/gateway/sip-breakers.ts';
import type { Upstream } from '../../src/routes/config.ts';
import { validateConfig } from '../../src/routes/config-validate.ts';

function upstream(targets: readonly string[]): Upstream {
  return validateConfig({
    listeners: [{ name: 'sip', protocol: 'sip', address: '127.0.0.1:0' }],
    upstreams: [{ name: 'pbx', targets: targets.map((url) => ({ url })), circuitBreaker: { volumeThreshold: 2 } }],
  }).config.upstreams[0]!;
}

let breakers: SipBreakers | undefined;
afterEach(async () => {
  await breakers?.stop();
  breakers = undefined;
});

describe('SipBreakers', () => {
  it('peek with a stale upstream (other targets) has no side effect; the live breakers and their state stay', async () => {
    breakers = new SipBreakers({ clock: new SimulatedClock() });
    const before = upstream(['sip:10.0.0.1:5060;transport=udp', 'sip:10.0.0.2:5060;transport=udp']);
    const live = upstream(['sip:10.0.0.1:5060;transport=udp', 'sip:10.0.0.3:5060;transport=udp']);
    await breakers.retire([live]);
    const gates = breakers.gates(live)!;
    expect(gates).toHaveLength(2);
    expect(breakers.peek(before)).toBeUndefined();
    expect(breakers.gates(live)).toBe(gates);
    expect(breakers.states(live).get('10.0.0.3:5060')).toBe(gates[1]);
  });

  it('peek of the running upstream gives its gates; an equal upstream object of a later config version keeps them', async () => {
    breakers = new SipBreakers({ clock: new SimulatedClock() });
    const v1 = upstream(['sip:10.0.0.1:5060;transport=udp']);
    const v2 = upstream(['sip:10.0.0.1:5060;transport=udp']);
    expect(breakers.peek(v1)).toBeUndefined(); // not started before first use
    const gates = breakers.gates(v1)!;
    expect(breakers.peek(v1)).toBe(gates);
    expect(breakers.peek(v2)).toBe(gates);
    expect(breakers.gates(v2)).toBe(gates);
  });
});
