/**
 * Live-reload benchmark: how fast a config change is live, what one changed route costs among 10,000,
 * what a full reload of 10,000 routes costs, and how long a 10,000-route gateway takes to start.
 *
 *   npm run bench:reload                       # = node --expose-gc bench/reload/run.ts
 *   BENCH_ROUTES=2000 BENCH_CHANGES=50 npm run bench:reload   # quick check
 *   BENCH_PROFILE=0 npm run bench:reload       # no CPU profiles (they are taken after the timed runs)
 *
 * Options (env): BENCH_CHANGES (admin changes in part 1, 200), BENCH_ROUTES (routes in parts 2-4, 10000),
 * BENCH_RUNS (timed one-route changes in part 2, 20), BENCH_PROFILE (1: CPU-profile one-route changes and
 * a full reload after the timed runs and print where the time goes), BENCH_OUT
 * (bench/results/reload.json), BENCH_DEADLINE_S (hard bound on the whole run, 170).
 *
 * Everything runs in this one process on 127.0.0.1: two node:http backends, the gateways (through their
 * public API: Gateway.start, ConfigManager), probes and admin requests through undici.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client } from 'undici';
import type { ConfigDocument } from '../../src/gateway/admin/config-source.ts';
import { etagOf } from '../../src/gateway/config-manager.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import type { Config, Route } from '../../src/routes/config.ts';
import { diffConfig } from '../../src/routes/config-diff.ts';
import { substituteEnv } from '../../src/routes/config-load.ts';
import { validateConfig, withRoute } from '../../src/routes/config-validate.ts';
import { RouteTable } from '../../src/routes/route-table.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');

function envNumber(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer in [${min}, ${max}], got "${raw}"`);
  return n;
}

const CHANGES = envNumber('BENCH_CHANGES', 200, 2, 10_000);
const ROUTES = envNumber('BENCH_ROUTES', 10_000, 10, 100_000);
const RUNS = envNumber('BENCH_RUNS', 20, 3, 1000);
const PROFILE = (process.env['BENCH_PROFILE'] ?? '1') !== '0';
const DEADLINE_S = envNumber('BENCH_DEADLINE_S', 170, 10, 3600);
const OUT = resolve(REPO, process.env['BENCH_OUT'] ?? 'bench/results/reload.json');
const TARGET_ONE_CHANGE_MS = 50;
const UPSTREAMS = 5;
/** Part 2's timed changes stop early (after at least 3) once this is spent, so a slow build stays bounded. */
const PART2_BUDGET_S = 40;

const started = performance.now();
const elapsedS = (): number => (performance.now() - started) / 1000;
const remainingS = (): number => DEADLINE_S - elapsedS();
const actor = { source: 'admin' } as const;
const gc = (globalThis as { gc?: () => void }).gc;

// ---------------------------------------------------------------------------------------------------
// Results, statistics, printing

interface Stats {
  n: number;
  p50: number;
  p99: number;
  max: number;
  min: number;
  mean: number;
}

function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s.at(-1) ?? NaN, min: s[0] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length) };
}

const ms = (v: number): string => (Number.isNaN(v) ? '-' : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0));
const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

interface Row {
  section: string;
  figure: string;
  value: string;
  target?: string;
  verdict?: 'MET' | 'MISSED';
  note?: string;
}

const rows: Row[] = [];
const results: Record<string, unknown> = {
  startedAt: new Date().toISOString(),
  node: process.version,
  options: { changes: CHANGES, routes: ROUTES, runs: RUNS, profile: PROFILE, deadlineS: DEADLINE_S },
};
const notes: string[] = [];

function row(r: Row): void {
  rows.push(r);
}

function printTable(): void {
  const head = ['section', 'figure', 'value', 'target', 'verdict'];
  const cells = rows.map((r) => [r.section, r.figure, r.value, r.target ?? '', r.verdict ?? '']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)];
  process.stdout.write(`\n${out.join('\n')}\n`);
}

