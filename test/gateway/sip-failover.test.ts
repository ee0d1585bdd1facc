/**
 * The failover policy of SIP requests to an upstream (src/gateway/sip-failover.ts): what `retries.on`
 * covers, `attempts`, targets not tried yet, and the retry budget (a refused budget gives the breaker
 * place back). Pure: no sockets (the behaviour on the wire is in test/sip/gateway/failover.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { SipFailover, SipRetryBudget, sipRetryCovers, type TakenTarget } from '../../src/gateway/sip-failover.ts';
import type { Upstream } from '../../src/routes/config.ts';
import { validateConfig } from '../../src/routes/config-validate.ts';

function upstreamOf(retries: Record<string, unknown>, targets = 3): Upstream {
  const { config } = validateConfig({
    listeners: [{ name: 'sip', protocol: 'sip', address: '127.0.0.1:0' }],
    upstreams: [{ name: 'pbx', targets: Array.from({ length: targets }, (_, i) => ({ url: `sip:127.0.0.1:${5070 + i};transport=udp` })), retries }],
    routes: [{ name: 'pbx', match: { sip: { domain: 'example.com' } }, upstream: 'pbx' }],
  });
  return config.upstreams[0]!;
}

/** A `take` over `count` targets in index order, recording what it was asked and what it gave back. */
function taker(count: number): { take: (exclude: ReadonlySet<number>) => TakenTarget | undefined; excluded: number[][]; released: number[] } {
  const excluded: number[][] = [];
  const released: number[] = [];
  return {
    excluded,
    released,
    take: (exclude) => {
      excluded.push([...exclude].sort());
      for (let i = 0; i < count; i++) {
        if (exclude.has(i)) continue;
        return { index: i, next: { target: { transport: 'udp', host: '127.0.0.1', port: 5070 + i } }, release: () => released.push(i) };
      }
      return undefined;
    },
  };
}

