/**
 * Resilience with real backends that refuse, reset, answer 503, hang or recover on command: circuit
 * breakers, retries and their budget, outlier ejection, active health checks, route supervision and
 * quarantine — each asserted at the client, at the backend, and through GET /status and /metrics.
 */
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../src/gateway/admin/sources.ts';
import { startControllableBackend, type ControllableBackend } from '../helpers/controllable-backend.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

async function status(gw: RunningGateway): Promise<StatusDocument> {
  const res = await request(`${gw.adminUrl!}/status`);
  return (await res.body.json()) as StatusDocument;
}

async function metrics(gw: RunningGateway): Promise<string> {
  return (await request(`${gw.adminUrl!}/metrics`)).body.text();
}

/** The value of one Prometheus series (`name{labels}`), or undefined. */
function series(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const admin = { address: '127.0.0.1:0' };

// One gateway and its backends per test, torn down after it.
let gw: RunningGateway | undefined;
let be: ControllableBackend | undefined;
let backends: ControllableBackend[] = [];
afterEach(async () => {
  await gw?.stop(200);
  await be?.close();
  await Promise.all(backends.map((b) => b.close()));
  gw = undefined;
  be = undefined;
  backends = [];
});

describe('circuit breaker (per route × target)', () => {

  it('opens at the minimum volume, answers 503 fast without touching the backend, half-opens after the open time, closes on success and re-opens longer on failure', async () => {
    be = await startControllableBackend();
    be.mode = '503';
    gw = await startGateway({
      log: { level: 'info', access: false },
      admin,
      upstreams: [
        {
          name: 'app',
          targets: [{ url: be.url }],
          retries: { attempts: 0 },
          circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 10, rollingWindowMs: 10_000, resetTimeoutMs: 300, maxResetTimeoutMs: 5000 },
        },
      ],
      routes: [{ name: 'app', match: {}, upstream: 'app' }],
    });
    const target = `127.0.0.1:${be.port}`;
    for (let i = 0; i < 10; i++) {
      const res = await request(gw.url);
      await res.body.dump();
      expect(res.statusCode).toBe(503); // the backend's own 503 while the breaker is closed
    }
    await until(async () => (await status(gw!)).routes[0]!.breakers[0]!.state === 'open');
    expect(be.counts.requests).toBe(10);

    // Open: refused at the gateway, fast, with Retry-After, and the backend sees nothing.
    const durations: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const res = await request(gw.url);
      const body = (await res.body.json()) as { code: string };
      durations.push(performance.now() - t0);
      expect(res.statusCode).toBe(503);
      expect(body.code).toBe('TANDEM_ERR_NO_HEALTHY_TARGET');
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    durations.sort((a, b) => a - b);
    console.info(`breaker open: 503 latency p50 ${durations[10]!.toFixed(2)} ms, max ${durations.at(-1)!.toFixed(2)} ms; backend requests ${be.counts.requests}`);
    expect(durations[10]!).toBeLessThan(5);
    expect(be.counts.requests).toBe(10);
    let text = await metrics(gw);
    expect(series(text, 'tandem_breaker_state', { route: 'app', target, state: 'open' })).toBe(1);
    expect(series(text, 'tandem_breaker_transitions_total', { route: 'app', target, from: 'closed', to: 'open' })).toBe(1);

    // After the open time: one trial reaches the backend; it fails → open again, for longer.
    await until(async () => (await status(gw!)).routes[0]!.breakers[0]!.state === 'halfOpen', 2000);
    await (await request(gw.url)).body.dump();
    expect(be.counts.requests).toBe(11);
    await until(async () => (await status(gw!)).routes[0]!.breakers[0]!.state === 'open');
    const reopened = (await status(gw)).routes[0]!.breakers[0]!;
    expect(reopened.reopens).toBe(1);
    expect(reopened.retryInMs).toBeGreaterThan(300); // 600 ms: the open time doubled

    // The backend recovers: the next trial succeeds and closes the breaker.
    be.mode = 'ok';
    await until(async () => (await status(gw!)).routes[0]!.breakers[0]!.state === 'halfOpen', 3000);
    const trial = await request(gw.url);
    await trial.body.dump();
    expect(trial.statusCode).toBe(200);
    await until(async () => (await status(gw!)).routes[0]!.breakers[0]!.state === 'closed');
    for (let i = 0; i < 5; i++) expect((await request(gw.url)).statusCode).toBe(200);
    text = await metrics(gw);
    expect(series(text, 'tandem_breaker_state', { route: 'app', target, state: 'closed' })).toBe(1);
    expect(series(text, 'tandem_breaker_transitions_total', { route: 'app', target, from: 'halfOpen', to: 'closed' })).toBe(1);
    expect(gw.logs.filter((l) => l['decision'] === 'breaker').map((l) => l['to'])).toEqual(['open', 'halfOpen', 'open', 'halfOpen', 'closed']);
  });
});

