/**
 * Active health checks of SIP targets with OPTIONS, with raw UDP and TCP peers as the SIP servers: the
 * probes Tandem sends (well-formed, every `intervalMs`, a new transaction each), a target that stops
 * answering leaving the rotation after `unhealthyThreshold` probes and coming back after
 * `healthyThreshold`, 503 with Retry-After when none is healthy, /status and /metrics, reloads that
 * keep the checks' state or stop them, TCP targets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SipMessage, SipRequest } from '../../../src/sip/index.ts';
import { startGateway, type RunningGateway } from '../../helpers/gateway.ts';
import { answer, invite } from '../proxy/helpers.ts';
import { freePort, sleep, TcpServerPeer, UdpPeer } from './helpers.ts';

let gw: RunningGateway | undefined;
const peers: UdpPeer[] = [];
const servers: TcpServerPeer[] = [];
afterEach(async () => {
  await gw?.stop(200);
  gw = undefined;
  for (const p of peers.splice(0)) await p.close();
  for (const s of servers.splice(0)) await s.close();
});

/** Fast checks: a probe 100 ms after the previous result, 100 ms to answer, 2 in a row either way. */
const HEALTH = { intervalMs: 100, timeoutMs: 100, unhealthyThreshold: 2, healthyThreshold: 2 };

/** A UDP SIP server: answers OPTIONS with `options` (undefined: silent) and INVITEs with 486. */
class Uas {
  readonly peer: UdpPeer;
  options: number | undefined = 200;

  constructor(peer: UdpPeer) {
    this.peer = peer;
    peer.onMessage = (m, p, from) => {
      if (m.kind !== 'request') return;
      if (m.method === 'OPTIONS' && this.options !== undefined) void p.send(answer(m, this.options, p.port, 'Whatever'), from.port);
      if (m.method === 'INVITE') void p.send(answer(m, 486, p.port, 'Busy Here'), from.port);
    };
  }

  static async open(): Promise<Uas> {
    const peer = await UdpPeer.open();
    peers.push(peer);
    return new Uas(peer);
  }

  get url(): string {
    return `sip:127.0.0.1:${this.peer.port};transport=udp`;
  }

  /** The OPTIONS received so far (retransmissions included). */
  probes(): SipRequest[] {
    return this.peer.inbox.filter((m) => m.kind === 'request' && m.method === 'OPTIONS').map((r) => r.message as SipRequest);
  }

  /** Distinct OPTIONS transactions (branches) received so far. */
  probeBranches(): Set<string> {
    return new Set(this.probes().map((m) => m.topVia!.branch!));
  }

  invites(): number {
    return this.peer.inbox.count((m) => m.kind === 'request' && m.method === 'INVITE');
  }
}

/** The config: one SIP upstream `pbx` of `urls` with `healthCheck` (null: none), routes for `pbx.local` and `extraRoutes`. */
function doc(urls: readonly string[], healthCheck: Record<string, unknown> | null, extraRoutes: readonly Record<string, unknown>[] = []): Record<string, unknown> {
  return {
    log: { level: 'info' },
    admin: { address: '127.0.0.1:0' },
    sip: { t1Ms: 20 },
    listeners: [{ name: 'sip', protocol: 'sip', address: '127.0.0.1:0' }],
    upstreams: [{ name: 'pbx', targets: urls.map((url) => ({ url })), ...(healthCheck === null ? {} : { healthCheck }) }],
    routes: [{ name: 'pbx', match: { sip: { domain: 'pbx.local' } }, upstream: 'pbx' }, ...extraRoutes],
  };
}

async function start(urls: readonly string[], healthCheck: Record<string, unknown> = HEALTH): Promise<number> {
  gw = await startGateway(doc(urls, healthCheck));
  return gw.gateway.addresses()['sip']!.port;
}

function health(): string[] {
  return gw!.gateway.status().upstreams.find((u) => u.name === 'pbx')!.targets.map((t) => t.health);
}

