/**
 * A SIP listener's `advertise` address (behind NAT, in a container, a DNS name): Tandem writes it in its
 * Via sent-by and Record-Route, and takes Route values naming it, its bound address or another SIP
 * listener as its own (RFC 3261 §16.4), so in-dialog requests loose-route through it. Also the config
 * checks of `advertise`.
 */
import { describe, expect, it } from 'vitest';
import { parseAdvertise, validateConfig } from '../../../src/routes/config-validate.ts';
import { ConfigError } from '../../../src/errors.ts';
import type { SipResponse } from '../../../src/sip/index.ts';
import { startGateway, type RunningGateway } from '../../helpers/gateway.ts';
import type { UdpPeer } from '../proxy/helpers.ts';
import { answer, inDialog, invite } from '../proxy/helpers.ts';
import { cleanupsAfterEach, udpPeer } from './teardown.ts';

let gw: RunningGateway | undefined;
const cleanups = cleanupsAfterEach(async () => {
  await gw?.stop(200);
  gw = undefined;
});

const udp = (): Promise<UdpPeer> => udpPeer(cleanups);

/** A UAS that answers INVITE and BYE with 200 (and records what it got). */
function answering(uas: UdpPeer, sipPort: number): void {
  uas.onMessage = (m) => {
    if (m.kind === 'request' && (m.method === 'INVITE' || m.method === 'BYE')) void uas.send(answer(m, 200, uas.port, 'OK'), sipPort);
  };
}

/** A gateway with `listeners` routing `pbx.local` to the UAS at `uasPort`. */
async function start(listeners: readonly Record<string, unknown>[], uasPort: number): Promise<RunningGateway> {
  gw = await startGateway({
    log: { level: 'warn' },
    listeners,
    upstreams: [{ name: 'pbx', targets: [{ url: `sip:127.0.0.1:${uasPort};transport=udp` }] }],
    routes: [{ name: 'pbx', match: { sip: { domain: 'pbx.local' } }, upstream: 'pbx' }],
  });
  return gw;
}

describe('listener advertise', () => {
  it('Via and Record-Route name the advertised address; a BYE routed by it reaches the callee without that Route', async () => {
    const uas = await udp();
    const running = await start([{ name: 'sip', protocol: 'sip', address: '127.0.0.1:0', advertise: 'sip.example.test:5999' }], uas.port);
    const sipPort = running.gateway.addresses()['sip']!.port;
    answering(uas, sipPort);
    const uac = await udp();
    await uac.send(invite({ port: uac.port, uri: 'sip:bob@pbx.local' }), sipPort);
    const inv = await uas.inbox.request('INVITE');
    expect(inv.topVia!.host).toBe('sip.example.test');
    expect(inv.topVia!.port).toBe(5999);
    expect(inv.recordRoute.map((r) => r.uri.raw)).toEqual(['sip:sip.example.test:5999;transport=udp;lr']);
    const ok = (await uac.inbox.response(200, 'INVITE')) as SipResponse;
    expect(ok.via).toHaveLength(1); // Tandem's own Via (the advertised one) was taken off
    await uac.send(inDialog('ACK', ok, { port: uac.port }), sipPort);
    await uac.send(inDialog('BYE', ok, { port: uac.port }), sipPort);
    const bye = await uas.inbox.request('BYE');
    expect(bye.get('route')).toBeUndefined();
    expect(bye.topVia!.host).toBe('sip.example.test');
    expect((await uac.inbox.response(200, 'BYE')).status).toBe(200);
  });

  it('a Route naming the bound address or the second SIP listener is also Tandem’s own', async () => {
    const uas = await udp();
    const running = await start([
        { name: 'sip', protocol: 'sip', address: '127.0.0.1:0', advertise: '192.0.2.10' },
        { name: 'sip2', protocol: 'sip', address: '127.0.0.1:0' },
      ], uas.port);
    const a = running.gateway.addresses();
    const sipPort = a['sip']!.port;
    const sip2Port = a['sip2']!.port;
    answering(uas, sipPort);
    const uac = await udp();
    await uac.send(invite({ port: uac.port, uri: 'sip:bob@pbx.local' }), sipPort);
    const inv = await uas.inbox.request('INVITE');
    // No port in `advertise`: the listener's own.
    expect(inv.recordRoute.map((r) => r.uri.raw)).toEqual([`sip:192.0.2.10:${sipPort};transport=udp;lr`]);
    const ok = (await uac.inbox.response(200, 'INVITE')) as SipResponse;
    for (const [i, route] of [`<sip:127.0.0.1:${sipPort};lr>`, `<sip:127.0.0.1:${sip2Port};lr>`].entries()) {
      const bye = inDialog('BYE', ok, { port: uac.port, seq: 2 + i }).replace(/^Route: .*\r\n/m, `Route: ${route}\r\n`);
      await uac.send(bye, sipPort);
      const got = await uas.inbox.next((m) => m.kind === 'request' && m.method === 'BYE' && m.cseq.seq === 2 + i);
      expect(got.kind === 'request' && got.get('route')).toBeUndefined();
      expect(got.kind === 'request' && got.uri.raw).toBe(`sip:bob@127.0.0.1:${uas.port}`);
    }
  });

  it('a wildcard bind: Route values naming a local interface address are Tandem’s own', async () => {
    const uas = await udp();
    const running = await start([{ name: 'sip', protocol: 'sip', address: '0.0.0.0:0', advertise: 'pbx-gw.example.test' }], uas.port);
    const sipPort = running.gateway.addresses()['sip']!.port;
    answering(uas, sipPort);
    const uac = await udp();
    await uac.send(invite({ port: uac.port, uri: 'sip:bob@pbx.local' }), sipPort);
    const inv = await uas.inbox.request('INVITE');
    expect(inv.recordRoute.map((r) => r.uri.raw)).toEqual([`sip:pbx-gw.example.test:${sipPort};transport=udp;lr`]);
    const ok = (await uac.inbox.response(200, 'INVITE')) as SipResponse;
    const bye = inDialog('BYE', ok, { port: uac.port }).replace(/^Route: .*\r\n/m, `Route: <sip:127.0.0.1:${sipPort};lr>\r\n`);
    await uac.send(bye, sipPort);
    const got = await uas.inbox.request('BYE');
    expect(got.get('route')).toBeUndefined();
  });
});

