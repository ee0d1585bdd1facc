/**
 * HTTP proxy benchmark: Tandem against @fastify/http-proxy (and nginx as a reference when installed), all
 * in front of the same plain node:http backend, each in its own process, measured in one run with
 * interleaved rounds.
 *
 *   npm run bench:http                      # defaults: 4 rounds x 5 s per target, 64 connections
 *   BENCH_DURATION=2 BENCH_ROUNDS=3 npm run bench:http
 *   node bench/http-proxy/run.ts --duration 2 --rounds 3 --targets direct,tandem,fastify-proxy
 *   BENCH_CPU_PROF=tandem npm run bench:http  # also profile the Tandem process and summarise it
 *
 * Options (flag, or env var): --duration/BENCH_DURATION (s per measurement, 5), --rounds/BENCH_ROUNDS (4),
 * --connections/BENCH_CONNECTIONS (64), --pipelining/BENCH_PIPELINING (1), --warmup/BENCH_WARMUP (s per
 * target before round 1, 2), --targets/BENCH_TARGETS (comma list of direct, tandem, fastify-proxy,
 * fastify-proxy-nolog, nginx), --loadgen/BENCH_LOADGEN (autocannon | wrk), --path/BENCH_PATH (/whoami),
 * --out/BENCH_OUT (bench/results/http-proxy.json), --cpu-prof/BENCH_CPU_PROF (comma list of node targets
 * to run under `node --cpu-prof`).
 *
 * Everything listens on and is loaded through 127.0.0.1 only; every load run is bounded in time.
 */
import { NODE_FLAGS } from '../../src/node-flags.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { formatSummary, summarise, type ProfileSummary } from './profile-summary.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');

// ---------------------------------------------------------------------------------------------------
// Options

type TargetName = 'direct' | 'tandem' | 'fastify-proxy' | 'fastify-proxy-nolog' | 'nginx';
const ALL_TARGETS: readonly TargetName[] = ['direct', 'tandem', 'fastify-proxy', 'fastify-proxy-nolog', 'nginx'];

/** What each row is, and what it logs per request (printed with the table). */
const DESCRIPTIONS: Record<TargetName, string> = {
  direct: 'the backend itself (node:http, no proxy); no log',
  tandem: 'Tandem (src/gateway), 1 route, 1 upstream, breaker + retries + health checks + outlier detection on; access log ON: 1 JSON line/request via pino (async) to /dev/null',
  'fastify-proxy': '@fastify/http-proxy defaults on fastify 5; fastify logger ON at info: 4 JSON lines/request via pino (async) to /dev/null',
  'fastify-proxy-nolog': '@fastify/http-proxy defaults on fastify 5; logger OFF (shows what its 4 log lines cost)',
  nginx: 'nginx reverse proxy (reference), 1 worker process, upstream keepalive 64; access_log (combined) to /dev/null',
};

type LoadGen = 'autocannon' | 'wrk';

interface Options {
  readonly duration: number;
  readonly rounds: number;
  readonly connections: number;
  readonly pipelining: number;
  readonly warmup: number;
  readonly targets: readonly TargetName[];
  readonly loadgen: LoadGen;
  readonly path: string;
  readonly out: string;
  readonly cpuProf: readonly TargetName[];
}

function option(flag: string, env: string): string | undefined {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${flag}`) return argv[i + 1];
    if (a.startsWith(`--${flag}=`)) return a.slice(flag.length + 3);
  }
  const v = process.env[env];
  return v === undefined || v === '' ? undefined : v;
}

function numberOption(flag: string, env: string, fallback: number, min: number, max: number): number {
  const raw = option(flag, env);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${flag} / ${env} must be a number in [${min}, ${max}], got "${raw}"`);
  return n;
}

function targetList(raw: string, what: string): TargetName[] {
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) if (!ALL_TARGETS.includes(n as TargetName)) throw new Error(`unknown ${what} "${n}" (known: ${ALL_TARGETS.join(', ')})`);
  return names as TargetName[];
}