function writeResults(): void {
  results['rows'] = rows;
  results['notes'] = notes;
  results['totalS'] = Math.round(elapsedS() * 10) / 10;
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

// The whole run is bounded: past the deadline, print what was measured and exit.
const watchdog = setTimeout(() => {
  say(`\n!! deadline of ${DEADLINE_S} s reached: printing partial results and exiting`);
  notes.push(`aborted at the ${DEADLINE_S} s deadline; figures after the last printed row are missing`);
  printTable();
  writeResults();
  process.exit(2);
}, DEADLINE_S * 1000);

// ---------------------------------------------------------------------------------------------------
// Backends, logger, probes

interface Backend {
  server: Server;
  url: string;
}

async function startBackend(name: string): Promise<Backend> {
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': name.length, 'x-backend': name });
    res.end(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function closeBackend(b: Backend): Promise<void> {
  b.server.closeAllConnections();
  await new Promise<void>((r) => b.server.close(() => r()));
}

/** Gateway log lines at warn and above are counted, not printed. */
let logLines = 0;
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const c of chunk) if (c === 10) logLines++;
    cb();
  },
});
const log = createLogger('warn', sink);

/** One GET through a client; answers the status (and the x-backend header). */
async function get(client: Client, path: string): Promise<{ status: number; backend: string | undefined }> {
  const res = await client.request({ method: 'GET', path });
  await res.body.dump();
  const b = res.headers['x-backend'];
  return { status: res.statusCode, backend: typeof b === 'string' ? b : undefined };
}

/** Probes `path` in a tight loop until it answers `want`; answers the time (ms since `from`) and the probes sent. */
async function probeUntil(client: Client, path: string, want: number, from: number, giveUpMs = 5000): Promise<{ ms: number; probes: number }> {
  let probes = 0;
  for (;;) {
    probes++;
    const { status } = await get(client, path);
    const now = performance.now();
    if (status === want) return { ms: now - from, probes };
    if (now - from > giveUpMs) throw new Error(`${path} still answers ${status} ${giveUpMs} ms after the change (wanted ${want})`);
  }
}

/**
 * Longest event-loop stall while it runs: the largest gap between two ticks of a 1 ms timer chain (so at
 * least ~1 ms). Requests arriving meanwhile wait at least that long.
 */
function stallMeter(): { stop(): Promise<number> } {
  let last = performance.now();
  let max = 0;
  let on = true;
  const tick = (): void => {
    const now = performance.now();
    max = Math.max(max, now - last);
    last = now;
    if (on) timer = setTimeout(tick, 1);
  };
  let timer = setTimeout(tick, 1);
  return {
    async stop(): Promise<number> {
      await new Promise((r) => setTimeout(r, 2));
      on = false;
      clearTimeout(timer);
      return max;
    },
  };
}

function rss(): number {
  return process.memoryUsage().rss;
}

function settleGc(): void {
  if (gc !== undefined) {
    gc();
    gc();
  }
}

// ---------------------------------------------------------------------------------------------------
// CPU profiles (node:inspector, in process): inclusive and self time per function

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface FnTime {
  fn: string;
  where: string;
  inclusiveMs: number;
  selfMs: number;
}

const session = new Session();
let sessionOpen = false;

async function profiled<T>(work: () => Promise<T>): Promise<{ result: T; functions: FnTime[]; totalMs: number }> {
  if (!sessionOpen) {
    session.connect();
    sessionOpen = true;
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
  }
  await session.post('Profiler.start');
  const result = await work();
  const { profile } = await session.post('Profiler.stop');
  const nodes = profile.nodes as ProfileNode[];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode): string => {
    const { functionName, url, lineNumber } = n.callFrame;
    return `${functionName === '' ? '(anonymous)' : functionName}\u0000${shortUrl(url)}${url === '' ? '' : `:${lineNumber + 1}`}`;
  };
  const incl = new Map<string, number>();
  const self = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const dt = Math.max(0, deltas[i + 1] ?? 0);
    total += dt;
    let node = byId.get(samples[i]!);
    if (node === undefined) continue;
    const selfKey = keyOf(node);
    self.set(selfKey, (self.get(selfKey) ?? 0) + dt);
    const seen = new Set<string>();
    while (node !== undefined) {
      const k = keyOf(node);
      if (!seen.has(k)) {
        seen.add(k);
        incl.set(k, (incl.get(k) ?? 0) + dt);
      }
      const p = parent.get(node.id);
      node = p === undefined ? undefined : byId.get(p);
    }
  }
  const functions = [...incl.entries()].map(([k, us]) => {
    const [fn, where] = k.split('\u0000') as [string, string];
    return { fn, where, inclusiveMs: us / 1000, selfMs: (self.get(k) ?? 0) / 1000 };
  });
  return { result, functions, totalMs: total / 1000 };
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length);
  for (const dir of ['/src/', '/bench/']) {
    const at = url.indexOf(dir);
    if (at !== -1) return url.slice(at + 1);
  }
  return url.replace(/^file:\/\//, '');
}