describe('advertise in the config', () => {
  it('parses host, host:port, [v6], [v6]:port and a bare IPv6 address', () => {
    expect(parseAdvertise('sip.example.com')).toEqual({ host: 'sip.example.com', port: undefined });
    expect(parseAdvertise('203.0.113.7:5060')).toEqual({ host: '203.0.113.7', port: 5060 });
    expect(parseAdvertise('[2001:db8::1]')).toEqual({ host: '2001:db8::1', port: undefined });
    expect(parseAdvertise('[2001:db8::1]:5070')).toEqual({ host: '2001:db8::1', port: 5070 });
    expect(parseAdvertise('2001:db8::1')).toEqual({ host: '2001:db8::1', port: undefined });
    expect(parseAdvertise('sip.example.com.:5070')).toEqual({ host: 'sip.example.com.', port: 5070 });
    const bad = ['host:0', 'host:65536', 'host:', 'ho st', 'host:5060x', '[2001:db8::1', '[2001:db8::1]5060', '-host', 'sip:host', '[host]:5060'];
    // Not addresses: a stray colon, too many colons, numbers that are no IPv4 address, empty labels, the unspecified addresses.
    bad.push('1.2.3.4:5060:', '10.0.0.1:5060:5070', ':::::', 'a:b:c', '999.1.1.1', '1..2', 'a..b', '0.0.0.0', '::', '[::]:5060', '0.0.0.0:5060');
    for (const text of bad) {
      expect(parseAdvertise(text), text).toBeUndefined();
    }
  });

  it('a malformed advertise is refused with its path; on an http listener it is a warning', () => {
    let error: unknown;
    try {
      validateConfig({ listeners: [{ name: 'sip', protocol: 'sip', address: '127.0.0.1:5060', advertise: 'bad host' }] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).details).toEqual([expect.objectContaining({ path: 'listeners[0].advertise' })]);
    const { warnings, config } = validateConfig({ listeners: [{ name: 'web', protocol: 'http', address: '127.0.0.1:8080', advertise: 'example.com' }] });
    expect(warnings).toEqual([{ path: 'listeners[0].advertise', message: 'only sip and sip-ws listeners use it; ignored' }]);
    expect(config.listeners[0]!.advertise).toBeUndefined();
  });
});
