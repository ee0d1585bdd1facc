// @ts-check
/**
 * k6 load test for Tandem's HTTP proxy path: GET /whoami through a running gateway (`npm start` runs
 * Tandem on 127.0.0.1:8080 in front of the demo whoami upstream).
 *
 *   k6 run bench/k6/http.js
 *   k6 run -e TANDEM_URL=http://127.0.0.1:8080 -e SCENARIO=ramp bench/k6/http.js
 *   k6 run -e RATE=2000 -e DURATION=1m -e P99_MS=50 bench/k6/http.js
 *
 * Scenarios (-e SCENARIO=...):
 *   rate (default)  constant-arrival-rate: RATE requests/s (default 1000) for DURATION (default 30s). An open
 *                   model: latency is measured against a fixed schedule, so a slow gateway cannot hide
 *                   behind fewer requests (no coordinated omission). Watch `dropped_iterations`: if k6 runs
 *                   out of VUs the rate was not reached.
 *   ramp            ramping-vus: 0 -> VUS (default 64) over 10 s, hold for DURATION, down over 5 s. A closed
 *                   model, like autocannon/wrk: finds the throughput ceiling.
 *
 * Thresholds (the run fails when one is crossed): http_req_failed < 1%, p(99) of http_req_duration
 * < P99_MS (default 100 ms), and checks > 99%.
 *
 * Type-checked with @types/k6: npx tsc -p bench/k6/tsconfig.json
 */
import { check } from 'k6';
import http from 'k6/http';

const BASE = (__ENV.TANDEM_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const PATH = __ENV.TANDEM_PATH || '/whoami';
const DURATION = __ENV.DURATION || '30s';
const RATE = Number(__ENV.RATE || 1000);
const VUS = Number(__ENV.VUS || 64);
const P99_MS = Number(__ENV.P99_MS || 100);
const SCENARIO = __ENV.SCENARIO || 'rate';

/** @type {Record<string, import('k6/options').Scenario>} */
const SCENARIOS = {
  rate: {
    executor: 'constant-arrival-rate',
    rate: RATE,
    timeUnit: '1s',
    duration: DURATION,
    preAllocatedVUs: Math.max(10, Math.ceil(RATE / 20)),
    maxVUs: Math.max(50, Math.ceil(RATE / 2)),
  },
  ramp: {
    executor: 'ramping-vus',
    startVUs: 0,
    stages: [
      { duration: '10s', target: VUS },
      { duration: DURATION, target: VUS },
      { duration: '5s', target: 0 },
    ],
    gracefulRampDown: '5s',
  },
};

const scenario = SCENARIOS[SCENARIO];
if (scenario === undefined) throw new Error(`unknown SCENARIO "${SCENARIO}" (rate or ramp)`);

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: { [SCENARIO]: scenario },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    http_req_duration: [`p(99)<${P99_MS}`, 'p(50)<50'],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max'],
  // Connections are kept alive between iterations (k6's default); say so explicitly.
  noConnectionReuse: false,
};

const params = { headers: { accept: 'application/json' }, tags: { name: `GET ${PATH}` } };

export default function () {
  const res = http.get(`${BASE}${PATH}`, params);
  check(res, {
    'status is 200': (r) => r.status === 200,
    'has x-request-id': (r) => typeof r.headers['X-Request-Id'] === 'string' && r.headers['X-Request-Id'] !== '',
    'body is not empty': (r) => typeof r.body === 'string' && r.body.length > 0,
  });
}