/** Prints the profile: the Tandem functions by inclusive time, and the top functions by self time. */
function reportProfile(title: string, p: { functions: FnTime[]; totalMs: number }, per: number): Record<string, unknown> {
  const pseudo = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);
  const tandem = p.functions
    .filter((f) => f.where.startsWith('src/') && f.fn !== '(anonymous)')
    .sort((a, b) => b.inclusiveMs - a.inclusiveMs)
    .slice(0, 18);
  const selfTop = p.functions
    .filter((f) => !pseudo.has(f.fn) || f.fn === '(garbage collector)')
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, 12);
  const gcMs = p.functions.find((f) => f.fn === '(garbage collector)')?.selfMs ?? 0;
  const unit = per === 1 ? 'ms' : `ms per change (${per} profiled)`;
  say(`\n-- profile: ${title} (${ms(p.totalMs)} ms sampled; figures in ${unit}) --`);
  say('  Tandem functions by inclusive time (the function and everything it calls):');
  for (const f of tandem) say(`    ${ms(f.inclusiveMs / per).padStart(8)}  ${f.fn.padEnd(34)} ${f.where}`);
  say('  top functions by self time:');
  for (const f of selfTop) say(`    ${ms(f.selfMs / per).padStart(8)}  ${f.fn.padEnd(34)} ${f.where}`);
  say(`  garbage collector: ${ms(gcMs / per)}`);
  const round = (v: number): number => Math.round((v / per) * 100) / 100;
  return {
    sampledMs: p.totalMs,
    per,
    tandemInclusiveMs: tandem.map((f) => ({ fn: f.fn, where: f.where, ms: round(f.inclusiveMs) })),
    selfMs: selfTop.map((f) => ({ fn: f.fn, where: f.where, ms: round(f.selfMs) })),
  };
}

// ---------------------------------------------------------------------------------------------------
// Part 1: admin answer → change live on the data plane