describe('retries, ejection and the retry budget', () => {

  it('two targets, one killed mid-load: failures only among the first few requests, then none; a POST that reached the backend is never retried', async () => {
    backends = [await startControllableBackend('a'), await startControllableBackend('b')];
    const [a, b] = backends as [ControllableBackend, ControllableBackend];
    const volumeThreshold = 10;
    gw = await startGateway({
      log: { level: 'warn' },
      admin,
      upstreams: [
        {
          name: 'app',
          targets: [{ url: a.url }, { url: b.url }],
          retries: { attempts: 2, on: ['connectFailure', 'reset', 502, 503], backoffMs: 5 },
          outlierDetection: { consecutiveGatewayFailures: 3, baseEjectionMs: 30_000 },
          circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold, rollingWindowMs: 10_000, resetTimeoutMs: 5000 },
        },
      ],
      routes: [{ name: 'app', match: {}, upstream: 'app' }],
    });
    const agent = new Agent({ connections: 8 });
    const outcomes: { at: number; ok: boolean }[] = [];
    const started = Date.now();
    const durationMs = 10_000;
    let killed = false;
    const worker = async (): Promise<void> => {
      while (Date.now() - started < durationMs) {
        if (!killed && Date.now() - started > 1000) {
          killed = true;
          await a.kill();
        }
        try {
          const res = await request(gw!.url, { dispatcher: agent });
          await res.body.dump();
          outcomes.push({ at: Date.now() - started, ok: res.statusCode === 200 });
        } catch {
          outcomes.push({ at: Date.now() - started, ok: false });
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const failures = outcomes.filter((o) => !o.ok);
    console.info(`kill mid-load: ${outcomes.length} requests in ${durationMs} ms, ${failures.length} failed (at ${failures.map((f) => f.at).join(', ') || '-'} ms)`);
    expect(outcomes.length).toBeGreaterThan(500);
    expect(failures.length).toBeLessThanOrEqual(volumeThreshold);
    // Whatever failed, failed right after the kill: none in the last 8 s.
    expect(failures.every((f) => f.at < 2000)).toBe(true);
    const st = await status(gw);
    const targetA = st.upstreams[0]!.targets.find((t) => t.authority === `127.0.0.1:${a.port}`)!;
    expect(targetA.ejected).toBe(true);
    const text = await metrics(gw);
    expect(series(text, 'tandem_outlier_ejections_total', { upstream: 'app', target: `127.0.0.1:${a.port}` })).toBe(1);
    expect(gw.logs.some((l) => l['decision'] === 'eject')).toBe(true);

    // A POST whose body reached the backend (which then resets the connection) is not retried.
    b.mode = 'reset';
    const posts = b.counts.methods['POST'] ?? 0;
    const res = await request(gw.url, { method: 'POST', body: 'order=1', dispatcher: agent });
    await res.body.dump();
    expect(res.statusCode).toBe(502);
    expect((b.counts.methods['POST'] ?? 0) - posts).toBe(1);
    await agent.close();
  }, 30_000);

  it('during a full outage, upstream attempts stay within (1 + budget) × client requests', async () => {
    backends = [await startControllableBackend('a'), await startControllableBackend('b')];
    for (const b of backends) b.mode = '503';
    const budgetPercent = 20;
    gw = await startGateway({
      log: { level: 'error' },
      admin,
      upstreams: [
        {
          name: 'app',
          targets: backends.map((b) => ({ url: b.url })),
          retries: { attempts: 3, on: [503], backoffMs: 1, budgetPercent, minRetryConcurrency: 0 },
        },
      ],
      routes: [{ name: 'app', match: {}, upstream: 'app' }],
    });
    const agent = new Agent({ connections: 16 });
    const clientRequests = 600;
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < clientRequests) {
          next++;
          const res = await request(gw!.url, { dispatcher: agent });
          await res.body.dump();
          expect(res.statusCode).toBe(503);
        }
      }),
    );
    const attempts = backends.reduce((n, b) => n + b.counts.requests, 0);
    console.info(`full outage: ${clientRequests} client requests, ${attempts} upstream attempts (${(attempts / clientRequests).toFixed(3)}×, budget ${budgetPercent} %)`);
    expect(attempts).toBeGreaterThan(clientRequests); // some retries were made…
    expect(attempts).toBeLessThanOrEqual((1 + budgetPercent / 100) * clientRequests); // …within the budget
    const text = await metrics(gw);
    expect(series(text, 'tandem_retry_budget_exhausted_total', { upstream: 'app' })).toBeGreaterThan(0);
    const retries = series(text, 'tandem_upstream_retries_total', { route: 'app', upstream: 'app' })!;
    expect(attempts).toBe(clientRequests + retries);
    const st = await status(gw);
    expect(st.upstreams[0]!.targets.reduce((n, t) => n + t.requests, 0)).toBe(attempts);
    expect(st.upstreams[0]!.targets.reduce((n, t) => n + t.failures, 0)).toBe(attempts);
    await agent.close();
  });
});