describe('SIP failover policy (retries)', () => {
  it('retries.on: connectFailure (or reset) covers transport errors before any response, only reset one after a provisional; timeout covers timeouts, codes cover final responses', () => {
    expect(sipRetryCovers(['connectFailure'], { reason: 'connectFailure' })).toBe(true);
    expect(sipRetryCovers(['reset'], { reason: 'connectFailure' })).toBe(true);
    expect(sipRetryCovers(['connectFailure', 'timeout', 503], { reason: 'reset' })).toBe(false);
    expect(sipRetryCovers(['reset'], { reason: 'reset' })).toBe(true);
    expect(sipRetryCovers(['connectFailure'], { reason: 'timeout' })).toBe(false);
    expect(sipRetryCovers(['timeout'], { reason: 'timeout' })).toBe(true);
    expect(sipRetryCovers([503], { reason: 'status', status: 503 })).toBe(true);
    expect(sipRetryCovers([503], { reason: 'status', status: 500 })).toBe(false);
    expect(sipRetryCovers(['connectFailure'], { reason: 'status', status: 503 })).toBe(false);
  });

  it('makes at most `attempts` further tries, each to a target not tried yet', () => {
    const upstream = upstreamOf({ attempts: 2, on: [503], budgetPercent: 100 }, 4);
    const t = taker(4);
    const failover = new SipFailover({ upstream, budget: new SipRetryBudget(upstream), first: 0, take: t.take });
    const failed = { reason: 'status', status: 503 } as const;
    expect(failover.next(failed)?.target.port).toBe(5071);
    expect(failover.next(failed)?.target.port).toBe(5072);
    expect(failover.next(failed)).toBeUndefined();
    expect(t.excluded).toEqual([[0], [0, 1]]);
  });

  it('gives up on a failure retries.on does not list, and when every target was tried', () => {
    const upstream = upstreamOf({ attempts: 5, on: [503], budgetPercent: 100 }, 2);
    const t = taker(2);
    const failover = new SipFailover({ upstream, budget: new SipRetryBudget(upstream), first: 1, take: t.take });
    expect(failover.next({ reason: 'timeout' })).toBeUndefined();
    expect(failover.next({ reason: 'status', status: 503 })?.target.port).toBe(5070);
    expect(failover.next({ reason: 'status', status: 503 })).toBeUndefined();
    expect(t.excluded).toEqual([[1]]);
  });

  it('a spent retry budget stops the failover and gives the taken breaker place back', () => {
    // budgetPercent 0 and minRetryConcurrency 0: no retry is ever allowed.
    const upstream = upstreamOf({ attempts: 2, on: ['connectFailure'], budgetPercent: 0, minRetryConcurrency: 0 });
    const t = taker(3);
    let exhausted = 0;
    const budget = new SipRetryBudget(upstream);
    budget.request();
    const failover = new SipFailover({ upstream, budget, first: 0, take: t.take, onBudgetExhausted: () => exhausted++ });
    expect(failover.next({ reason: 'connectFailure' })).toBeUndefined();
    expect(t.released).toEqual([1]);
    expect(exhausted).toBe(1);
  });

  it('the budget counts failovers in flight until their outcome is reported', () => {
    // minRetryConcurrency 1: one failover in flight at a time while few requests are.
    const upstream = upstreamOf({ attempts: 1, on: [503], budgetPercent: 100, minRetryConcurrency: 1 });
    const budget = new SipRetryBudget(upstream);
    for (let i = 0; i < 5; i++) budget.request();
    const failed = { reason: 'status', status: 503 } as const;
    const first = new SipFailover({ upstream, budget, first: 0, take: taker(3).take }).next(failed);
    expect(first).toBeDefined();
    expect(new SipFailover({ upstream, budget, first: 0, take: taker(3).take }).next(failed)).toBeUndefined();
    first!.onOutcome!(true);
    expect(new SipFailover({ upstream, budget, first: 0, take: taker(3).take }).next(failed)).toBeDefined();
  });

  it('a try given back unmade (release) frees its retry budget slot and its breaker place, and reports no outcome', () => {
    const upstream = upstreamOf({ attempts: 1, on: [503], budgetPercent: 100, minRetryConcurrency: 1 });
    const budget = new SipRetryBudget(upstream);
    for (let i = 0; i < 5; i++) budget.request();
    const failed = { reason: 'status', status: 503 } as const;
    const t = taker(3);
    const outcomes: boolean[] = [];
    const take = (exclude: ReadonlySet<number>): TakenTarget | undefined => {
      const taken = t.take(exclude);
      return taken === undefined ? undefined : { ...taken, next: { ...taken.next, onOutcome: (ok) => outcomes.push(ok) } };
    };
    const first = new SipFailover({ upstream, budget, first: 0, take }).next(failed);
    expect(first?.release).toBeDefined();
    first!.release!();
    expect(t.released).toEqual([1]);
    expect(outcomes).toEqual([]);
    // One failover in flight at a time (minRetryConcurrency 1): the released one no longer counts.
    expect(new SipFailover({ upstream, budget, first: 0, take: taker(3).take }).next(failed)).toBeDefined();
  });

  it('a try given back unmade refunds its budget token: with no deposits (budgetPercent 0) the one starting token serves again', () => {
    const upstream = upstreamOf({ attempts: 1, on: [503], budgetPercent: 0, minRetryConcurrency: 1 });
    const budget = new SipRetryBudget(upstream);
    budget.request();
    const failed = { reason: 'status', status: 503 } as const;
    const first = new SipFailover({ upstream, budget, first: 0, take: taker(3).take }).next(failed);
    expect(first).toBeDefined();
    first!.release!();
    const second = new SipFailover({ upstream, budget, first: 0, take: taker(3).take }).next(failed);
    expect(second).toBeDefined();
    // That one made and ended (not given back): no failover in flight, and the balance is spent.
    second!.onOutcome!(false);
    expect(new SipFailover({ upstream, budget, first: 0, take: taker(3).take }).next(failed)).toBeUndefined();
  });
});