function parseOptions(): Options {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    const doc = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, '');
    process.stdout.write(`${doc}\n`);
    process.exit(0);
  }
  const loadgen = option('loadgen', 'BENCH_LOADGEN') ?? 'autocannon';
  if (loadgen !== 'autocannon' && loadgen !== 'wrk') throw new Error(`--loadgen must be autocannon or wrk, got "${loadgen}"`);
  const path = option('path', 'BENCH_PATH') ?? '/whoami';
  if (!path.startsWith('/')) throw new Error('--path must start with /');
  return {
    duration: numberOption('duration', 'BENCH_DURATION', 5, 1, 120),
    rounds: Math.round(numberOption('rounds', 'BENCH_ROUNDS', 4, 1, 50)),
    connections: Math.round(numberOption('connections', 'BENCH_CONNECTIONS', 64, 1, 1024)),
    pipelining: Math.round(numberOption('pipelining', 'BENCH_PIPELINING', 1, 1, 100)),
    warmup: numberOption('warmup', 'BENCH_WARMUP', 2, 0, 60),
    targets: targetList(option('targets', 'BENCH_TARGETS') ?? ALL_TARGETS.join(','), 'target'),
    loadgen,
    path,
    out: resolve(REPO, option('out', 'BENCH_OUT') ?? 'bench/results/http-proxy.json'),
    cpuProf: targetList(option('cpu-prof', 'BENCH_CPU_PROF') ?? '', '--cpu-prof target'),
  };
}

// ---------------------------------------------------------------------------------------------------
// Processes and their /proc figures

interface Server {
  readonly name: TargetName | 'backend';
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Temp dir to remove after stop (nginx). */
  readonly tmp?: string;
  /** Where `--cpu-prof` writes (when profiled). */
  readonly profDir?: string;
}

function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const CLK_TCK = ((): number => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** The pid and its descendants (nginx: master + workers). */
function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // Process gone meanwhile.
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [child, parent] of parentOf) if (parent === out[i]) out.push(child);
  return out;
}

interface ProcFigures {
  /** Resident set size now, KiB (summed over the process tree). */
  readonly rssKiB: number;
  /** Peak resident set size, KiB (VmHWM, summed over the process tree). */
  readonly hwmKiB: number;
  /** User + system CPU time so far, seconds (summed over the process tree). */
  readonly cpuSeconds: number;
}

function procFigures(pid: number): ProcFigures {
  let rssKiB = 0;
  let hwmKiB = 0;
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      rssKiB += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      hwmKiB += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 14 and 15 of /proc/PID/stat (utime, stime); `fields` starts at field 3.
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Process gone meanwhile.
    }
  }
  return { rssKiB, hwmKiB, cpuSeconds: ticks / CLK_TCK };
}

/** Busy CPU time of the whole machine so far, seconds (all CPUs; steal counts as busy: it was taken from us). */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLK_TCK;
}

/** Starts a node entry script of this directory and waits for its `{"port":N}` line. */
async function startNode(name: Server['name'], script: string, args: string[], profDir?: string, flags: readonly string[] = []): Promise<Server> {
  const nodeArgs = [...flags, ...(profDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profDir])];
  const child = spawn(process.execPath, [...nodeArgs, join(HERE, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const lines = createInterface({ input: child.stdout! });
  const info = await new Promise<{ port: number; pid: number }>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 15 s: ${stderr}`)), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening: ${stderr}`));
    });
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolvePort(JSON.parse(line) as { port: number; pid: number });
      } catch {
        reject(new Error(`${name} printed "${line}" instead of its port`));
      }
    });
  });
  child.removeAllListeners('exit');
  lines.on('line', () => undefined);
  return profDir === undefined ? { name, port: info.port, pid: child.pid!, child } : { name, port: info.port, pid: child.pid!, child, profDir };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