describe('active health checks', () => {

  it('a target failing its health check leaves the rotation within unhealthyThreshold × interval and comes back after healthyThreshold successes', async () => {
    backends = [await startControllableBackend('a'), await startControllableBackend('b')];
    const [a, b] = backends as [ControllableBackend, ControllableBackend];
    const intervalMs = 100;
    gw = await startGateway({
      log: { level: 'warn' },
      admin,
      upstreams: [{ name: 'app', targets: [{ url: a.url }, { url: b.url }], healthCheck: { path: '/healthz', intervalMs, timeoutMs: 200, unhealthyThreshold: 3, healthyThreshold: 2 } }],
      routes: [{ name: 'app', match: {}, upstream: 'app' }],
    });
    const targetA = `127.0.0.1:${a.port}`;
    const healthOf = async () => (await status(gw!)).upstreams[0]!.targets.find((t) => t.authority === targetA)!.health;
    await until(() => a.counts.health >= 2);
    a.healthy = false;
    const t0 = Date.now();
    await until(async () => (await healthOf()) === 'unhealthy', 3000);
    const leftAfter = Date.now() - t0;
    console.info(`health: out of the rotation ${leftAfter} ms after the health endpoint failed (3 × ${intervalMs} ms)`);
    expect(leftAfter).toBeLessThanOrEqual(3 * intervalMs + 400); // three failed probes, with scheduling slack
    expect(series(await metrics(gw), 'tandem_target_healthy', { upstream: 'app', target: targetA })).toBe(0);
    const before = a.counts.requests;
    for (let i = 0; i < 20; i++) {
      const res = await request(gw.url);
      expect(res.headers['x-backend']).toBe('b');
      await res.body.dump();
    }
    expect(a.counts.requests).toBe(before);

    a.healthy = true;
    const probesAtRecovery = a.counts.health;
    await until(async () => (await healthOf()) === 'healthy', 3000);
    expect(a.counts.health - probesAtRecovery).toBeGreaterThanOrEqual(2);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const res = await request(gw.url);
      seen.add(String(res.headers['x-backend']));
      await res.body.dump();
    }
    expect(seen).toEqual(new Set(['a', 'b']));
    expect(gw.logs.filter((l) => l['decision'] === 'health').map((l) => l['healthy'])).toEqual([false, true]);
  });
});

