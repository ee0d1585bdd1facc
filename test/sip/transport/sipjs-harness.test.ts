/**
 * Proves the sip.js harness (test/helpers/sipjs.ts) against Tandem's `SipWsListener`: real sip.js user
 * agents in Node, over `ws`, talking to a tiny stateless responder written here (not Tandem's proxy).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createResponse, type SipRequest, type SipResponse } from '../../../src/sip/index.ts';
import { type Flow, SipWsListener, type TransportEvent, type TransportUser } from '../../../src/sip/transport/index.ts';
import { createSipJsClient, type SipJsClient, type SipJsClientOptions, STATIC_SDP } from '../../helpers/sipjs.ts';
import { Teardown } from './helpers.ts';

const teardown = new Teardown();
afterEach(() => teardown.run());

const SERVER_SDP = ['v=0', 'o=- 7 7 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 50000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');

const tag = (): string => randomBytes(4).toString('hex');

/**
 * A stateless UAS/registrar on the transport layer: REGISTER → 200 (Contact echoed with expires,
 * Expires); INVITE → 100, 180, then 200 with SDP (Request-URI user `ringing`: rings until CANCEL;
 * `timeout`: 408 after the 180); ACK ignored; BYE → 200; CANCEL → 200, then 487 for the INVITE. Every request and
 * response it gets is kept, with its flow.
 */
class Responder implements TransportUser {
  readonly requests: { message: SipRequest; flow: Flow }[] = [];
  readonly responses: SipResponse[] = [];
  readonly #ringing = new Map<string, { invite: SipRequest; flow: Flow; toTag: string }>();
  readonly #waiters = new Set<() => void>();
  port = 0;

  onMessage(event: TransportEvent): void {
    if (event.type === 'response') this.responses.push(event.message);
    else {
      this.requests.push({ message: event.message, flow: event.flow });
      void this.#answer(event.message, event.flow);
    }
    for (const w of this.#waiters) w();
  }

  /** Resolves once `check` is true (checked on every message), or rejects after `timeoutMs`. */
  until<T>(check: () => T | undefined, timeoutMs = 3000): Promise<T> {
    return new Promise((resolve, reject) => {
      const poll = (): void => {
        const value = check();
        if (value === undefined) return;
        this.#waiters.delete(poll);
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(poll);
        reject(new Error('responder: condition not met in time'));
      }, timeoutMs);
      this.#waiters.add(poll);
      poll();
    });
  }

  async #answer(request: SipRequest, flow: Flow): Promise<void> {
    const contact = `<sip:uas@127.0.0.1:${this.port};transport=ws>`;
    switch (request.method) {
      case 'REGISTER': {
        const raw = request.getAll('Contact');
        const expires = Number(/;expires=(\d+)/i.exec(raw.join(','))?.[1] ?? request.get('Expires') ?? 3600);
        const bindings = raw.map((c) => `${c.replace(/;expires=\d+/i, '')};expires=${expires}`);
        await flow.send(createResponse(request, 200, { toTag: tag(), headers: [...bindings.map((b): [string, string] => ['Contact', b]), ['Expires', String(expires)]] }));
        return;
      }
      case 'INVITE': {
        const toTag = tag();
        await flow.send(createResponse(request, 100));
        await flow.send(createResponse(request, 180, { toTag, headers: [['Contact', contact]] }));
        const user = request.uri.kind === 'sip' ? request.uri.user : undefined;
        if (user === 'timeout') {
          await flow.send(createResponse(request, 408, { toTag }));
          return;
        }
        if (user === 'ringing') {
          this.#ringing.set(request.callId, { invite: request, flow, toTag });
          return;
        }
        await flow.send(createResponse(request, 200, { toTag, headers: [['Contact', contact]], body: SERVER_SDP, contentType: 'application/sdp' }));
        return;
      }
      case 'CANCEL': {
        await flow.send(createResponse(request, 200));
        const pending = this.#ringing.get(request.callId);
        if (pending === undefined) return;
        this.#ringing.delete(request.callId);
        await pending.flow.send(createResponse(pending.invite, 487, { toTag: pending.toTag }));
        return;
      }
      case 'ACK':
        return;
      default:
        await flow.send(createResponse(request, 200));
    }
  }
}

async function setup(): Promise<{ responder: Responder; wsUrl: string; listener: SipWsListener }> {
  const responder = new Responder();
  const listener = teardown.add(new SipWsListener({ host: '127.0.0.1', port: 0, user: responder }), (l) => l.close());
  const { port } = await listener.listen();
  responder.port = port;
  return { responder, wsUrl: `ws://127.0.0.1:${port}`, listener };
}

async function client(options: SipJsClientOptions): Promise<SipJsClient> {
  const c = teardown.add(createSipJsClient(options), (x) => x.stop());
  await c.start();
  return c;
}