/** Polls until `check` holds (every 10 ms, up to `ms`); fails with `what` otherwise. */
async function until(what: string, check: () => boolean, ms = 1500): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Sends INVITEs from a fresh UAC through the gateway one at a time; resolves with the final statuses and the last final response. */
async function call(port: number, count: number): Promise<{ statuses: number[]; last: SipMessage | undefined }> {
  const uac = await UdpPeer.open();
  peers.push(uac);
  const statuses: number[] = [];
  let last: SipMessage | undefined;
  for (let i = 0; i < count; i++) {
    const text = invite({ port: uac.port, uri: 'sip:bob@pbx.local' }).replace(/Call-ID: [^\r]+/, `Call-ID: hc-${i}-${Date.now()}`);
    await uac.send(text, port);
    const r = await uac.inbox.next((m) => m.kind === 'response' && m.status >= 200 && m.callId.startsWith(`hc-${i}-`));
    last = r.message;
    if (r.message.kind === 'response') statuses.push(r.message.status);
  }
  return { statuses, last };
}

async function metrics(): Promise<string> {
  return (await fetch(`${gw!.adminUrl}/metrics`)).text();
}

describe('SIP target health checks (OPTIONS)', () => {
  it('probes a UDP target every intervalMs with well-formed OPTIONS, each a new transaction; a target answering 200 stays healthy', async () => {
    const uas = await Uas.open();
    // A long timeout: a probe sent while the gateway is still starting is not failed by event loop lag.
    const port = await start([uas.url], { ...HEALTH, timeoutMs: 500 });
    await until('three probes', () => uas.probeBranches().size >= 3);
    // The first copy of each probe (on UDP, Timer E may retransmit one before the answer is in).
    const firsts = [...new Map(uas.peer.inbox.filter((m) => m.kind === 'request' && m.method === 'OPTIONS').reverse().map((r) => [(r.message as SipRequest).topVia!.branch!, r])).values()].reverse();
    const [first, second, third] = firsts;
    const probe = first!.message as SipRequest;
    expect(probe.uri.raw).toBe(`sip:127.0.0.1:${uas.peer.port}`);
    expect(probe.via).toHaveLength(1);
    expect(probe.topVia).toMatchObject({ transport: 'UDP', host: '127.0.0.1', port });
    expect(probe.topVia!.branch).toMatch(/^z9hG4bK/);
    expect(probe.maxForwards).toBe(70);
    expect(probe.cseq).toMatchObject({ seq: 1, method: 'OPTIONS' });
    expect(probe.to.uri.raw).toBe(`sip:127.0.0.1:${uas.peer.port}`);
    expect(probe.to.tag).toBeUndefined();
    expect(probe.from.tag).toMatch(/^[0-9a-f]+$/);
    expect(probe.from.uri.raw).toBe('sip:tandem@127.0.0.1');
    expect(probe.get('user-agent')).toBe('Tandem');
    expect(probe.contentLength).toBe(0);
    const next = second!.message as SipRequest;
    expect(next.cseq).toMatchObject({ seq: 2, method: 'OPTIONS' });
    expect(next.callId).toBe(probe.callId);
    expect(next.from.tag).toBe(probe.from.tag);
    // The next probe goes intervalMs after the previous answer (real time; timers fire no earlier).
    expect(third!.at - second!.at).toBeGreaterThanOrEqual(HEALTH.intervalMs - 5);
    expect(third!.at - second!.at).toBeLessThan(HEALTH.intervalMs + 150);
    expect(health()).toEqual(['healthy']);
    const text = await metrics();
    expect(text).toMatch(new RegExp(`tandem_health_checks_total\\{upstream="pbx",target="127\\.0\\.0\\.1:${uas.peer.port}",result="success"\\} [1-9]`));
    expect(text).toMatch(new RegExp(`tandem_target_healthy\\{upstream="pbx",target="127\\.0\\.0\\.1:${uas.peer.port}"\\} 1`));
    expect(text).not.toMatch(/tandem_health_checks_total\{[^}]*result="failure"\}/);
  });

  it('a target that stops answering leaves the rotation after unhealthyThreshold probes and comes back after healthyThreshold successes', async () => {
    const [a, b] = [await Uas.open(), await Uas.open()];
    const port = await start([a.url, b.url]);
    // Three probes of a: the second was answered (and a failed first one, sent while the gateway was starting, forgotten).
    await until('three probes of a', () => a.probeBranches().size >= 3 && b.probes().length > 0);
    expect((await call(port, 2)).statuses).toEqual([486, 486]);
    expect([a.invites(), b.invites()]).toEqual([1, 1]);

    a.options = undefined;
    const before = a.probeBranches();
    await until('a unhealthy', () => health()[0] === 'unhealthy');
    const silentProbes = [...a.probeBranches()].filter((branch) => !before.has(branch));
    // Two unanswered probes (the first may have been answered just before the silence).
    expect(silentProbes.length).toBeGreaterThanOrEqual(HEALTH.unhealthyThreshold);
    expect(silentProbes.length).toBeLessThanOrEqual(HEALTH.unhealthyThreshold + 1);
    expect(health()).toEqual(['unhealthy', 'healthy']);
    const status = await (await fetch(`${gw!.adminUrl}/status`)).json() as { upstreams: { name: string; targets: { health: string }[] }[] };
    expect(status.upstreams.find((u) => u.name === 'pbx')!.targets.map((t) => t.health)).toEqual(['unhealthy', 'healthy']);
    expect(await metrics()).toMatch(new RegExp(`tandem_target_healthy\\{upstream="pbx",target="127\\.0\\.0\\.1:${a.peer.port}"\\} 0`));
    expect(gw!.logs.some((l) => l.msg.includes('SIP target unhealthy') && String(l['detail']).includes('no final response'))).toBe(true);

    expect((await call(port, 4)).statuses).toEqual([486, 486, 486, 486]);
    expect([a.invites(), b.invites()]).toEqual([1, 5]);

    a.options = 200;
    const recovering = a.probeBranches().size;
    await until('a healthy again', () => health()[0] === 'healthy');
    expect(a.probeBranches().size - recovering).toBeGreaterThanOrEqual(HEALTH.healthyThreshold);
    await call(port, 2);
    expect(a.invites()).toBe(2);
  });

  it('503 and 408 from a target count as failures; 405 or 404 as a live server', async () => {
    const [busy, timeout, strict, unknown] = [await Uas.open(), await Uas.open(), await Uas.open(), await Uas.open()];
    busy.options = 503;
    timeout.options = 408;
    strict.options = 405;
    unknown.options = 404;
    await start([busy.url, timeout.url, strict.url, unknown.url]);
    await until('busy and timeout unhealthy', () => health()[0] === 'unhealthy' && health()[1] === 'unhealthy');
    expect(strict.probeBranches().size).toBeGreaterThanOrEqual(2);
    expect(health()).toEqual(['unhealthy', 'unhealthy', 'healthy', 'healthy']);
  });

  it('with every target unhealthy a new request gets 503 with Retry-After, and no target sees it', async () => {
    const [a, b] = [await Uas.open(), await Uas.open()];
    a.options = undefined;
    b.options = undefined;
    const port = await start([a.url, b.url]);
    await until('both unhealthy', () => health().every((h) => h === 'unhealthy'));
    const { statuses, last } = await call(port, 1);
    expect(statuses).toEqual([503]);
    expect(last?.kind === 'response' && last.reason).toBe('Service Unavailable (no healthy target)');
    // healthyThreshold probes intervalMs apart, at least a second.
    expect(last?.get('retry-after')).toBe('1');
    expect([a.invites(), b.invites()]).toEqual([0, 0]);
  });

  it('a reload that keeps the upstream keeps the checks and their state; one that removes healthCheck stops probing', async () => {
    const [a, b] = [await Uas.open(), await Uas.open()];
    a.options = undefined;
    await start([a.url, b.url]);
    await until('a unhealthy', () => health()[0] === 'unhealthy');
    const manager = gw!.gateway.configManager!;

    // An unrelated change (a route added): same machines, still unhealthy, the same Call-ID goes on.
    const other = [{ name: 'other', match: { sip: { domain: 'other.local' } }, upstream: 'pbx' }];
    await manager.replace(doc([a.url, b.url], HEALTH, other), { actor: { source: 'test' } });
    await gw!.gateway.drained();
    expect(health()).toEqual(['unhealthy', 'healthy']);
    const seen = b.probes().length;
    await until('more probes of b', () => b.probes().length > seen);
    expect(new Set(b.probes().map((p) => p.callId)).size).toBe(1);
    // One CSeq sequence from 1: the machine and its prober were kept.
    expect(b.probes().at(-1)!.cseq.seq).toBe(b.probeBranches().size);

    // healthCheck removed: no checks, every target in the rotation, no more OPTIONS.
    await manager.replace(doc([a.url, b.url], null, other), { actor: { source: 'test' } });
    await gw!.gateway.drained();
    expect(health()).toEqual(['healthy', 'healthy']);
    const counts = [a.probes().length, b.probes().length];
    await sleep(HEALTH.intervalMs * 3 + HEALTH.timeoutMs);
    // a's last probe may still be retransmitted by its transaction (Timer E) until Timer F; no new ones.
    expect(a.probeBranches().size).toBe(new Set(a.probes().slice(0, counts[0]).map((p) => p.topVia!.branch)).size);
    expect(b.probes().length).toBe(counts[1]);
    // Its health series are gone with the checks (no stale tandem_target_healthy 0).
    expect(await metrics()).not.toMatch(/tandem_target_healthy\{upstream="pbx"/);
  });

  it('a probe given up at timeoutMs stops its transaction: no retransmissions after it, no transactions piling up until Timer F', async () => {
    const a = await Uas.open();
    a.options = undefined; // silent: Timer E would retransmit at 20, 60, 140, 300 … ms until Timer F (64·T1 = 1280 ms)
    await start([a.url]);
    await until('4 probes', () => a.probeBranches().size >= 4);
    await sleep(400);
    const copies = new Map<string, number>();
    for (const p of a.probes()) copies.set(p.topVia!.branch!, (copies.get(p.topVia!.branch!) ?? 0) + 1);
    // Sent at 0, 20 and 60 ms; the probe gives up at 100 ms, before the copy due at 140 ms.
    expect(Math.max(...copies.values())).toBeLessThanOrEqual(3);
    // At most the probe in flight (and none of the abandoned ones) is a live transaction.
    expect(gw!.gateway.status().sip!.transactions.nonInviteClient).toBeLessThanOrEqual(1);
  });

  it('probes TCP targets over a connection; a TCP target refusing connections turns unhealthy', async () => {
    const server = await TcpServerPeer.listen();
    servers.push(server);
    server.onMessage = (m, p) => {
      if (m.kind === 'request' && m.method === 'OPTIONS') void p.send(answer(m, 200, server.port, 'OK'));
    };
    const refused = await freePort();
    const port = await start([`sip:127.0.0.1:${server.port};transport=tcp`, `sip:127.0.0.1:${refused};transport=tcp`]);
    await until('the refusing target unhealthy', () => health()[1] === 'unhealthy');
    await until('two probes over TCP', () => server.inbox.count((m) => m.kind === 'request' && m.method === 'OPTIONS') >= 2);
    const probe = server.inbox.filter((m) => m.kind === 'request' && m.method === 'OPTIONS')[0]!.message as SipRequest;
    expect(probe.uri.raw).toBe(`sip:127.0.0.1:${server.port};transport=tcp`);
    expect(probe.topVia).toMatchObject({ transport: 'TCP', host: '127.0.0.1', port });
    expect(server.connections).toHaveLength(1);
    expect(health()).toEqual(['healthy', 'unhealthy']);
    expect(gw!.logs.some((l) => l.msg.includes('SIP target unhealthy') && /transport error|not sent/.test(String(l['detail'])))).toBe(true);
  });
});