describe('route supervision', () => {

  it('a crashed route machine is restarted while other routes under load see no error; past its intensity the route is quarantined and GET /supervisor shows it', async () => {
    backends = [await startControllableBackend('a')];
    gw = await startGateway({
      log: { level: 'warn' },
      admin,
      upstreams: [{ name: 'app', targets: [{ url: backends[0]!.url }] }],
      routes: [
        { name: 'fragile', match: { pathPrefix: '/fragile' }, upstream: 'app' },
        { name: 'steady', match: { pathPrefix: '/steady' }, upstream: 'app' },
      ],
    });
    const agent = new Agent({ connections: 4 });
    let loadErrors = 0;
    let loadRequests = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        const res = await request(`${gw!.url}/steady`, { dispatcher: agent });
        await res.body.dump();
        loadRequests++;
        if (res.statusCode !== 200) loadErrors++;
      }
    })();

    gw.gateway.crashRoute('fragile');
    await until(async () => (await status(gw!)).routes.find((r) => r.name === 'fragile')!.restarts === 1);
    expect((await request(`${gw.url}/fragile`)).statusCode).toBe(200);

    // The route supervisor allows 3 restarts in 10 s: the 4th crash in a row escalates.
    for (let i = 0; i < 3; i++) {
      gw.gateway.crashRoute('fragile');
      await sleep(30);
    }
    await until(async () => (await status(gw!)).routes.find((r) => r.name === 'fragile')!.state === 'quarantined');
    const quarantined = await request(`${gw.url}/fragile`);
    expect(quarantined.statusCode).toBe(503);
    expect(((await quarantined.body.json()) as { code: string }).code).toBe('TANDEM_ERR_ROUTE_QUARANTINED');
    expect(quarantined.headers['retry-after']).toBeDefined();

    loading = false;
    await load;
    expect(loadRequests).toBeGreaterThan(20);
    expect(loadErrors).toBe(0);

    const tree = (await (await request(`${gw.adminUrl!}/supervisor`)).body.json()) as { children: { id: string; detail: { children?: { id: string; status: string }[] } }[] };
    const routes = tree.children.find((c) => c.id === 'routes')!;
    const fragile = routes.detail.children!.find((c) => c.id === 'route:fragile')!;
    const steady = routes.detail.children!.find((c) => c.id === 'route:steady')!;
    expect(fragile.status).toBe('stopped');
    expect(steady.status).toBe('running');
    const text = await metrics(gw);
    expect(series(text, 'tandem_route_quarantined', { route: 'fragile' })).toBe(1);
    expect(series(text, 'tandem_route_quarantined', { route: 'steady' })).toBe(0);
    expect(series(text, 'tandem_route_restarts_total', { route: 'fragile' })).toBeGreaterThanOrEqual(3);
    expect(gw.logs.some((l) => l['decision'] === 'quarantine' && l['route'] === 'fragile')).toBe(true);
    await agent.close();
  });
});

describe('per-try timeouts and Retry-After', () => {

  it('an attempt that exceeds perTryTimeoutMs is retried on another target within the overall requestMs', async () => {
    backends = [await startControllableBackend('slow'), await startControllableBackend('fast')];
    const [slow, fast] = backends as [ControllableBackend, ControllableBackend];
    slow.mode = 'hang';
    gw = await startGateway({
      log: { level: 'warn' },
      admin,
      upstreams: [{ name: 'app', targets: [{ url: slow.url }, { url: fast.url }], timeouts: { requestMs: 2000 }, retries: { attempts: 1, on: ['timeout'], perTryTimeoutMs: 200, backoffMs: 1, budgetPercent: 100 } }],
      routes: [{ name: 'app', match: {}, upstream: 'app' }],
    });
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      const res = await request(gw.url);
      await res.body.dump();
      const ms = performance.now() - t0;
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-backend']).toBe('fast');
      expect(ms).toBeLessThan(1500);
    }
    expect(slow.counts.requests).toBeGreaterThan(0);
    const st = await status(gw);
    expect(st.upstreams[0]!.targets.find((t) => t.authority === `127.0.0.1:${slow.port}`)!.failures).toBe(slow.counts.requests);
    expect(series(await metrics(gw), 'tandem_upstream_attempts_total', { upstream: 'app', target: `127.0.0.1:${slow.port}`, outcome: 'timeout' })).toBe(slow.counts.requests);
  });

  it('honours an upstream Retry-After up to maxRetryAfterMs, and passes a longer one to the client', async () => {
    const { createServer } = await import('node:http');
    let hits = 0;
    let retryAfter = '1';
    const first: number[] = [];
    const server = createServer((req, res) => {
      req.resume();
      hits++;
      if (hits % 2 === 1) {
        first.push(Date.now());
        res.writeHead(503, { 'retry-after': retryAfter }).end('busy');
      } else res.writeHead(200).end(`ok after ${Date.now() - first.at(-1)!} ms`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      gw = await startGateway({
        log: { level: 'warn' },
        upstreams: [{ name: 'app', targets: [{ url: `http://127.0.0.1:${port}` }], retries: { attempts: 1, on: [503], backoffMs: 1, maxRetryAfterMs: 2000, budgetPercent: 100 } }],
        routes: [{ name: 'app', match: {}, upstream: 'app' }],
      });
      const res = await request(gw.url);
      const text = await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(Number(text.split(' ')[2])).toBeGreaterThanOrEqual(990);
      retryAfter = '30';
      const passed = await request(gw.url);
      await passed.body.dump();
      expect(passed.statusCode).toBe(503);
      expect(passed.headers['retry-after']).toBe('30');
      expect(hits).toBe(3);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
