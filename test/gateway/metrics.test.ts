import { Counter, Gauge, Histogram, register as globalRegistry, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DURATION_BUCKETS, Metrics } from '../../src/gateway/metrics.ts';

/** Sample lines (`name{labels} value`) of one metric family, sorted. */
function samples(text: string, family: string): string[] {
  return text
    .split('\n')
    .filter((line) => !line.startsWith('#') && (line.startsWith(`${family}{`) || line.startsWith(`${family}_`) || line.startsWith(`${family} `)))
    .sort();
}

/** The value of the sample `name{labels}` (labels in rendering order), or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function body(metrics: Metrics): Promise<string> {
  return (await metrics.render()).body;
}

describe('Metrics', () => {
  it('renders the Prometheus text format with its content type', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const out = await metrics.render();
    expect(out.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(out.body).toContain('# TYPE tandem_http_requests_total counter');
    expect(out.body).toContain('# TYPE tandem_http_request_duration_seconds histogram');
    expect(out.body).toContain('# TYPE tandem_breaker_state gauge');
  });

  it('includes the default process metrics with the tandem_ prefix, in its own registry only', async () => {
    const metrics = new Metrics();
    const text = await body(metrics);
    expect(text).toMatch(/^tandem_process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^tandem_nodejs_eventloop_lag_seconds /m);
    expect(await globalRegistry.metrics()).not.toContain('tandem_');
  });

  it('counts requests and durations exactly as prom-client’s own Counter and Histogram would', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const reference = new Registry();
    const counter = new Counter({ name: 'tandem_http_requests_total', help: 'x', labelNames: ['listener', 'route', 'upstream', 'status'], registers: [reference] });
    const histogram = new Histogram({ name: 'tandem_http_request_duration_seconds', help: 'x', labelNames: ['route'], buckets: [...DURATION_BUCKETS], registers: [reference] });
    const routes = ['a', 'b', 'c'];
    const statuses = [200, 404, 502, 200];
    for (let i = 0; i < 1000; i++) {
      const route = routes[i % 3]!;
      const status = statuses[i % 4]!;
      // Includes values on bucket bounds (0.005, 1), above the last bound (12) and zero.
      const duration = [0, 0.0007, 0.005, 0.03, 1, 12, 0.2][i % 7]!;
      metrics.request(i % 2 === 0 ? 'web' : 'api', route, `${route}-up`, status, duration);
      counter.inc({ listener: i % 2 === 0 ? 'web' : 'api', route, upstream: `${route}-up`, status: String(status) });
      histogram.observe({ route }, duration);
    }
    const ours = await body(metrics);
    const theirs = await reference.metrics();
    expect(samples(ours, 'tandem_http_requests_total')).toEqual(samples(theirs, 'tandem_http_requests_total'));
    expect(samples(ours, 'tandem_http_request_duration_seconds')).toEqual(samples(theirs, 'tandem_http_request_duration_seconds'));
    expect(samples(ours, 'tandem_http_requests_total')).toHaveLength(3 * 4 * 2 - 12); // (listener, status) pairs seen per route
    expect(value(ours, 'tandem_http_request_duration_seconds_count{route="a"}')).toBe(334);
  });

  it('counts upstream attempts by outcome exactly as a prom-client Counter would', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const reference = new Registry();
    const counter = new Counter({ name: 'tandem_upstream_attempts_total', help: 'x', labelNames: ['upstream', 'target', 'outcome'], registers: [reference] });
    const outcomes = ['ok', 'http5xx', 'connectFailure', 'reset', 'timeout'] as const;
    for (let i = 0; i < 500; i++) {
      const target = `127.0.0.1:${9000 + (i % 3)}`;
      metrics.attempt('whoami', target, outcomes[i % 5]!);
      counter.inc({ upstream: 'whoami', target, outcome: outcomes[i % 5]! });
    }
    expect(samples(await body(metrics), 'tandem_upstream_attempts_total')).toEqual(samples(await reference.metrics(), 'tandem_upstream_attempts_total'));
  });

  it('sets the breaker state gauge to 1 for the current state and 0 for the other two, and counts transitions', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.breakerState('whoami', '127.0.0.1:9001', 'closed');
    metrics.breakerTransition('whoami', '127.0.0.1:9001', 'closed', 'open');
    const text = await body(metrics);
    expect(value(text, 'tandem_breaker_state{route="whoami",target="127.0.0.1:9001",state="open"}')).toBe(1);
    expect(value(text, 'tandem_breaker_state{route="whoami",target="127.0.0.1:9001",state="closed"}')).toBe(0);
    expect(value(text, 'tandem_breaker_state{route="whoami",target="127.0.0.1:9001",state="halfOpen"}')).toBe(0);
    expect(value(text, 'tandem_breaker_transitions_total{route="whoami",target="127.0.0.1:9001",from="closed",to="open"}')).toBe(1);
  });

  it('renders gauges and counters like prom-client’s own Gauge and Counter', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const reference = new Registry();
    const sessions = new Gauge({ name: 'tandem_websocket_sessions', help: 'x', labelNames: ['route'], registers: [reference] });
    const checks = new Counter({ name: 'tandem_health_checks_total', help: 'x', labelNames: ['upstream', 'target', 'result'], registers: [reference] });
    for (const delta of [1, 1, 1, -1]) {
      metrics.websocketSessions('echo', delta);
      sessions.inc({ route: 'echo' }, delta);
    }
    for (const result of ['success', 'failure', 'success'] as const) {
      metrics.healthCheck('whoami', '127.0.0.1:9001', result);
      checks.inc({ upstream: 'whoami', target: '127.0.0.1:9001', result });
    }
    const ours = await body(metrics);
    const theirs = await reference.metrics();
    expect(samples(ours, 'tandem_websocket_sessions')).toEqual(samples(theirs, 'tandem_websocket_sessions'));
    expect(samples(ours, 'tandem_health_checks_total')).toEqual(samples(theirs, 'tandem_health_checks_total'));
  });

  it('records retries, budget exhaustion, ejections, health, quarantine and restarts', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.retry('whoami', 'whoami');
    metrics.retry('whoami', 'whoami');
    metrics.retryBudgetExhausted('whoami');
    metrics.ejection('whoami', '127.0.0.1:9001');
    metrics.ejected('whoami', '127.0.0.1:9001', true);
    metrics.healthy('whoami', '127.0.0.1:9001', false);
    metrics.healthy('whoami', '127.0.0.1:9002', true);
    metrics.quarantined('whoami', true);
    metrics.quarantined('whoami', false);
    metrics.routeRestart('whoami');
    const text = await body(metrics);
    expect(value(text, 'tandem_upstream_retries_total{route="whoami",upstream="whoami"}')).toBe(2);
    expect(value(text, 'tandem_retry_budget_exhausted_total{upstream="whoami"}')).toBe(1);
    expect(value(text, 'tandem_outlier_ejections_total{upstream="whoami",target="127.0.0.1:9001"}')).toBe(1);
    expect(value(text, 'tandem_target_ejected{upstream="whoami",target="127.0.0.1:9001"}')).toBe(1);
    expect(value(text, 'tandem_target_healthy{upstream="whoami",target="127.0.0.1:9001"}')).toBe(0);
    expect(value(text, 'tandem_target_healthy{upstream="whoami",target="127.0.0.1:9002"}')).toBe(1);
    expect(value(text, 'tandem_route_quarantined{route="whoami"}')).toBe(0);
    expect(value(text, 'tandem_route_restarts_total{route="whoami"}')).toBe(1);
  });

  it('forget({ route }) removes every series of that route and nothing else', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    for (const route of ['gone', 'kept']) {
      metrics.request('web', route, 'up', 200, 0.01);
      metrics.retry(route, 'up');
      metrics.breakerState(route, '127.0.0.1:9001', 'closed');
      metrics.websocketSessions(route, 1);
    }
    metrics.attempt('up', '127.0.0.1:9001', 'ok');
    // requests 1 + duration 1 + retries 1 + breaker states 3 + sessions 1
    expect(metrics.forget({ route: 'gone' })).toBe(7);
    const text = await body(metrics);
    expect(text).not.toContain('route="gone"');
    expect(value(text, 'tandem_http_requests_total{listener="web",route="kept",upstream="up",status="200"}')).toBe(1);
    expect(value(text, 'tandem_upstream_attempts_total{upstream="up",target="127.0.0.1:9001",outcome="ok"}')).toBe(1);

    // The hot path starts the forgotten route's series again from zero.
    metrics.request('web', 'gone', 'up', 200, 0.01);
    expect(value(await body(metrics), 'tandem_http_requests_total{listener="web",route="gone",upstream="up",status="200"}')).toBe(1);
  });

  it('forget({ upstream, target }) removes that target’s series and keeps the other targets', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    for (const target of ['127.0.0.1:9001', '127.0.0.1:9002']) {
      metrics.attempt('up', target, 'ok');
      metrics.healthy('up', target, true);
      metrics.ejected('up', target, false);
    }
    metrics.retry('r', 'up');
    expect(metrics.forget({ upstream: 'up', target: '127.0.0.1:9001' })).toBe(3);
    const text = await body(metrics);
    expect(text).not.toContain('target="127.0.0.1:9001"');
    expect(value(text, 'tandem_upstream_attempts_total{upstream="up",target="127.0.0.1:9002",outcome="ok"}')).toBe(1);
    expect(value(text, 'tandem_upstream_retries_total{route="r",upstream="up"}')).toBe(1);
    metrics.attempt('up', '127.0.0.1:9001', 'timeout');
    expect(value(await body(metrics), 'tandem_upstream_attempts_total{upstream="up",target="127.0.0.1:9001",outcome="timeout"}')).toBe(1);
  });

  it('forget({}) removes nothing', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.request('web', 'a', 'up', 200, 0.01);
    expect(metrics.forget({})).toBe(0);
    expect(value(await body(metrics), 'tandem_http_requests_total{listener="web",route="a",upstream="up",status="200"}')).toBe(1);
  });

  it('ignores a duration that is not a finite non-negative number but still counts the request', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.request('web', 'a', 'up', 200, Number.NaN);
    metrics.request('web', 'a', 'up', 200, -1);
    const text = await body(metrics);
    expect(value(text, 'tandem_http_requests_total{listener="web",route="a",upstream="up",status="200"}')).toBe(2);
    expect(value(text, 'tandem_http_request_duration_seconds_count{route="a"}')).toBeUndefined();
  });
});