async function partOne(a: Backend): Promise<void> {
  say(`\n== 1. admin answer → change live (${CHANGES} changes: add route /bN, remove it, alternating) ==`);
  const doc: ConfigDocument = {
    log: { level: 'warn', access: false },
    listeners: [{ name: 'web', protocol: 'http', address: '127.0.0.1:0' }],
    admin: { address: '127.0.0.1:0' },
    upstreams: [{ name: 'a', targets: [{ url: a.url }] }],
    routes: [{ name: 'a', match: { pathPrefix: '/a' }, upstream: 'a' }],
  };
  const { config } = validateConfig(doc);
  const gateway = await Gateway.start(config, log, { document: doc });
  const addr = gateway.addresses();
  const web = new Client(`http://127.0.0.1:${addr['web']!.port}`, { pipelining: 1 });
  const admin = addr['admin'] === undefined ? undefined : new Client(`http://127.0.0.1:${addr['admin'].port}`, { pipelining: 1 });
  try {
    // The admin HTTP API's route resource, when this build has it (GET /routes answers 200).
    let viaHttp = false;
    if (admin !== undefined) {
      const res = await admin.request({ method: 'GET', path: '/routes' });
      await res.body.dump();
      viaHttp = res.statusCode === 200;
    }
    const via = viaHttp ? 'admin HTTP API (PUT/DELETE /routes/{name}, undici, keep-alive)' : 'ConfigManager.putRoute/deleteRoute in process (no admin HTTP route resource in this build)';
    say(`   writes through: ${via}`);
    results['part1Via'] = viaHttp ? 'http' : 'configManager';

    // Baseline: the probe's own latency on an unchanged route, and warm-up of both paths.
    for (let i = 0; i < 50; i++) await get(web, '/a/x');
    const baseline: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const t = performance.now();
      await get(web, '/a/x');
      baseline.push(performance.now() - t);
    }

    const write = async (i: number): Promise<void> => {
      const name = `b${i >> 1}`;
      const add = i % 2 === 0;
      if (viaHttp) {
        const res = add
          ? await admin!.request({ method: 'PUT', path: `/routes/${name}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, match: { pathPrefix: `/${name}` }, upstream: 'a' }) })
          : await admin!.request({ method: 'DELETE', path: `/routes/${name}` });
        const text = await res.body.text();
        const want = add ? 201 : 200;
        if (res.statusCode !== want) throw new Error(`${add ? 'PUT' : 'DELETE'} /routes/${name} answered ${res.statusCode} (wanted ${want}): ${text.slice(0, 300)}`);
      } else if (add) {
        await gateway.configManager!.putRoute(name, { match: { pathPrefix: `/${name}` }, upstream: 'a' }, { actor });
      } else {
        await gateway.configManager!.deleteRoute(name, { actor });
      }
    };

    // Warm-up: 10 changes, not measured.
    for (let i = 0; i < 10; i++) {
      await write(i + 100_000);
      await probeUntil(web, `/b${(i + 100_000) >> 1}/x`, i % 2 === 0 ? 200 : 404, performance.now());
    }

    const live: number[] = [];
    const writes: number[] = [];
    let maxProbes = 0;
    let notLiveAtAnswer = 0;
    for (let i = 0; i < CHANGES; i++) {
      const t0 = performance.now();
      await write(i);
      const answered = performance.now();
      writes.push(answered - t0);
      const { ms: toLive, probes } = await probeUntil(web, `/b${i >> 1}/x`, i % 2 === 0 ? 200 : 404, answered);
      live.push(toLive);
      maxProbes = Math.max(maxProbes, probes);
      if (probes > 1) notLiveAtAnswer++;
    }
    const l = stats(live);
    const w = stats(writes);
    const b = stats(baseline);
    results['part1'] = { via: results['part1Via'], answerToLiveMs: l, writeMs: w, probeBaselineMs: b, maxProbes, notLiveAtAnswer };
    say(`   answer → first probe seeing the change: p50 ${ms(l.p50)} ms, p99 ${ms(l.p99)}, max ${ms(l.max)}; probes needed: max ${maxProbes}`);
    say(`   probe latency on an unchanged route (baseline): p50 ${ms(b.p50)} ms, p99 ${ms(b.p99)}`);
    say(`   admin write latency: p50 ${ms(w.p50)} ms, p99 ${ms(w.p99)}`);
    const sec = '1 live';
    row({ section: sec, figure: `answer→live p50 / p99 / max (N=${CHANGES})`, value: `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.max)} ms` });
    row({ section: sec, figure: 'probes until the change was seen (max)', value: String(maxProbes), target: '1 (live at the answer)', verdict: maxProbes === 1 ? 'MET' : 'MISSED' });
    row({ section: sec, figure: 'probe latency, unchanged route p50 / p99', value: `${ms(b.p50)} / ${ms(b.p99)} ms` });
    row({ section: sec, figure: `admin write latency p50 / p99 (${viaHttp ? 'HTTP' : 'in process'})`, value: `${ms(w.p50)} / ${ms(w.p99)} ms` });
  } finally {
    await web.close();
    await admin?.close();
    await gateway.stop(200);
  }
}

// ---------------------------------------------------------------------------------------------------
// Parts 2-4: 10,000 routes

/** Route `i` of the big config: `/svc/<i>`; some have hosts, methods, headers, stripPrefix, a drain deadline. */
function routeItem(i: number, upstream: number): Record<string, unknown> {
  const match: Record<string, unknown> = { pathPrefix: `/svc/${i}` };
  if (i % 10 === 3) match['hosts'] = [`api${i % 50}.example.com`, `*.tenant${i % 20}.example.net`];
  if (i % 7 === 2) match['methods'] = ['GET', 'POST'];
  if (i % 13 === 5) match['headers'] = { 'x-tenant': `t${i % 100}`, 'x-debug': { present: false } };
  return {
    name: `r${i}`,
    match,
    upstream: `u${upstream % UPSTREAMS}`,
    ...(i % 4 === 1 ? { stripPrefix: true } : {}),
    ...(i % 9 === 0 ? { drain: { deadlineMs: 2000 } } : {}),
  };
}

/** A plain route (no host, method or header condition) near the middle: the one parts 2 and 3 probe and change. */
function plainRoute(routes: number): number {
  let k = Math.floor(routes / 2);
  while (k % 10 === 3 || k % 7 === 2 || k % 13 === 5) k++;
  return k;
}

/** A realistic-ish big config: `routes` routes over 5 upstreams (one with a breaker, one with retries, one least-request). */
function bigDoc(routes: number, targets: readonly string[]): ConfigDocument {
  const upstreams = Array.from({ length: UPSTREAMS }, (_, u) => ({
    name: `u${u}`,
    targets: [{ url: targets[u % targets.length]! }],
    ...(u === 0 ? { circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 20 } } : {}),
    ...(u === 1 ? { retries: { attempts: 2, on: ['connectFailure', 'reset', 503] } } : {}),
    ...(u === 2 ? { loadBalancer: 'leastRequest' } : {}),
  }));
  return {
    log: { level: 'warn', access: false },
    listeners: [{ name: 'web', protocol: 'http', address: '127.0.0.1:0' }],
    shutdown: { drainMs: 2000 },
    upstreams,
    routes: Array.from({ length: routes }, (_, i) => routeItem(i, i)),
  };
}

/** The route changed in part 2 (without its name, as PUT /routes/{name} takes it): its upstream alternates between two. */
function oneRoute(k: number, run: number): Record<string, unknown> {
  const { name: _name, ...item } = routeItem(k, k + (run % 2 === 0 ? 1 : 0));
  return item;
}

/** Runs `work` up to `n` times, at least 3, and stops early once `budgetMs` is spent (bounds the run at 10k routes). */
async function timeN(n: number, work: () => unknown, budgetMs = 8000): Promise<Stats> {
  const samples: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n && (i < 3 || performance.now() - t0 < budgetMs); i++) {
    const t = performance.now();
    await work();
    samples.push(performance.now() - t);
  }
  return stats(samples);
}

async function partsTwoToFour(a: Backend, b: Backend): Promise<void> {
  say(`\n== 4. startup with ${ROUTES} routes ==`);
  const doc = bigDoc(ROUTES, [a.url]);
  const tValidate0 = performance.now();
  const { config } = validateConfig(substituteEnv(doc, process.env));
  const firstValidateMs = performance.now() - tValidate0;
  settleGc();
  const rssIdle = rss();
  const tStart = performance.now();
  const gateway = await Gateway.start(config, log, { document: doc });
  const startMs = performance.now() - tStart;
  settleGc();
  const rssStarted = rss();
  const mgr = gateway.configManager!;
  const web = new Client(`http://127.0.0.1:${gateway.addresses()['web']!.port}`, { pipelining: 1 });
  say(`   Gateway.start: ${ms(startMs)} ms (first validateConfig, cold: ${ms(firstValidateMs)} ms); RSS ${mb(rssIdle)} → ${mb(rssStarted)} MB`);
  results['part4'] = { startMs, firstValidateMs, rssBeforeMb: mb(rssIdle), rssAfterMb: mb(rssStarted) };
  row({ section: '4 startup', figure: `Gateway.start, ${ROUTES} routes`, value: `${ms(startMs)} ms` });
  row({ section: '4 startup', figure: 'RSS before / after start', value: `${mb(rssIdle)} / ${mb(rssStarted)} MB` });

  try {
    const sanity = await get(web, `/svc/${ROUTES - 1}/x`);
    if (sanity.status !== 200) throw new Error(`/svc/${ROUTES - 1}/x answered ${sanity.status} on the ${ROUTES}-route gateway`);

    // ---- 2. one changed route among ROUTES
    say(`\n== 2. one changed route among ${ROUTES} (ConfigManager.putRoute, in process) ==`);
    const k = plainRoute(ROUTES);
    // Warm-up: up to 3 changes (1 when a change takes more than a second).
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await mgr.putRoute(`r${k}`, oneRoute(k, i), { actor });
      await gateway.drained();
      if (performance.now() - t > 1000) break;
    }
    const e2e: number[] = [];
    const drains: number[] = [];
    const stalls: number[] = [];
    const budget = performance.now() + PART2_BUDGET_S * 1000;
    for (let run = 0; run < RUNS && (run < 3 || performance.now() < budget); run++) {
      const meter = stallMeter();
      const t = performance.now();
      const result = await mgr.putRoute(`r${k}`, oneRoute(k, run + 1), { actor });
      e2e.push(performance.now() - t);
      stalls.push(await meter.stop());
      if (result.plan.routes.changed.length !== 1) throw new Error(`expected one changed route, plan: ${JSON.stringify(result.plan.routes)}`);
      const td = performance.now();
      await gateway.drained();
      drains.push(performance.now() - td);
    }
    const e = stats(e2e);
    const stallMs = stats(stalls).max;
    const live = await get(web, `/svc/${k}/x`);
    if (live.status !== 200) throw new Error(`/svc/${k}/x answered ${live.status} after the changes`);

    // The pieces, called directly on the same documents.
    const current = mgr.current().document;
    const routesNow = current['routes'] as Record<string, unknown>[];
    const changedDoc: ConfigDocument = { ...current, routes: routesNow.map((r) => (r['name'] === `r${k}` ? { ...oneRoute(k, RUNS + 1), name: `r${k}` } : r)) };
    const oldConfig = gateway.config;
    const env = process.env;
    let newConfig: Config = oldConfig;
    const clone = await timeN(RUNS, () => structuredClone(current));
    const subst = await timeN(RUNS, () => substituteEnv(changedDoc, env));
    const substituted = substituteEnv(changedDoc, env);
    const validate = await timeN(RUNS, () => {
      newConfig = validateConfig(substituted).config;
    });
    const diff = await timeN(RUNS, () => diffConfig(oldConfig, newConfig));
    const d = diffConfig(oldConfig, newConfig);
    if (d.routes.changed.length !== 1) throw new Error(`diffConfig: expected 1 changed route, got ${d.routes.changed.length}`);
    const values = new Map(newConfig.routes.map((r) => [r.name, { name: r.name }]));
    const table = await timeN(RUNS, () => new RouteTable(newConfig.routes.filter((r: Route) => r.listeners.includes('web')).map((route) => ({ route, value: values.get(route.name)! }))));
    const etag = await timeN(RUNS, () => etagOf(changedDoc));
    // What PUT /routes/{name} runs: the one route checked against the running config (withRoute), the
    // plan of a config whose other routes are the same objects, and the table rebuild.
    const newRouteDoc = { ...oneRoute(k, RUNS + 1), name: `r${k}` };
    let incConfig: Config = oldConfig;
    const incValidate = await timeN(RUNS, () => {
      incConfig = withRoute(oldConfig, substituteEnv(newRouteDoc, env) as Record<string, unknown>);
    });
    const incDiff = await timeN(RUNS, () => diffConfig(oldConfig, incConfig));
    if (diffConfig(oldConfig, incConfig).routes.changed.length !== 1) throw new Error('withRoute: expected 1 changed route');
    const core = incValidate.p50 + incDiff.p50 + table.p50;
    const met = core < TARGET_ONE_CHANGE_MS;
    const accounted = clone.p50 + core + etag.p50;
    results['part2'] = {
      route: `r${k}`,
      putRouteMs: e,
      drainAfterMs: stats(drains),
      maxEventLoopStallMs: stallMs,
      piecesMs: { structuredClone: clone, substituteEnv: subst, validateConfig: validate, diffConfig: diff, routeTable: table, etagOf: etag, withRoute: incValidate, diffIncremental: incDiff },
      validationDiffSwapP50Ms: core,
      targetMs: TARGET_ONE_CHANGE_MS,
      met,
    };
    if (e.n < RUNS) notes.push(`part 2 measured ${e.n} of ${RUNS} changes (time budget ${PART2_BUDGET_S} s: each change took ~${ms(e.p50)} ms)`);
    say(`   mgr.putRoute end to end: p50 ${ms(e.p50)} ms, p99 ${ms(e.p99)}, max ${ms(e.max)} (${e.n} runs); longest event-loop stall ${ms(stallMs)} ms`);
    say(`   pieces (p50 / p99, ms): structuredClone ${ms(clone.p50)}/${ms(clone.p99)}, substituteEnv ${ms(subst.p50)}/${ms(subst.p99)}, validateConfig ${ms(validate.p50)}/${ms(validate.p99)}, diffConfig ${ms(diff.p50)}/${ms(diff.p99)}, new RouteTable ${ms(table.p50)}/${ms(table.p99)} (n=${table.n}), etagOf ${ms(etag.p50)}/${ms(etag.p99)}`);
    say(`   one route's path (withRoute ${ms(incValidate.p50)} + diff ${ms(incDiff.p50)} + router swap ${ms(table.p50)}), p50 sum: ${ms(core)} ms → target < ${TARGET_ONE_CHANGE_MS} ms ${met ? 'MET' : 'MISSED'}`);
    say(`   measured pieces of one putRoute (clone, substitute, validate, diff, table, etag): ~${ms(accounted)} ms of ${ms(e.p50)} ms`);
    const sec = `2 one of ${ROUTES / 1000}k`;
    row({ section: sec, figure: `mgr.putRoute end to end p50 / p99 (n=${e.n})`, value: `${ms(e.p50)} / ${ms(e.p99)} ms` });
    row({ section: sec, figure: '  withRoute(config, route) p50 (one route checked)', value: `${ms(incValidate.p50)} ms` });
    row({ section: sec, figure: '  diffConfig of that change p50', value: `${ms(incDiff.p50)} ms` });
    row({ section: sec, figure: '  whole document: validateConfig(substituteEnv) p50', value: `${ms(subst.p50 + validate.p50)} ms`, note: `PUT /config, SIGHUP, file edits; substituteEnv ${ms(subst.p50)} + validateConfig ${ms(validate.p50)}` });
    row({ section: sec, figure: '  whole document: diffConfig(old, new) p50', value: `${ms(diff.p50)} ms` });
    row({ section: sec, figure: `  new RouteTable(${ROUTES} routes) p50 (n=${table.n})`, value: `${ms(table.p50)} ms` });
    row({ section: sec, figure: '  structuredClone(doc) / etagOf(doc) p50', value: `${ms(clone.p50)} / ${ms(etag.p50)} ms` });
    row({ section: sec, figure: 'one route: validation + diff + router swap (p50 sum)', value: `${ms(core)} ms`, target: `< ${TARGET_ONE_CHANGE_MS} ms`, verdict: met ? 'MET' : 'MISSED' });
    row({ section: sec, figure: 'longest event-loop stall during a putRoute', value: `${ms(stallMs)} ms` });

    if (PROFILE && remainingS() > 60) {
      const n = e.p50 < 200 ? 8 : 2;
      const p = await profiled(async () => {
        for (let run = 0; run < n; run++) await mgr.putRoute(`r${k}`, oneRoute(k, run), { actor });
      });
      await gateway.drained();
      results['part2Profile'] = reportProfile(`${n} × mgr.putRoute among ${ROUTES} routes`, p, n);
    }

    // ---- 3. full reload: every upstream's target changes → every route changes
    say(`\n== 3. full reload of ${ROUTES} routes (every upstream's target changed → every route replaced) ==`);
    const full = bigDoc(ROUTES, [b.url]);
    settleGc();
    const rssBefore = rss();
    const meter = stallMeter();
    const tr = performance.now();
    const res = await mgr.replace(full, { actor });
    const answered = performance.now();
    const replaceMs = answered - tr;
    const rssAfterReplace = rss();
    await gateway.drained();
    const drainMs = performance.now() - answered;
    const reloadStall = await meter.stop();
    const rssAfterDrain = rss();
    const moved = await get(web, `/svc/${k}/x`);
    settleGc();
    const rssAfterGc = rss();
    const changed = res.plan.routes.changed.length;
    if (moved.backend !== 'b') throw new Error(`after the full reload /svc/${k}/x was served by ${moved.backend ?? '?'} (status ${moved.status}), not the new target`);
    results['part3'] = {
      routesChanged: changed,
      upstreamsChanged: res.plan.upstreams.changed.length,
      replaceMs,
      drainedMs: drainMs,
      maxEventLoopStallMs: reloadStall,
      rssMb: { before: mb(rssBefore), afterReplace: mb(rssAfterReplace), afterDrain: mb(rssAfterDrain), afterGc: gc === undefined ? null : mb(rssAfterGc) },
    };
    say(`   mgr.replace: ${ms(replaceMs)} ms (${changed} routes, ${res.plan.upstreams.changed.length} upstreams changed); longest event-loop stall ${ms(reloadStall)} ms`);
    say(`   old versions drained (gateway.drained()): ${ms(drainMs)} ms after the answer`);
    say(`   RSS: before ${mb(rssBefore)} MB, after replace ${mb(rssAfterReplace)}, after drain ${mb(rssAfterDrain)}${gc === undefined ? '' : `, after gc ${mb(rssAfterGc)}`}`);
    const sec3 = `3 full ${ROUTES / 1000}k`;
    row({ section: sec3, figure: `mgr.replace (${changed} routes changed)`, value: `${ms(replaceMs)} ms` });
    row({ section: sec3, figure: 'longest event-loop stall, replace + drain', value: `${ms(reloadStall)} ms` });
    row({ section: sec3, figure: 'old versions drained after the answer', value: `${ms(drainMs)} ms` });
    row({ section: sec3, figure: `RSS before / after replace / after drain${gc === undefined ? '' : ' / after gc'}`, value: `${mb(rssBefore)} / ${mb(rssAfterReplace)} / ${mb(rssAfterDrain)}${gc === undefined ? '' : ` / ${mb(rssAfterGc)}`} MB` });

    if (PROFILE && remainingS() > replaceMs / 1000 * 2 + drainMs / 1000 * 2 + 20) {
      // A second full reload (targets back to backend a), profiled: replace, then the drain.
      const back = bigDoc(ROUTES, [a.url]);
      const p = await profiled(() => mgr.replace(back, { actor }));
      results['part3ProfileReplace'] = reportProfile(`full reload, mgr.replace of ${ROUTES} routes`, p, 1);
      const pd = await profiled(() => gateway.drained());
      results['part3ProfileDrain'] = reportProfile('full reload, the drain (gateway.drained())', pd, 1);
    } else if (PROFILE) {
      notes.push('full-reload profile skipped: not enough time left before the deadline');
    }
  } finally {
    await web.close();
    const ts = performance.now();
    await gateway.stop(200);
    const stopMs = performance.now() - ts;
    say(`\n   (gateway.stop with ${ROUTES} routes: ${ms(stopMs)} ms)`);
    results['stopMs'] = stopMs;
  }
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  say(`Tandem live-reload benchmark: node ${process.version}, ${CHANGES} admin changes, ${ROUTES} routes, ${RUNS} runs${gc === undefined ? ' (no --expose-gc: RSS figures without a forced gc)' : ''}`);
  const a = await startBackend('a');
  const b = await startBackend('b');
  try {
    await partOne(a);
    await partsTwoToFour(a, b);
  } finally {
    await closeBackend(a);
    await closeBackend(b);
    if (sessionOpen) session.disconnect();
  }
  say(`\nfigures:
  1 live   answer→live: from the admin write's complete answer to the first data-plane probe (GET /bN/x, one
           keep-alive connection, tight loop) that sees the change (200 after the add, 404 after the remove).
           Tandem swaps route tables before it answers, so this is ~one probe round trip; "probes needed" = 1
           means the change was live when the answer arrived.
  2        one route's upstream toggled among ${ROUTES}; putRoute = ConfigManager end to end (clone, substitute,
           validate the whole document, plan, Gateway.apply: diff, start the route's supervisor child, rebuild
           and swap the route table, etag). The pieces are the same functions called directly on a 10k document.
           The whole write is synchronous work on the event loop: requests wait for it (see the stall).
  3        all upstream targets changed → every route replaced make-before-break; drained = until the old
           versions' supervisors are terminated (no traffic in flight, so this is the teardown cost).
  4        Gateway.start of the ${ROUTES}-route config (supervision tree + listeners).`);
  printTable();
  if (notes.length > 0) say(`\nnotes:\n${notes.map((n) => `  - ${n}`).join('\n')}`);
  say(`gateway log lines at warn+: ${logLines}; total ${elapsedS().toFixed(1)} s; results: ${OUT}`);
  writeResults();
}

main().then(
  () => {
    clearTimeout(watchdog);
    // Undici's and the gateways' handles are closed; exit explicitly anyway so a stray timer cannot hold the run.
    setImmediate(() => process.exit(0));
  },
  (err: unknown) => {
    clearTimeout(watchdog);
    process.stderr.write(`reload benchmark failed: ${(err as Error).stack ?? String(err)}\n`);
    printTable();
    writeResults();
    process.exit(1);
  },
);
