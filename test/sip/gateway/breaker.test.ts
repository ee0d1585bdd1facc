/**
 * Circuit breakers of SIP targets (SPEC D.9), with raw UDP peers: a target answering 503 trips its
 * breaker at the configured volume; new requests go to the healthy target, and with every breaker
 * open the caller gets 503 with Retry-After without the target seeing the request; after the open
 * time one trial goes through. Also shown in /status.
 */
import { describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../helpers/gateway.ts';
import type { UdpPeer } from '../proxy/helpers.ts';
import { answer, invite, sleep } from '../proxy/helpers.ts';
import { cleanupsAfterEach, udpPeer } from './teardown.ts';

let gw: RunningGateway | undefined;
const cleanups = cleanupsAfterEach(async () => {
  await gw?.stop(200);
  gw = undefined;
});
const open = (): Promise<UdpPeer> => udpPeer(cleanups);

interface Breaker {
  readonly volumeThreshold: number;
  readonly resetTimeoutMs: number;
}

/**
 * A gateway whose `sip` listener routes `pbx.local` to one upstream of UDP `targets` with a circuit
 * breaker (50 % errors in a 10 s window); resolves with the listener's port.
 */
async function startPbx(targets: readonly { readonly peer: UdpPeer; readonly weight?: number }[], breaker: Breaker, options: { admin?: boolean } = {}): Promise<number> {
  gw = await startGateway({
    log: { level: 'warn' },
    ...(options.admin === true ? { admin: { address: '127.0.0.1:0' } } : {}),
    listeners: [{ name: 'sip', protocol: 'sip', address: '127.0.0.1:0' }],
    upstreams: [
      {
        name: 'pbx',
        targets: targets.map((t) => ({ url: `sip:127.0.0.1:${t.peer.port};transport=udp`, ...(t.weight === undefined ? {} : { weight: t.weight }) })),
        circuitBreaker: { volumeThreshold: breaker.volumeThreshold, errorThresholdPercentage: 50, rollingWindowMs: 10_000, resetTimeoutMs: breaker.resetTimeoutMs },
      },
    ],
    routes: [{ name: 'pbx', match: { sip: { domain: 'pbx.local' } }, upstream: 'pbx' }],
  });
  return gw.gateway.addresses()['sip']!.port;
}

/** `target` answers every OPTIONS `status` (to the gateway at `port`). */
function answerOptions(target: UdpPeer, status: 200 | 503, port: number): void {
  target.onMessage = (m) => {
    if (m.kind === 'request' && m.method === 'OPTIONS') void target.send(answer(m, status, target.port, status === 200 ? 'OK' : 'Service Unavailable'), port);
  };
}

/** An OPTIONS from `uac` to `sip:bob@pbx.local` whose Call-ID starts `<callId>-`. */
function optionsFrom(uac: UdpPeer, callId: string): string {
  return invite({ port: uac.port, uri: 'sip:bob@pbx.local' }).replace(/^INVITE/, 'OPTIONS').replace('CSeq: 1 INVITE', 'CSeq: 1 OPTIONS').replace(/Call-ID: [^\r]+/, `Call-ID: ${callId}-${Date.now()}`);
}

/** Sends `count` OPTIONS from `uac` one after another (Call-IDs `<prefix>-<i>-…`), each waiting for its response; resolves with the statuses. */
async function sendOptions(uac: UdpPeer, port: number, count: number, prefix: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    await uac.send(optionsFrom(uac, `${prefix}-${i}`), port);
    const r = await uac.inbox.next((m) => m.kind === 'response' && m.callId.startsWith(`${prefix}-${i}-`));
    if (r.kind === 'response') statuses.push(r.status);
  }
  return statuses;
}

describe('SIP target circuit breakers', () => {
  it('open after failures at the volume threshold: 503 with Retry-After without touching the target, then a half-open trial', async () => {
    const [uac, failing] = [await open(), await open()];
    const port = await startPbx([{ peer: failing }], { volumeThreshold: 3, resetTimeoutMs: 400 }, { admin: true });
    answerOptions(failing, 503, port);
    const options = (n: number) => optionsFrom(uac, `brk-${n}`).replace(/branch=[^\r;]+/, `branch=z9hG4bKbrk${n}x${Date.now()}`);
    for (let i = 0; i < 3; i++) {
      await uac.send(options(i), port);
      await uac.inbox.next((m) => m.kind === 'response' && m.callId.startsWith(`brk-${i}-`));
    }
    const seen = () => failing.inbox.count((m) => m.kind === 'request' && m.method === 'OPTIONS');
    expect(seen()).toBe(3);
    await sleep(20);
    const status = gw!.gateway.status();
    expect(status.routes.find((r) => r.name === 'pbx')?.breakers[0]).toMatchObject({ state: 'open' });

    await uac.send(options(10), port);
    const refused = await uac.inbox.next((m) => m.kind === 'response' && m.callId.startsWith('brk-10-'));
    expect(refused.kind === 'response' && refused.status).toBe(503);
    expect(Number(refused.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(seen()).toBe(3);

    await sleep(450);
    await uac.send(options(11), port);
    await uac.inbox.next((m) => m.kind === 'response' && m.callId.startsWith('brk-11-'));
    expect(seen()).toBe(4);
    const metrics = await (await fetch(`${gw!.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/tandem_breaker_transitions_total\{route="pbx",target="127\.0\.0\.1:\d+",from="closed",to="open"\} 1/);
  });

  it('with weights 3:1 and the heavy target open, every request goes to the light one (the balancer skips refusing targets)', async () => {
    const [uac, failing, healthy] = [await open(), await open(), await open()];
    const port = await startPbx([{ peer: failing, weight: 3 }, { peer: healthy, weight: 1 }], { volumeThreshold: 2, resetTimeoutMs: 60_000 });
    answerOptions(failing, 503, port);
    answerOptions(healthy, 200, port);
    const statuses = await sendOptions(uac, port, 16, 'w');
    expect(failing.inbox.count((m) => m.kind === 'request')).toBe(2);
    expect(statuses.slice(4)).toEqual(Array.from({ length: 12 }, () => 200));
    const target = gw!.gateway.status().upstreams.find((u) => u.name === 'pbx')!.targets[0]!;
    expect(target).toMatchObject({ requests: 2, failures: 2 });
  });

  it('a target whose breaker is open is skipped for the healthy one', async () => {
    const [uac, failing, healthy] = [await open(), await open(), await open()];
    const port = await startPbx([{ peer: failing }, { peer: healthy }], { volumeThreshold: 2, resetTimeoutMs: 60_000 });
    answerOptions(failing, 503, port);
    answerOptions(healthy, 200, port);
    const statuses = await sendOptions(uac, port, 12, 'lb');
    const failed = failing.inbox.count((m) => m.kind === 'request');
    // Round robin sends every other request to the failing target until 2 failures trip its breaker.
    expect(failed).toBe(2);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
  });
});
