/** CANCEL through the proxy (RFC 3261 §16.10, SPEC D.8) and stray responses (§16.11), over real UDP sockets. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SipRequest } from '../../../src/sip/index.ts';
import { answer, cancelOf, closeUdpCall, invite, openUdpCall, type ProxyHarness, sleep, type UdpPeer } from './helpers.ts';

let uac: UdpPeer;
let uas: UdpPeer;
let harness: ProxyHarness;

beforeEach(async () => {
  ({ uac, uas, harness } = await openUdpCall());
});

afterEach(() => closeUdpCall({ uac, uas, harness }));

/** The UAS answers a CANCEL 200 and the INVITE it cancels 487 (RFC 3261 §9.2). */
function answerCancel(): void {
  let pending: SipRequest | undefined;
  const previous = uas.onMessage;
  uas.onMessage = (m) => {
    previous?.(m);
    if (m.kind !== 'request') return;
    if (m.method === 'INVITE') pending = m;
    if (m.method === 'CANCEL' && pending !== undefined) {
      void uas.send(answer(m, 200, uas.port, 'OK'), harness.port);
      void uas.send(answer(pending, 487, uas.port, 'Request Terminated'), harness.port);
    }
  };
}

describe('SipProxy: CANCEL (RFC 3261 §16.10)', () => {
  it('answers the CANCEL 200 hop by hop, CANCELs the ringing branch with the same branch, and relays the 487', async () => {
    uas.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'INVITE') void uas.send(answer(m, 180, uas.port, 'Ringing'), harness.port);
    };
    answerCancel();
    const text = invite({ port: uac.port });
    await uac.send(text, harness.port);
    await uac.inbox.response(180);
    const forwarded = await uas.inbox.request('INVITE');

    await uac.send(cancelOf(text), harness.port);
    const cancelOk = await uac.inbox.response(200, 'CANCEL');
    expect(cancelOk.via).toHaveLength(1);

    // §9.1: the CANCEL the proxy sends matches the INVITE it forwarded.
    const cancel = await uas.inbox.request('CANCEL');
    expect(cancel.via).toHaveLength(1);
    expect(cancel.topVia!.branch).toBe(forwarded.topVia!.branch);
    expect(cancel.uri.raw).toBe(forwarded.uri.raw);
    expect(cancel.callId).toBe(forwarded.callId);
    expect(cancel.get('from')).toBe(forwarded.get('from'));
    expect(cancel.get('to')).toBe(forwarded.get('to'));
    expect(cancel.cseq).toEqual({ seq: forwarded.cseq.seq, method: 'CANCEL' });

    const terminated = await uac.inbox.response(487, 'INVITE');
    expect(terminated.via).toHaveLength(1);
    // The 487 was ACKed hop by hop by the proxy's client transaction (§17.1.1.3).
    const ack = await uas.inbox.request('ACK');
    expect(ack.topVia!.branch).toBe(forwarded.topVia!.branch);
  });

  it('MUST NOT CANCEL a branch before it had a provisional response; sends it once one arrives (§9.1)', async () => {
    answerCancel();
    const text = invite({ port: uac.port });
    await uac.send(text, harness.port);
    const forwarded = await uas.inbox.request('INVITE');
    await uac.send(cancelOf(text), harness.port);
    await uac.inbox.response(200, 'CANCEL');
    await sleep(60);
    expect(uas.inbox.count((m) => m.kind === 'request' && m.method === 'CANCEL')).toBe(0);

    await uas.send(answer(forwarded, 180, uas.port, 'Ringing'), harness.port);
    await uas.inbox.request('CANCEL');
    await uac.inbox.response(487, 'INVITE');
  });

  it('answers 481 to a CANCEL that matches no INVITE', async () => {
    await uac.send(cancelOf(invite({ port: uac.port })), harness.port);
    await uac.inbox.response(481, 'CANCEL');
    expect(uas.inbox.all).toHaveLength(0);
  });
});

describe('SipProxy: stray responses (RFC 3261 §16.11)', () => {
  const stray = (vias: readonly string[]): string =>
    [
      'SIP/2.0 200 OK',
      ...vias.map((v) => `Via: ${v}`),
      'From: <sip:alice@example.org>;tag=a',
      'To: <sip:bob@example.com>;tag=b',
      'Call-ID: stray@127.0.0.1',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');

  it('forwards a response matching no transaction whose top Via is ours, without that Via', async () => {
    await uas.send(stray([`SIP/2.0/UDP 127.0.0.1:${harness.port};branch=z9hG4bKgone`, `SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bKuac`]), harness.port);
    const response = await uac.inbox.response(200);
    expect(response.via).toHaveLength(1);
    expect(response.topVia!.port).toBe(uac.port);
  });

  it('drops a stray response whose top Via is not ours', async () => {
    await uas.send(stray([`SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bKuac`]), harness.port);
    await sleep(60);
    expect(uac.inbox.all).toHaveLength(0);
  });
});
