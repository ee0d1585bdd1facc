/**
 * The SIP-over-WebSocket bridge with real peers: sip.js (the npm package, in Node, `ws` as its
 * WebSocket, a static-SDP session description handler) on Tandem's `sip-ws` listener, sipp over UDP
 * on its `sip` listener (Debian's `sip-tester`, installed by .ci/run). The route runs Tandem's edge
 * registrar, so sip.js's REGISTER is answered by Tandem and calls to its address-of-record reach it
 * over its WebSocket; everything else goes to the sipp UAS.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../helpers/gateway.ts';
import { createSipJsClient, type SipJsClient } from '../../helpers/sipjs.ts';
import { freePort } from './helpers.ts';
import { hasSipp, sipp } from './sipp-runner.ts';

let gw: RunningGateway;
let alice: SipJsClient;
let sipPort: number;
let uasPort: number;
const kills: (() => void)[] = [];

beforeAll(async () => {
  uasPort = await freePort();
  gw = await startGateway({
    log: { level: 'warn' },
    listeners: [
      { name: 'sip', protocol: 'sip', address: '127.0.0.1:0' },
      { name: 'sip-ws', protocol: 'sip-ws', address: '127.0.0.1:0' },
    ],
    upstreams: [
      { name: 'pbx', targets: [{ url: `sip:127.0.0.1:${uasPort};transport=udp` }] },
    ],
    routes: [
      { name: 'edge', listener: ['sip', 'sip-ws'], match: { sip: { domain: '127.0.0.1' } }, upstream: 'pbx', registrar: 'edge' },
    ],
  });
  const addresses = gw.gateway.addresses();
  sipPort = addresses['sip']!.port;
  alice = createSipJsClient({ wsUrl: `ws://127.0.0.1:${addresses['sip-ws']!.port}`, aor: 'sip:alice@127.0.0.1', answer: { mode: 'auto', ringMs: 50 } });
  await alice.start();
});

afterEach(() => {
  for (const k of kills.splice(0)) k();
});

afterAll(async () => {
  await alice?.stop();
  await gw?.stop(200);
});

describe.skipIf(!hasSipp)('sip.js over WebSocket ⇄ sipp over UDP, through Tandem', () => {
  it('sip.js REGISTERs through the sip-ws listener (edge registrar): 200, one binding', async () => {
    const { status, expiresSec } = await alice.register();
    expect(status).toBe(200);
    expect(expiresSec).toBeGreaterThan(0);
    expect(gw.gateway.status().sip?.registrations.bindings).toBe(1);
    const register = alice.trace.find({ direction: 'sent', method: 'REGISTER' });
    expect(register?.message?.topVia?.transport).toBe('WS');
  });

  it('sip.js calls a sipp UAS over UDP: INVITE, 180, 200, ACK, BYE', async () => {
    const uas = sipp(['-sn', 'uas', '-i', '127.0.0.1', '-p', String(uasPort), '-m', '1'], 20_000);
    kills.push(uas.kill);
    await new Promise((r) => setTimeout(r, 300));
    const call = alice.call('sip:service@127.0.0.1');
    await call.established;
    expect(call.provisional).toContain(180);
    expect(call.finalStatus).toBe(200);
    const ok = alice.trace.find({ direction: 'received', method: 'INVITE', status: 200, callId: call.callId });
    // Through Tandem: its Via popped, only sip.js's own left (sipp's built-in uas echoes no Record-Route).
    expect(ok?.message?.via).toHaveLength(1);
    expect(alice.trace.find({ direction: 'sent', method: 'ACK', callId: call.callId })).toBeDefined();
    expect(await call.bye()).toBe(200);
    const result = await uas.done;
    expect(result.errors).toBe('');
    expect(result.code).toBe(0);
    expect(result.successful).toBe(1);
  }, 30_000);

  it('sip.js receives a call that a sipp UAC sends to its registered address, and sipp hangs up', async () => {
    const incoming = alice.nextIncoming(10_000);
    const uac = sipp(['-sn', 'uac', `127.0.0.1:${sipPort}`, '-s', 'alice', '-i', '127.0.0.1', '-p', String(await freePort()), '-m', '1', '-d', '200', '-timeout', '15'], 20_000);
    kills.push(uac.kill);
    const call = await incoming;
    await call.established;
    const ended = await call.terminated;
    expect(ended.byeBy).toBe('remote');
    const invite = alice.trace.find({ direction: 'received', method: 'INVITE', callId: call.callId });
    // Retargeted to the Contact sip.js registered (RFC 3261 §16.5), over its WebSocket.
    expect(invite?.message?.kind === 'request' && invite.message.uri.raw).toBe(alice.contact);
    const result = await uac.done;
    expect(result.errors).toBe('');
    expect(result.code).toBe(0);
    expect(result.successful).toBe(1);
    expect(result.failed).toBe(0);
  }, 30_000);

  it('sip.js CANCELs a ringing call (another sip.js client, registered, that only rings) and sees the 487', async () => {
    const bob = createSipJsClient({ wsUrl: `ws://127.0.0.1:${gw.gateway.addresses()['sip-ws']!.port}`, aor: 'sip:bob@127.0.0.1', answer: { mode: 'ring' } });
    try {
      await bob.start();
      expect((await bob.register()).status).toBe(200);
      const ringing = bob.nextIncoming(5000);
      const call = alice.call('sip:bob@127.0.0.1');
      const incoming = await ringing;
      await alice.trace.wait({ direction: 'received', method: 'INVITE', status: 180, callId: call.callId });
      await call.cancel();
      await alice.trace.wait({ direction: 'received', method: 'INVITE', status: 487, callId: call.callId });
      expect(alice.trace.statuses({ direction: 'received', method: 'CANCEL', callId: call.callId })).toContain(200);
      await expect(call.established).rejects.toMatchObject({ status: 487 });
      // The CANCEL reached bob (§16.10), who answered 487 itself.
      await bob.trace.wait({ direction: 'received', method: 'CANCEL', callId: incoming.callId });
      expect(bob.trace.statuses({ direction: 'sent', method: 'INVITE', callId: incoming.callId })).toContain(487);
    } finally {
      await bob.stop();
    }
  }, 30_000);
});
