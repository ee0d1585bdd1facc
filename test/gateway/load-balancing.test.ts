import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsistentHash, LeastRequest, WeightedRoundRobin } from '../../src/routes/load-balancer.ts';
import { startBackend, type Backend } from '../helpers/backend.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';

const agent = new Agent({ connections: 16 });

async function countBackends(url: string, n: number, headers: (i: number) => Record<string, string> = () => ({}), concurrency = 16): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const res = await request(url, { dispatcher: agent, headers: headers(i) });
      const name = String(res.headers['x-backend']);
      await res.body.dump();
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return counts;
}

let gw: RunningGateway | undefined;
let backends: Backend[] = [];
afterEach(async () => {
  await gw?.stop();
  await Promise.all(backends.map((b) => b.close()));
  gw = undefined;
  backends = [];
});

describe('load balancing through the proxy (real backends)', () => {

  it('roundRobin follows the weights within 5 % over 10,000 requests', async () => {
    backends = await Promise.all(['a', 'b', 'c'].map((n) => startBackend(undefined, n)));
    const weights = [1, 2, 5];
    gw = await startGateway({
      log: { level: 'warn' },
      upstreams: [{ name: 'app', loadBalancer: 'roundRobin', targets: backends.map((b, i) => ({ url: b.url, weight: weights[i] })) }],
      routes: [{ name: 'app', match: {}, upstream: 'app' }],
    });
    const counts = await countBackends(gw.url, 10_000);
    const total = 10_000;
    ['a', 'b', 'c'].forEach((name, i) => {
      const expected = (total * weights[i]!) / 8;
      expect(Math.abs((counts.get(name) ?? 0) - expected) / expected).toBeLessThan(0.05);
    });
  });

  it('consistentHash sends one key to one target, every time', async () => {
    backends = await Promise.all(['a', 'b', 'c', 'd'].map((n) => startBackend(undefined, n)));
    gw = await startGateway({
      log: { level: 'warn' },
      upstreams: [{ name: 'app', loadBalancer: 'consistentHash', hashOn: { header: 'x-user' }, targets: backends.map((b) => ({ url: b.url })) }],
      routes: [{ name: 'app', match: {}, upstream: 'app' }],
    });
    const seen = new Map<string, Set<string>>();
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < 40; k++) {
        const res = await request(gw.url, { dispatcher: agent, headers: { 'x-user': `user-${k}` } });
        await res.body.dump();
        const set = seen.get(`user-${k}`) ?? new Set();
        set.add(String(res.headers['x-backend']));
        seen.set(`user-${k}`, set);
      }
    }
    for (const targets of seen.values()) expect(targets.size).toBe(1);
    const used = new Set([...seen.values()].flatMap((s) => [...s]));
    expect(used.size).toBeGreaterThan(1);
  });

  it('consistentHash remaps at most 1/N of keys, all to the new target, when a target is added', async () => {
    backends = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => startBackend(undefined, n)));
    const assign = async (targets: Backend[]): Promise<Map<string, string>> => {
      const g = await startGateway({
        log: { level: 'warn' },
        upstreams: [{ name: 'app', loadBalancer: 'consistentHash', hashOn: { header: 'x-user' }, targets: targets.map((b) => ({ url: b.url })) }],
        routes: [{ name: 'app', match: {}, upstream: 'app' }],
      });
      const out = new Map<string, string>();
      try {
        for (let k = 0; k < 400; k++) {
          const res = await request(g.url, { dispatcher: agent, headers: { 'x-user': `user-${k}` } });
          await res.body.dump();
          out.set(`user-${k}`, String(res.headers['x-backend']));
        }
      } finally {
        await g.stop();
      }
      return out;
    };
    const before = await assign(backends.slice(0, 4));
    const after = await assign(backends);
    const moved = [...before].filter(([key, name]) => after.get(key) !== name);
    expect(moved.length / before.size).toBeLessThanOrEqual(1 / 4);
    expect(moved.length).toBeGreaterThan(0);
    for (const [key] of moved) expect(after.get(key)).toBe('e');
  });

  it('consistentHash on a cookie and on the client IP', async () => {
    backends = await Promise.all(['a', 'b'].map((n) => startBackend(undefined, n)));
    gw = await startGateway({
      log: { level: 'warn' },
      upstreams: [{ name: 'app', loadBalancer: 'consistentHash', hashOn: { cookie: 'sid' }, targets: backends.map((b) => ({ url: b.url })) }],
      routes: [{ name: 'app', match: {}, upstream: 'app' }],
    });
    const byCookie = await countBackends(gw.url, 50, () => ({ cookie: 'theme=dark; sid=abc123' }));
    expect(byCookie.size).toBe(1);
    const byIp = await countBackends(gw.url, 50);
    expect(byIp.size).toBe(1);
  });

  it('leastRequest sends new requests away from a target busy with slow requests', async () => {
    const slow = await startBackend((req, res) => {
      req.resume();
      setTimeout(() => res.writeHead(200, { 'x-backend': 'slow' }).end('slow'), 300);
    }, 'slow');
    const fast = await startBackend(undefined, 'fast');
    backends = [slow, fast];
    gw = await startGateway({
      log: { level: 'warn' },
      upstreams: [{ name: 'app', loadBalancer: 'leastRequest', targets: [{ url: slow.url }, { url: fast.url }] }],
      routes: [{ name: 'app', match: {}, upstream: 'app' }],
    });
    const counts = await countBackends(gw.url, 400, () => ({}), 8);
    expect(counts.get('fast') ?? 0).toBeGreaterThan((counts.get('slow') ?? 0) * 3);
  });
});

describe('load-balancing policies', () => {
  it('smooth weighted round robin interleaves: weights 5,1,1 give a a b a c a a, not a burst', () => {
    const rr = new WeightedRoundRobin([{ id: 'a', weight: 5 }, { id: 'b', weight: 1 }, { id: 'c', weight: 1 }]);
    const seq = Array.from({ length: 7 }, () => 'abc'[rr.pick()]).join('');
    expect(seq).toBe('aabacaa');
  });

  it('consistentHash remaps at most 1/N of keys when a target is added', () => {
    const targets = Array.from({ length: 5 }, (_, i) => ({ id: `10.0.0.${i}:80`, weight: 1 }));
    const before = new ConsistentHash(targets);
    const after = new ConsistentHash([...targets, { id: '10.0.0.99:80', weight: 1 }]);
    const keys = Array.from({ length: 20_000 }, (_, i) => `key-${i}`);
    let moved = 0;
    for (const key of keys) {
      const a = before.pick({ key });
      const b = after.pick({ key });
      if (a !== b) {
        moved++;
        expect(b).toBe(5); // a key only ever moves to the new target
      }
    }
    expect(moved / keys.length).toBeLessThanOrEqual(1 / 5);
    expect(moved / keys.length).toBeGreaterThan(0.08);
  });

  it('every policy skips excluded targets and returns -1 when none is left', () => {
    const targets = [{ id: 'a', weight: 1 }, { id: 'b', weight: 1 }];
    for (const lb of [new WeightedRoundRobin(targets), new LeastRequest(targets), new ConsistentHash(targets)]) {
      expect(lb.pick({ key: 'k', exclude: new Set([0]) })).toBe(1);
      expect(lb.pick({ key: 'k', exclude: new Set([0, 1]) })).toBe(-1);
    }
  });
});
