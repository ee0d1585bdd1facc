/** The same call with a TCP UAC (node:net) and a UDP UAS: responses go back on the UAC's connection. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { answer, inDialog, invite, type ProxyHarness, sleep, startProxy, TcpPeer, UdpPeer } from './helpers.ts';

let uac: TcpPeer;
let uas: UdpPeer;
let harness: ProxyHarness;

beforeEach(async () => {
  uas = await UdpPeer.open();
  harness = await startProxy((request) => (request.uri.kind === 'sip' && request.uri.host === 'example.com' ? { transport: 'udp', host: '127.0.0.1', port: uas.port } : undefined));
  uac = await TcpPeer.connect(harness.port);
});

afterEach(async () => {
  uac.close();
  await harness.close();
  await uas.close();
});

describe('SipProxy over TCP', () => {
  it('carries INVITE/180/200/ACK/BYE/200 from a TCP UAC to a UDP UAS and back, with a Record-Route per transport', async () => {
    uas.onMessage = (m) => {
      if (m.kind !== 'request') return;
      if (m.method === 'INVITE') {
        void uas.send(answer(m, 180, uas.port, 'Ringing'), harness.port);
        void sleep(20).then(() => uas.send(answer(m, 200, uas.port, 'OK'), harness.port));
      } else if (m.method === 'BYE') void uas.send(answer(m, 200, uas.port, 'OK'), harness.port);
    };
    await uac.send(invite({ transport: 'TCP', port: uac.port }));
    const forwarded = await uas.inbox.request('INVITE');
    expect(forwarded.via).toHaveLength(2);
    expect(forwarded.via[0]!.transport).toBe('UDP');
    expect(forwarded.via[1]!.transport).toBe('TCP');
    expect(forwarded.maxForwards).toBe(69);
    // SPEC D.5: crossing transports, one Record-Route per side, the one facing the UAS on top.
    expect(forwarded.recordRoute.map((r) => r.uri.raw)).toEqual([`sip:127.0.0.1:${harness.port};transport=udp;lr`, `sip:127.0.0.1:${harness.port};transport=tcp;lr`]);

    expect((await uac.inbox.response(180)).via).toHaveLength(1);
    const ok = await uac.inbox.response(200, 'INVITE');
    expect(ok.via).toHaveLength(1);
    expect(ok.topVia!.transport).toBe('TCP');

    await uac.send(inDialog('ACK', ok, { transport: 'TCP', port: uac.port }));
    const ack = await uas.inbox.request('ACK');
    expect(ack.via).toHaveLength(2);
    expect(ack.route).toHaveLength(0);

    await uac.send(inDialog('BYE', ok, { transport: 'TCP', port: uac.port }));
    expect((await uas.inbox.request('BYE')).via).toHaveLength(2);
    expect((await uac.inbox.response(200, 'BYE')).via).toHaveLength(1);
  });
});
