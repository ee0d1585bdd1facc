/**
 * Tandem under benchmark, in its own process: one HTTP listener on 127.0.0.1, one upstream (the
 * benchmark backend, with breaker, retries, health checks and outlier detection on), one catch-all route. The access log is ON (one JSON line per request through pino,
 * asynchronous writes) to `--access-log` (default /dev/null), as a production gateway would run.
 *
 * Usage: node bench/http-proxy/tandem-server.ts --upstream http://127.0.0.1:PORT [--port N] [--access-log PATH]
 * Prints `{"port":N,"pid":N}` once listening; drains and exits on SIGTERM/SIGINT.
 */
import { Gateway } from '../../src/gateway/gateway.ts';
import { createLogger, logDestination } from '../../src/gateway/logger.ts';
import { validateConfig } from '../../src/routes/config-validate.ts';
import { announce, argValue, onShutdown } from './child.ts';

const upstream = argValue('--upstream');
if (upstream === undefined) throw new Error('--upstream http://127.0.0.1:PORT is required');
const port = Number(argValue('--port') ?? 0);
const accessLog = argValue('--access-log') ?? '/dev/null';

const { config } = validateConfig({
  log: { level: 'info', access: true },
  listeners: [{ name: 'web', address: `127.0.0.1:${port}` }],
  // Resilience on, as in production: a breaker per route × target, retries with their budget, active
  // health checks and outlier detection.
  upstreams: [
    {
      name: 'app',
      targets: [{ url: upstream }],
      retries: { attempts: 2, on: ['connectFailure', 'reset', 502, 503], backoffMs: 25, budgetPercent: 20 },
      circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 20, rollingWindowMs: 10_000, resetTimeoutMs: 5000 },
      healthCheck: { path: '/healthz', intervalMs: 1000, timeoutMs: 500, unhealthyThreshold: 3, healthyThreshold: 2 },
      outlierDetection: { consecutive5xx: 5, consecutiveGatewayFailures: 3 },
    },
  ],
  routes: [{ name: 'app', match: { pathPrefix: '/' }, upstream: 'app' }],
});
const destination = logDestination(accessLog);
const gateway = await Gateway.start(config, createLogger('info', destination));
announce({ port: gateway.addresses()['web']!.port, accessLog });

onShutdown(async () => {
  await gateway.stop(1000);
  destination.flushSync();
});