describe('sip.js clients in Node over ws against SipWsListener', () => {
  it('REGISTER: 200 with the binding; the request came as WS with a .invalid Via host', async () => {
    const { responder, wsUrl, listener } = await setup();
    const alice = await client({ wsUrl, aor: 'sip:alice@example.com', registerExpiresSec: 120 });
    expect(listener.connections).toBe(1);

    const outcome = await alice.register();
    expect(outcome).toEqual({ status: 200, expiresSec: 120 });

    const { message, flow } = responder.requests.find((r) => r.message.method === 'REGISTER')!;
    expect(flow.transport).toBe('ws');
    const via = message.topVia!;
    expect(via.transport).toBe('WS');
    expect(via.host).toMatch(/\.invalid$/);
    expect(via.host).toBe(alice.viaHost);
    expect(via.received).toBe('127.0.0.1');
    const contact = message.contact;
    expect(contact !== '*' && contact[0]!.uri.kind === 'sip' && contact[0]!.uri.host).toMatch(/\.invalid$/);

    // The trace saw the exchange in wire order.
    expect(alice.trace.filter({ method: 'REGISTER' }).map((e) => [e.direction, e.status])).toEqual([
      ['sent', undefined],
      ['received', 200],
    ]);
  });

  it('an outgoing call is established (100, 180, 200 + ACK) and BYE completes with 200', async () => {
    const { responder, wsUrl } = await setup();
    const alice = await client({ wsUrl, aor: 'sip:alice@example.com' });

    const call = alice.call('sip:bob@example.com');
    await call.established;
    expect(call.provisional).toEqual([100, 180]);
    expect(call.finalStatus).toBe(200);
    expect(call.remoteSdp).toBe(SERVER_SDP);
    const invite = responder.requests.find((r) => r.message.method === 'INVITE')!.message;
    expect(Buffer.from(invite.body).toString()).toBe(STATIC_SDP);
    expect(invite.contentType).toMatchObject({ type: 'application', subtype: 'sdp' });
    await responder.until(() => responder.requests.find((r) => r.message.method === 'ACK'));

    expect(await call.bye()).toBe(200);
    expect(await call.terminated).toEqual({ finalStatus: 200, byeBy: 'local' });
    expect(alice.trace.statuses({ direction: 'received', callId: call.callId })).toEqual([100, 180, 200, 200]);
  });

  it('CANCEL of a ringing call: 200 for the CANCEL, then 487 for the INVITE', async () => {
    const { responder, wsUrl } = await setup();
    const alice = await client({ wsUrl, aor: 'sip:alice@example.com' });

    const call = alice.call('sip:ringing@example.com');
    await alice.trace.wait({ direction: 'received', method: 'INVITE', status: 180 });
    expect(await call.cancel()).toBe(487);
    await expect(call.established).rejects.toMatchObject({ status: 487 });
    expect((await call.terminated).finalStatus).toBe(487);

    expect(alice.trace.find({ direction: 'received', method: 'CANCEL', status: 200 })).toBeDefined();
    expect(alice.trace.find({ direction: 'received', method: 'INVITE', status: 487 })).toBeDefined();
    // sip.js ACKs the 487 itself (RFC 3261 §17.1.1.3), on the INVITE's branch.
    const ack = await responder.until(() => responder.requests.find((r) => r.message.method === 'ACK'));
    const cancel = responder.requests.find((r) => r.message.method === 'CANCEL')!;
    expect(ack.message.topVia!.branch).toBe(cancel.message.topVia!.branch);
  });

  it('a failed call: established rejects with the final status (408), which sip.js ACKs', async () => {
    const { responder, wsUrl } = await setup();
    const alice = await client({ wsUrl, aor: 'sip:alice@example.com' });

    const call = alice.call('sip:timeout@example.com');
    await expect(call.established).rejects.toMatchObject({ name: 'SipJsError', status: 408 });
    expect(await call.terminated).toEqual({ finalStatus: 408, byeBy: undefined });
    expect(call.provisional).toEqual([100, 180]);
    expect(alice.trace.statuses({ direction: 'received', method: 'INVITE' })).toEqual([100, 180, 408]);
    await responder.until(() => responder.requests.find((r) => r.message.method === 'ACK'));
  });

  it('an incoming INVITE sent over the flow is answered by the client (100, 180, then 200 with SDP)', async () => {
    const { responder, wsUrl } = await setup();
    const bob = await client({ wsUrl, aor: 'sip:bob@example.com', answer: { mode: 'auto', ringMs: 50 } });
    await bob.register();
    const { message: register, flow } = responder.requests.find((r) => r.message.method === 'REGISTER')!;
    const contact = register.contact !== '*' ? register.contact[0]!.uri.raw : '';

    // The server reaches the client only through its flow (RFC 7118 §5), at its registered Contact.
    const callId = `in-${tag()}`;
    const fromTag = tag();
    const port = responder.port;
    const request = (method: string, cseq: number, toTag?: string, body = ''): string =>
      [
        `${method} ${contact} SIP/2.0`,
        `Via: SIP/2.0/WS 127.0.0.1:${port};branch=z9hG4bK${tag()};rport`,
        'Max-Forwards: 70',
        `From: <sip:carol@example.com>;tag=${fromTag}`,
        `To: <sip:bob@example.com>${toTag === undefined ? '' : `;tag=${toTag}`}`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} ${method}`,
        `Contact: <sip:carol@127.0.0.1:${port};transport=ws>`,
        ...(body === '' ? [] : ['Content-Type: application/sdp']),
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n');
    await flow.send(Buffer.from(request('INVITE', 1, undefined, SERVER_SDP)));

    const incoming = await bob.nextIncoming();
    const ok = await responder.until(() => responder.responses.find((r) => r.callId === callId && r.status === 200));
    expect(responder.responses.filter((r) => r.callId === callId).map((r) => r.status)).toEqual([100, 180, 200]);
    expect(Buffer.from(ok.body).toString()).toBe(STATIC_SDP);
    expect(incoming.remoteSdp).toBe(SERVER_SDP);
    const toTag = ok.to.tag!;

    await flow.send(Buffer.from(request('ACK', 1, toTag)));
    await incoming.established;
    await flow.send(Buffer.from(request('BYE', 2, toTag)));
    const byeOk = await responder.until(() => responder.responses.find((r) => r.callId === callId && r.cseq.method === 'BYE'));
    expect(byeOk.status).toBe(200);
    expect(await incoming.terminated).toMatchObject({ finalStatus: 200, byeBy: 'remote' });
    expect(bob.trace.statuses({ direction: 'sent', callId })).toEqual([100, 180, 200, 200]);
  });
});