async function waitForPort(port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((done) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        done(true);
      });
      s.on('error', () => done(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listening on 127.0.0.1:${port} after ${deadlineMs} ms`);
    await sleep(50);
  }
}

/** nginx as a reverse proxy: generated minimal config in a temp dir, 1 worker, keepalive upstream. */
async function startNginx(backendPort: number): Promise<Server> {
  const tmp = mkdtempSync(join(tmpdir(), 'tandem-bench-nginx-'));
  const port = await freePort();
  const conf = join(tmp, 'nginx.conf');
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  writeFileSync(
    conf,
    `${user}daemon off;
master_process on;
worker_processes 1;
pid ${tmp}/nginx.pid;
error_log ${tmp}/error.log warn;
events { worker_connections 4096; }
http {
  access_log /dev/null combined;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  keepalive_requests 1000000;
  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`,
  );
  const child = spawn('nginx', ['-p', tmp, '-e', join(tmp, 'error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`nginx exited with ${code}: ${stderr}`))));
  await Promise.race([waitForPort(port, 10_000), exited]);
  child.removeAllListeners('exit');
  return { name: 'nginx', port, pid: child.pid!, child, tmp };
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise<void>((ok) => s.child.once('exit', () => ok()));
  // nginx: SIGQUIT is its graceful shutdown; node children exit 0 on SIGTERM (profiles get written).
  s.child.kill(s.name === 'nginx' ? 'SIGQUIT' : 'SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 8000);
  await exited;
  clearTimeout(timer);
  if (s.tmp !== undefined) rmSync(s.tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------
// Load generation

interface Measurement {
  readonly reqPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly requests: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
  readonly non2xx: number;
  readonly seconds: number;
}

async function measureAutocannon(url: string, o: Options, duration: number): Promise<Measurement> {
  const r = await autocannon({ url, connections: o.connections, pipelining: o.pipelining, duration, timeout: 10 });
  return {
    reqPerSec: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    requests: r.requests.total,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    seconds: r.duration,
  };
}

/** wrk's duration suffixes: `1.23ms`, `456.00us`, `1.02s`. */
function wrkMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (m === null) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

async function measureWrk(url: string, o: Options, duration: number): Promise<Measurement> {
  if (o.pipelining !== 1) throw new Error('--loadgen wrk supports --pipelining 1 only');
  const started = performance.now();
  const child = spawn('wrk', ['-t1', `-c${o.connections}`, `-d${Math.max(1, Math.round(duration))}s`, '--latency', '--timeout', '10s', url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const code = await new Promise<number | null>((ok) => child.once('exit', ok));
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${out}`);
  const pick = (re: RegExp): string | undefined => re.exec(out)?.[1];
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const requests = Number(pick(/(\d+) requests in/) ?? 0);
  return {
    reqPerSec: Number(pick(/Requests\/sec:\s+([\d.]+)/) ?? 0),
    p50Ms: wrkMs(pick(/^\s+50%\s+(\S+)/m) ?? ''),
    p99Ms: wrkMs(pick(/^\s+99%\s+(\S+)/m) ?? ''),
    maxMs: wrkMs(pick(/Latency\s+\S+\s+\S+\s+(\S+)/) ?? ''),
    requests,
    errors: socketErrors === null ? 0 : socketErrors.slice(1).reduce((a, b) => a + Number(b), 0),
    non2xx: Number(pick(/Non-2xx or 3xx responses: (\d+)/) ?? 0),
    seconds: (performance.now() - started) / 1000,
  };
}

// ---------------------------------------------------------------------------------------------------
// Statistics and output

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface RoundResult extends Measurement {
  readonly round: number;
  /** Position in the round's order (0 = first). */
  readonly order: number;
  /** Proxy CPU (process tree) during the measurement, seconds; backend's separately. */
  readonly proxyCpuSeconds: number;
  readonly backendCpuSeconds: number;
  /** CPU of the load generator (this process for autocannon), seconds. */
  readonly loadgenCpuSeconds: number | undefined;
  /** CPU used on the machine by anything else than proxy, backend and this runner (other tenants, wrk), seconds. */
  readonly otherCpuSeconds: number;
}

interface TargetSummary {
  readonly name: TargetName;
  readonly description: string;
  readonly reqPerSec: number;
  readonly reqPerSecMin: number;
  readonly reqPerSecMax: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly requests: number;
  /** Proxy CPU per request, µs (median of rounds); for `direct`, the backend's. */
  readonly cpuUsPerReq: number;
  /** Proxy CPU use during load, percent of one core (median of rounds). */
  readonly cpuPercent: number;
  readonly backendCpuPercent: number;
  readonly loadgenCpuPercent: number | undefined;
  /** CPU used by other processes on the machine during load, percent of one core (median of rounds). */
  readonly otherCpuPercent: number;
  readonly rssIdleMiB: number | undefined;
  readonly rssAfterMiB: number | undefined;
  readonly rssPeakMiB: number | undefined;
}

function summariseTarget(name: TargetName, rounds: readonly RoundResult[], idle: ProcFigures | undefined, after: ProcFigures | undefined): TargetSummary {
  const rps = rounds.map((r) => r.reqPerSec);
  const own = (r: RoundResult): number => (name === 'direct' ? r.backendCpuSeconds : r.proxyCpuSeconds);
  const lg = rounds.map((r) => r.loadgenCpuSeconds).filter((x): x is number => x !== undefined);
  return {
    name,
    description: DESCRIPTIONS[name],
    reqPerSec: median(rps),
    reqPerSecMin: Math.min(...rps),
    reqPerSecMax: Math.max(...rps),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    errors: rounds.reduce((a, r) => a + r.errors, 0),
    non2xx: rounds.reduce((a, r) => a + r.non2xx, 0),
    requests: rounds.reduce((a, r) => a + r.requests, 0),
    cpuUsPerReq: median(rounds.map((r) => (r.requests === 0 ? Number.NaN : (own(r) * 1e6) / r.requests))),
    cpuPercent: median(rounds.map((r) => (100 * own(r)) / r.seconds)),
    backendCpuPercent: median(rounds.map((r) => (100 * r.backendCpuSeconds) / r.seconds)),
    loadgenCpuPercent: lg.length === 0 ? undefined : median(rounds.map((r) => (100 * (r.loadgenCpuSeconds ?? 0)) / r.seconds)),
    otherCpuPercent: median(rounds.map((r) => (100 * r.otherCpuSeconds) / r.seconds)),
    rssIdleMiB: idle === undefined ? undefined : idle.rssKiB / 1024,
    rssAfterMiB: after === undefined ? undefined : after.rssKiB / 1024,
    rssPeakMiB: after === undefined ? undefined : after.hwmKiB / 1024,
  };
}

function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

function gitCommit(): string | undefined {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function packageVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

function nginxVersion(): string | undefined {
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  return /nginx\/(\S+)/.exec(r.stderr ?? '')?.[1];
}

// ---------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const o = parseOptions();
  const hasNginx = commandExists('nginx');
  if (o.loadgen === 'wrk' && !commandExists('wrk')) throw new Error('--loadgen wrk: wrk is not installed');
  const skipped: string[] = [];
  const targets = o.targets.filter((t) => {
    if (t === 'nginx' && !hasNginx) {
      skipped.push('nginx (not installed: apt-get install nginx)');
      return false;
    }
    return true;
  });
  if (targets.length === 0) throw new Error('no target to measure');
  const perTarget = o.warmup + o.rounds * o.duration;
  process.stdout.write(
    `HTTP proxy benchmark: ${targets.join(', ')}${skipped.length > 0 ? ` (skipped: ${skipped.join('; ')})` : ''}\n` +
      `${o.loadgen}, ${o.connections} connections, keep-alive, pipelining ${o.pipelining}, ${o.rounds} interleaved rounds x ${o.duration} s, ` +
      `${o.warmup} s warm-up per target; GET ${o.path}, 100-byte responses. Expect ~${Math.round(targets.length * perTarget * 1.05 + 5)} s.\n` +
      `Machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}.\n`,
  );
  if (cpus().length <= 2) {
    process.stdout.write(
      `Note: ${cpus().length} CPU(s): the load generator, the proxy and the backend compete for them, so absolute req/s are ` +
        'bounded by the machine, not only by the proxy; compare rows within this run, and look at CPU µs/request.\n',
    );
  }

  const profRoot = o.cpuProf.length === 0 ? undefined : join(dirname(o.out), 'profiles', new Date().toISOString().replace(/[:.]/g, '-'));
  const profDirOf = (t: TargetName): string | undefined => (profRoot !== undefined && o.cpuProf.includes(t) ? join(profRoot, t) : undefined);
  for (const t of o.cpuProf) if (t === 'direct' || t === 'nginx') throw new Error(`--cpu-prof: ${t} is not a node proxy`);

  const servers: Server[] = [];
  const cleanup = async (): Promise<void> => {
    await Promise.all(servers.map((s) => stopServer(s).catch(() => undefined)));
  };
  process.once('SIGINT', () => {
    void cleanup().then(() => process.exit(130));
  });

  try {
    const backend = await startNode('backend', 'backend.ts', []);
    servers.push(backend);
    const upstream = `http://127.0.0.1:${backend.port}`;
    const byName = new Map<TargetName, Server | undefined>();
    for (const t of targets) {
      if (t === 'direct') byName.set(t, undefined);
      else if (t === 'tandem') byName.set(t, await startNode(t, 'tandem-server.ts', ['--upstream', upstream, '--access-log', '/dev/null'], profDirOf(t), NODE_FLAGS));
      else if (t === 'fastify-proxy') byName.set(t, await startNode(t, 'fastify-proxy-server.ts', ['--upstream', upstream, '--access-log', '/dev/null'], profDirOf(t)));
      else if (t === 'fastify-proxy-nolog') byName.set(t, await startNode(t, 'fastify-proxy-server.ts', ['--upstream', upstream, '--no-log'], profDirOf(t)));
      else byName.set(t, await startNginx(backend.port));
      const s = byName.get(t);
      if (s !== undefined) servers.push(s);
    }
    const urlOf = (t: TargetName): string => `http://127.0.0.1:${(byName.get(t) ?? backend).port}${o.path}`;

    // Sanity: every target answers 200 with the backend's 100-byte body.
    for (const t of targets) {
      const res = await fetch(urlOf(t));
      const body = await res.arrayBuffer();
      if (res.status !== 200 || body.byteLength !== 100) throw new Error(`${t}: expected 200 with 100 bytes, got ${res.status} with ${body.byteLength}`);
    }
    await sleep(200);
    const idle = new Map<TargetName, ProcFigures>();
    for (const t of targets) idle.set(t, procFigures((byName.get(t) ?? backend).pid));

    const measure = (t: TargetName, duration: number): Promise<Measurement> =>
      o.loadgen === 'wrk' ? measureWrk(urlOf(t), o, duration) : measureAutocannon(urlOf(t), o, duration);

    if (o.warmup > 0) {
      for (const t of targets) {
        process.stdout.write(`warm-up ${t} (${o.warmup} s)\n`);
        await measure(t, o.warmup);
      }
    }

    const results = new Map<TargetName, RoundResult[]>(targets.map((t) => [t, []]));
    for (let round = 0; round < o.rounds; round++) {
      // Rotate the order each round so no target always runs first or right after another.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (let i = 0; i < order.length; i++) {
        const t = order[i]!;
        const pid = (byName.get(t) ?? backend).pid;
        const before = procFigures(pid);
        const backendBefore = procFigures(backend.pid);
        const selfBefore = process.cpuUsage();
        const machineBefore = machineBusySeconds();
        const m = await measure(t, o.duration);
        const self = process.cpuUsage(selfBefore);
        const machineBusy = machineBusySeconds() - machineBefore;
        const after = procFigures(pid);
        const backendAfter = procFigures(backend.pid);
        const proxyCpuSeconds = t === 'direct' ? 0 : after.cpuSeconds - before.cpuSeconds;
        const backendCpuSeconds = backendAfter.cpuSeconds - backendBefore.cpuSeconds;
        const selfSeconds = (self.user + self.system) / 1e6;
        const r: RoundResult = {
          ...m,
          round,
          order: i,
          proxyCpuSeconds,
          backendCpuSeconds,
          loadgenCpuSeconds: o.loadgen === 'autocannon' ? selfSeconds : undefined,
          otherCpuSeconds: Math.max(0, machineBusy - proxyCpuSeconds - backendCpuSeconds - selfSeconds),
        };
        results.get(t)!.push(r);
        process.stdout.write(
          `round ${round + 1}/${o.rounds} ${t.padEnd(20)} ${fmt(m.reqPerSec).padStart(7)} req/s  p50 ${fmt(m.p50Ms, 2)} ms  p99 ${fmt(m.p99Ms, 2)} ms` +
            `${m.errors + m.non2xx > 0 ? `  errors ${m.errors} non-2xx ${m.non2xx}` : ''}\n`,
        );
      }
    }

    const afterFigures = new Map<TargetName, ProcFigures>();
    for (const t of targets) afterFigures.set(t, procFigures((byName.get(t) ?? backend).pid));
    const summaries = targets.map((t) => summariseTarget(t, results.get(t)!, idle.get(t), afterFigures.get(t)));
    const get = (t: TargetName): TargetSummary | undefined => summaries.find((s) => s.name === t);

    // ---- Table
    const rows = summaries.map((s) => [
      s.name,
      fmt(s.reqPerSec),
      `${fmt(s.reqPerSecMin)}–${fmt(s.reqPerSecMax)}`,
      fmt(s.p50Ms, 2),
      fmt(s.p99Ms, 2),
      `${s.errors}/${s.non2xx}`,
      fmt(s.cpuPercent),
      fmt(s.cpuUsPerReq, 1),
      s.name === 'direct' ? '-' : fmt(s.rssIdleMiB, 1),
      s.name === 'direct' ? '-' : fmt(s.rssAfterMiB, 1),
      s.name === 'direct' ? '-' : fmt(s.rssPeakMiB, 1),
    ]);
    const lines: string[] = [];
    lines.push('');
    lines.push(
      table(['target', 'req/s (median)', 'req/s range', 'p50 ms', 'p99 ms', 'errors/non-2xx', 'CPU %', 'CPU µs/req', 'RSS idle MiB', 'RSS after MiB', 'peak RSS MiB'], rows),
    );
    lines.push('');
    lines.push('req/s, p50, p99, CPU: median over rounds; errors/non-2xx: sum over rounds; RSS: of the proxy process (tree), before load and after the run.');
    lines.push('CPU % and CPU µs/req: the proxy process (for direct: the backend) during load; 100% = one core.');
    const backendCpu = summaries.map((s) => `${s.name} ${fmt(s.backendCpuPercent)}%`).join(', ');
    lines.push(`backend CPU % during load: ${backendCpu}.`);
    const lgCpu = summaries.filter((s) => s.loadgenCpuPercent !== undefined).map((s) => `${s.name} ${fmt(s.loadgenCpuPercent)}%`);
    if (lgCpu.length > 0) lines.push(`load generator (autocannon, in the runner process) CPU %: ${lgCpu.join(', ')}.`);
    lines.push(
      `other CPU use on the machine during load (other tenants${o.loadgen === 'wrk' ? ', wrk' : ''}), % of one core: ` +
        `${summaries.map((s) => `${s.name} ${fmt(s.otherCpuPercent)}%`).join(', ')}.`,
    );
    if (o.loadgen === 'autocannon') lines.push('autocannon records latency in whole milliseconds (p50/p99 granularity is 1 ms).');
    lines.push(
      `${cpus().length} CPUs shared by load generator, proxy and backend: with a proxy in the path three busy processes share them, ` +
        'so req/s is partly a measure of CPU cost per request; the machine is shared and noisy (see the req/s range).',
    );
    lines.push('');
    lines.push('rows:');
    for (const s of summaries) lines.push(`  ${s.name.padEnd(20)} ${s.description}`);

    const ratios: Record<string, number> = {};
    const tandem = get('tandem');
    const direct = get('direct');
    const fp = get('fastify-proxy');
    const fpNoLog = get('fastify-proxy-nolog');
    lines.push('');
    if (tandem !== undefined) {
      const ratioLine = (label: string, other: TargetSummary | undefined, key: string): void => {
        if (other === undefined) return;
        const rps = tandem.reqPerSec / other.reqPerSec;
        const p99 = tandem.p99Ms / other.p99Ms;
        const cpu = tandem.cpuUsPerReq / other.cpuUsPerReq;
        ratios[`${key}.reqPerSec`] = rps;
        ratios[`${key}.p99`] = p99;
        ratios[`${key}.cpuPerReq`] = cpu;
        lines.push(`Tandem / ${label.padEnd(30)} req/s ${rps.toFixed(2)}x   p99 ${p99.toFixed(2)}x   CPU/req ${cpu.toFixed(2)}x`);
      };
      ratioLine('direct', direct, 'tandemOverDirect');
      ratioLine('@fastify/http-proxy', fp, 'tandemOverFastifyProxy');
      ratioLine('@fastify/http-proxy (no log)', fpNoLog, 'tandemOverFastifyProxyNoLog');
      ratioLine('nginx', get('nginx'), 'tandemOverNginx');
      if (fp !== undefined) {
        const rpsOk = tandem.reqPerSec >= 1.3 * fp.reqPerSec;
        const p99Ok = tandem.p99Ms <= fp.p99Ms;
        lines.push(
          `Target (Tandem req/s >= 1.3x @fastify/http-proxy, p99 <= its p99): req/s ${rpsOk ? 'MET' : 'MISSED'}, p99 ${p99Ok ? 'MET' : 'MISSED'}.`,
        );
      }
    }
    process.stdout.write(`${lines.join('\n')}\n`);

    // ---- Stop (profiles are written at exit) and write JSON
    await cleanup();
    servers.length = 0;
    const profiles: Record<string, { file: string; summary: ProfileSummary }[]> = {};
    if (profRoot !== undefined) {
      for (const t of o.cpuProf) {
        const dir = join(profRoot, t);
        let files: string[] = [];
        try {
          files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
        } catch {
          // No profile written.
        }
        profiles[t] = files.map((f) => ({ file: join(dir, f), summary: summarise(join(dir, f)) }));
        for (const p of profiles[t]) {
          process.stdout.write(`\nCPU profile of ${t} (${p.file}):\n${formatSummary(p.summary, 30)}\n`);
        }
      }
    }

    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(
      o.out,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          commit: gitCommit(),
          machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: totalmem() / 2 ** 30 },
          versions: {
            node: process.version,
            fastify: packageVersion('fastify'),
            '@fastify/http-proxy': packageVersion('@fastify/http-proxy'),
            undici: packageVersion('undici'),
            autocannon: packageVersion('autocannon'),
            nginx: hasNginx ? nginxVersion() : undefined,
          },
          options: { ...o, out: undefined },
          skipped,
          summary: summaries,
          ratios,
          rounds: Object.fromEntries(results),
          profiles: Object.fromEntries(Object.entries(profiles).map(([k, v]) => [k, v.map((p) => ({ file: p.file, areas: p.summary.areas, top: p.summary.functions.slice(0, 40) }))])),
        },
        null,
        2,
      )}\n`,
    );
    process.stdout.write(`\nresults: ${o.out}\n`);
  } finally {
    await cleanup();
  }
}

await main();
