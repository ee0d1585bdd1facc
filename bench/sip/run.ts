/**
 * SIP call-rate benchmark: sipp's built-in `uac` → Tandem (its own process, `sip` listener, UDP) → sipp's
 * built-in `uas`, and the same stepping uac → uas directly, interleaved in one run. A third path, the
 * floor, carries the same calls through `floor-relay.ts`: a Node.js process that moves the datagrams with
 * string splices and no SIP work at all, so the run also shows what any Node.js process in the middle
 * reaches on this machine. A fourth, `kamailio` (when `kamailio` is on the PATH: `apt-get install
 * kamailio`), carries them through Kamailio with `kamailio.cfg`: a C transaction-stateful proxy (tm,
 * Record-Route, one UDP worker), the peer reference Tandem is read against.
 *
 * For each rate (calls/s) of the sequence, each path runs `-m rate*seconds` calls; a step is a success when
 * every call completed (0 failed, 0 unfinished). Prints a table per step (calls, failed, retransmissions,
 * achieved rate, INVITE→200 time, the middle process's CPU % and RSS from /proc, summed over its process
 * tree, the sipp processes' CPU %), then the highest 0-failure rate through Tandem vs direct (and vs the
 * floor and Kamailio), the ratios and the targets.
 *
 *   node bench/sip/run.ts                                        # 20 s steps (the issue's), each path up to its ceiling, ~20 min
 *   BENCH_STEP_SECONDS=2 BENCH_RATES=200,800 node bench/sip/run.ts   # quick check
 *   BENCH_SIPP_BUFFER=65535 node bench/sip/run.ts                # sipp's own default socket buffers
 *   BENCH_PATHS=direct,tandem node bench/sip/run.ts              # without the floor (and Kamailio)
 *   BENCH_KAMAILIO_CHILDREN=4 node bench/sip/run.ts              # Kamailio with 4 UDP workers (default 1)
 *   BENCH_PATHS=direct,kamailio,tandem node bench/sip/run.ts     # Tandem against Kamailio only
 *
 * Results: bench/results/sip.json (git-ignored).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const OUT = join(REPO, 'bench', 'results', 'sip.json');

const TARGET_RATE = 1000;
const TARGET_RATIO = 0.4;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

const STEP_SECONDS = envNumber('BENCH_STEP_SECONDS', 20);
const RATES = (process.env['BENCH_RATES'] ?? '200,400,600,800,1000,1200,1500,2000,3000,4000,6000,8000,10000,12000,16000,20000,24000').split(',').map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n <= 0) throw new Error(`BENCH_RATES: not a positive integer: ${JSON.stringify(s)}`);
  return n;
});
/**
 * Socket buffer size of every sipp (`-buff_size`, both paths alike). sipp's default (64 KiB) overflows
 * when a burst arrives while sipp itself is descheduled on a busy machine, and the datagrams the kernel
 * drops then count against whichever path was running, not against what it measures.
 */
const SIPP_BUFFER = envNumber('BENCH_SIPP_BUFFER', 4 * 1024 * 1024);
/** Kamailio's UDP workers (`children`): 1 compares with one Tandem process; more shows what its process model adds. */
const KAMAILIO_CHILDREN = envNumber('BENCH_KAMAILIO_CHILDREN', 1);
/** Extra time a step may take beyond its nominal length (calls still outstanding then count as failed). */
const STEP_GRACE_SECONDS = 5;
/** Pause between steps, so late retransmissions of one step do not land in the next. */
const SETTLE_MS = 1000;

// ---------------------------------------------------------------------------------------------------
// Ports and /proc

/** A port free for both UDP and TCP on 127.0.0.1. */
async function freePort(taken: Set<number>): Promise<number> {
  for (;;) {
    const server = createServer();
    const port = await new Promise<number>((res) => server.listen(0, '127.0.0.1', () => res((server.address() as { port: number }).port)));
    await new Promise((r) => server.close(r));
    if (taken.has(port)) continue;
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((res) => {
      udp.once('error', () => res(false));
      udp.bind(port, '127.0.0.1', () => res(true));
    });
    await new Promise<void>((r) => udp.close(() => r()));
    if (ok) {
      taken.add(port);
      return port;
    }
  }
}

const CLK_TCK = ((): number => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

interface Proc {
  /** User + system CPU time so far, seconds. */
  cpuSeconds: number;
  rssKiB: number;
  /** VmHWM of a single process; undefined for a process tree (its peak comes from polling). */
  hwmKiB: number | undefined;
}

function readProc(pid: number | undefined): Proc | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of /proc/PID/stat (utime, stime); `fields` starts at field 3.
    return {
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK,
      rssKiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0),
      hwmKiB: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0),
    };
  } catch {
    return undefined; // process gone
  }
}

interface ProcStat {
  ppid: number;
  /** utime + stime, clock ticks. */
  cpuTicks: number;
  /** Start time, clock ticks since boot: with the pid, names the process (pids are reused). */
  startTicks: number;
}

/** A process's /proc/PID/stat, or undefined once it is gone (or a zombie). */
function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // `fields` starts at field 3 (state): ppid is field 4, utime/stime 14/15, starttime 22.
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return { ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]), startTicks: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/** `pid` and all its descendants (recursively, from the ppid of every /proc/N/stat), each with its start time. */
function processTree(pid: number): Map<number, ProcStat> {
  const byParent = new Map<number, number[]>();
  const stats = new Map<number, ProcStat>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    entries = [];
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const n = Number(name);
    const s = procStat(n);
    if (s === undefined) continue;
    stats.set(n, s);
    const siblings = byParent.get(s.ppid);
    if (siblings === undefined) byParent.set(s.ppid, [n]);
    else siblings.push(n);
  }
  const tree = new Map<number, ProcStat>();
  const todo = [pid];
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    const s = stats.get(p);
    if (s === undefined || tree.has(p)) continue;
    tree.set(p, s);
    todo.push(...(byParent.get(p) ?? []));
  }
  return tree;
}

/**
 * The process in the middle with all its descendants (Kamailio forks its UDP worker, timers and helpers;
 * Tandem and the floor relay have none, and read as `readProc`): CPU summed over the tree; memory as the
 * sum of `Pss:` from /proc/PID/smaps_rollup (shared memory, Kamailio's shm, counted once overall, not once
 * per process as VmRSS would), VmRSS where that is not readable.
 */
function readProcTree(pid: number | undefined): Proc | undefined {
  if (pid === undefined) return undefined;
  const tree = processTree(pid);
  if (tree.size <= 1) return readProc(pid);
  let cpuTicks = 0;
  let rssKiB = 0;
  for (const [p, s] of tree) {
    cpuTicks += s.cpuTicks;
    try {
      rssKiB += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      try {
        rssKiB += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      } catch {
        // gone
      }
    }
  }
  return { cpuSeconds: cpuTicks / CLK_TCK, rssKiB, hwmKiB: undefined };
}

/** Busy CPU seconds of the whole machine so far (all CPUs). */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLK_TCK;
}

/** True once something has bound the UDP port on 127.0.0.1 (read from /proc/net/udp). */
function udpBound(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  try {
    return readFileSync('/proc/net/udp', 'utf8')
      .split('\n')
      .some((l) => l.trim().split(/\s+/)[1]?.endsWith(hex) === true);
  } catch {
    return false;
  }
}

async function waitUdpBound(port: number, what: string, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!udpBound(port)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before binding UDP ${port}`);
    if (Date.now() > until) throw new Error(`${what} did not bind UDP ${port} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The pids of `tree` still running (the same pid with the same start time). */
function stillRunning(tree: ReadonlyMap<number, ProcStat>): number[] {
  return [...tree].filter(([p, { startTicks }]) => procStat(p)?.startTicks === startTicks).map(([p]) => p);
}

function killAll(pids: readonly number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** SIGKILL to `child` and all its descendants (on ^C, or when it fails to start). */
function killTree(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  killAll([...processTree(child.pid).keys()]);
}

/**
 * SIGTERM to `child` (SIGKILL after 3 s), then waits for its descendants as well: Kamailio's main process
 * ends its children on SIGTERM; any still running 3 s after it exited are SIGKILLed.
 */
async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const tree = processTree(child.pid);
  tree.delete(child.pid);
  await new Promise<void>((res) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      res();
    });
    child.kill('SIGTERM');
  });
  for (let waited = 0; stillRunning(tree).length > 0; waited += 100) {
    if (waited >= 3000) {
      killAll(stillRunning(tree));
      break;
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------------
// sipp

/** `hh:mm:ss:uuuuuu` (sipp's time columns) → milliseconds. */
function sippTimeMs(s: string | undefined): number | undefined {
  const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(s ?? '');
  if (m === null) return undefined;
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]) / 1000;
}

interface UacResult {
  exitCode: number | null;
  /** Calls asked for (`-m`). */
  calls: number;
  successful: number;
  /** Calls sipp counted as failed plus calls not finished (or not started) when the step ended. */
  failed: number;
  sippFailed: number;
  retransmissions: number;
  /** Mean INVITE → 200 time, ms. */
  responseMs: number | undefined;
  wallSeconds: number;
  /** CPU % of the uac sipp process (100 = one core). */
  uacCpu: number | undefined;
  errors: string;
}

function startUas(port: number): ChildProcess {
  return spawn('sipp', ['-sn', 'uas', '-i', '127.0.0.1', '-p', String(port), '-buff_size', String(SIPP_BUFFER), '-nostdin'], { stdio: 'ignore' });
}

async function runUac(target: string, localPort: number, rate: number, seconds: number): Promise<UacResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-sipp-'));
  const calls = Math.round(rate * seconds);
  // Concurrency cap: calls are short (no pause), so in steady state a few dozen are open; 2 s worth of calls
  // only fills up when the path stalls, and then sipp stops creating calls rather than piling them up.
  const limit = Math.max(100, rate * 2);
  const timeoutS = Math.ceil(seconds + STEP_GRACE_SECONDS);
  const args = [
    '-sn', 'uac', target, '-i', '127.0.0.1', '-p', String(localPort),
    '-r', String(rate), '-m', String(calls), '-l', String(limit), '-timeout', `${timeoutS}s`, '-buff_size', String(SIPP_BUFFER),
    '-nostdin', '-trace_err', '-error_file', join(dir, 'err.log'), '-trace_stat', '-stf', join(dir, 'stat.csv'), '-fd', '1',
  ];
  const started = performance.now();
  const child = spawn('sipp', args, { stdio: 'ignore' });
  const hardKill = setTimeout(() => child.kill('SIGKILL'), (timeoutS + 5) * 1000);
  let lastCpu: { cpuSeconds: number; at: number } | undefined;
  const poll = setInterval(() => {
    const p = readProc(child.pid);
    if (p !== undefined) lastCpu = { cpuSeconds: p.cpuSeconds, at: performance.now() };
  }, 200);
  const exitCode = await new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const wallSeconds = (performance.now() - started) / 1000;
  clearTimeout(hardKill);
  clearInterval(poll);
  let successful = 0;
  let sippFailed = 0;
  let retransmissions = 0;
  let responseMs: number | undefined;
  try {
    const lines = readFileSync(join(dir, 'stat.csv'), 'utf8').trim().split('\n');
    const head = lines[0]!.split(';');
    const last = lines.at(-1)!.split(';');
    const col = (name: string): string | undefined => last[head.indexOf(name)];
    successful = Number(col('SuccessfulCall(C)') ?? 0);
    sippFailed = Number(col('FailedCall(C)') ?? 0);
    retransmissions = Number(col('Retransmissions(C)') ?? 0);
    responseMs = sippTimeMs(col('ResponseTime1(C)'));
  } catch {
    // no stats: sipp failed early; every call counts as failed
  }
  let errors = '';
  try {
    errors = readFileSync(join(dir, 'err.log'), 'utf8').slice(0, 1000);
  } catch {
    // nothing logged
  }
  rmSync(dir, { recursive: true, force: true });
  const uacCpu = lastCpu === undefined ? undefined : (100 * lastCpu.cpuSeconds) / ((lastCpu.at - started) / 1000);
  return { exitCode, calls, successful, failed: calls - successful, sippFailed, retransmissions, responseMs, wallSeconds, uacCpu, errors };
}

// ---------------------------------------------------------------------------------------------------
// The process in the middle: Tandem, the floor relay, or Kamailio

type PathName = 'direct' | 'tandem' | 'floor' | 'kamailio';
const ALL_PATHS: readonly PathName[] = ['direct', 'tandem', 'floor', 'kamailio'];
const HAVE_KAMAILIO = spawnSync('kamailio', ['-v']).error === undefined;
/** Every path by default, `kamailio` only when it is installed. */
const DEFAULT_PATHS = ALL_PATHS.filter((p) => p !== 'kamailio' || HAVE_KAMAILIO);
const PATHS: readonly PathName[] = (process.env['BENCH_PATHS'] ?? DEFAULT_PATHS.join(',')).split(',').map((s) => {
  const p = s.trim() as PathName;
  if (!ALL_PATHS.includes(p)) throw new Error(`BENCH_PATHS: unknown path ${JSON.stringify(s)} (direct, tandem, floor, kamailio)`);
  if (p === 'kamailio' && !HAVE_KAMAILIO) throw new Error('BENCH_PATHS: kamailio not found on the PATH (apt-get install kamailio)');
  return p;
});

/** A process between uac and uas (Tandem, the floor relay or Kamailio's main process). */
interface Middle {
  child: ChildProcess;
  port: number;
  stderrTail(): string;
}

function watchOutput(child: ChildProcess): () => string {
  let tail = '';
  const keep = (d: Buffer): void => {
    tail = (tail + d.toString('utf8')).slice(-2000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => tail;
}

async function started(child: ChildProcess, port: number, what: string): Promise<Middle> {
  const stderrTail = watchOutput(child);
  try {
    await waitUdpBound(port, what, child);
  } catch (err) {
    killTree(child);
    throw new Error(`${(err as Error).message}\n${stderrTail()}`, { cause: err });
  }
  return { child, port, stderrTail };
}

function startTandem(port: number, uasPort: number, dir: string): Promise<Middle> {
  const config = {
    listeners: [{ name: 'sip', protocol: 'sip', address: `127.0.0.1:${port}` }],
    upstreams: [{ name: 'pbx', targets: [{ url: `sip:127.0.0.1:${uasPort};transport=udp` }] }],
    routes: [{ name: 'pbx', match: { sip: { domain: '127.0.0.1' } }, upstream: 'pbx' }],
    log: { level: 'warn', access: false },
  };
  const file = join(dir, 'tandem.yaml');
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`); // JSON is YAML
  const child = spawn(process.execPath, [...(process.env['TANDEM_NODE_FLAGS'] ?? '--max-semi-space-size=4').split(' ').filter(Boolean), 'src/cli.ts', 'start', '--config', file], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TANDEM_WATCH_CONFIG: '0' },
  });
  return started(child, port, 'tandem');
}

function startFloor(port: number, uasPort: number): Promise<Middle> {
  // The same Node.js and the same V8 flag as Tandem.
  const child = spawn(process.execPath, ['--max-semi-space-size=4', join(HERE, 'floor-relay.ts'), String(port), String(uasPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  return started(child, port, 'floor relay');
}

function startKamailio(port: number, uasPort: number, dir: string): Promise<Middle> {
  // __UAS_PORT__ first: __PORT__ is a suffix of it.
  const cfg = readFileSync(join(HERE, 'kamailio.cfg'), 'utf8')
    .replaceAll('__UAS_PORT__', String(uasPort))
    .replaceAll('__PORT__', String(port))
    .replace(/^children=\d+$/m, `children=${KAMAILIO_CHILDREN}`);
  const file = join(dir, 'kamailio.cfg');
  writeFileSync(file, cfg);
  // Foreground (-DD: no daemon, still forks its workers), log to stderr (-E), 1024 MiB shared, 16 MiB private memory per process.
  const child = spawn('kamailio', ['-f', file, '-DD', '-E', '-m', '1024', '-M', '16'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return started(child, port, 'kamailio');
}

// ---------------------------------------------------------------------------------------------------
// Steps

interface Step extends UacResult {
  path: PathName;
  rate: number;
  ok: boolean;
  /** Successful calls / wall time of the sipp run. */
  achievedPerSecond: number;
  /**
   * CPU % of the process in the middle (Tandem, the floor relay, Kamailio), summed over it and its descendant
   * processes, average over the step; 100 = one core.
   */
  middleCpu: number | undefined;
  /** Highest CPU % of the process in the middle over any ~1 s window of the step. */
  middlePeakCpu: number | undefined;
  /** CPU time of the process in the middle per successful call, ms. */
  middleCpuMsPerCall: number | undefined;
  /** VmRSS of a single process; for a process tree (Kamailio) the sum of its processes' Pss. */
  middleRssMiB: number | undefined;
  middlePeakRssMiB: number | undefined;
  uasCpu: number | undefined;
  /** Whole machine busy %, all CPUs (100 x cores = all busy). */
  machineCpu: number;
}

async function runStep(path: PathName, rate: number, target: string, uacPort: number, uas: ChildProcess, middle: Middle | undefined): Promise<Step> {
  const t0 = performance.now();
  const middleBefore = readProcTree(middle?.child.pid);
  const uasBefore = readProc(uas.pid);
  const machineBefore = machineBusySeconds();
  let peakRss = 0;
  let peakCpu = 0;
  let prev = middleBefore === undefined ? undefined : { cpuSeconds: middleBefore.cpuSeconds, at: t0 };
  const poll = setInterval(() => {
    const p = readProcTree(middle?.child.pid);
    if (p === undefined) return;
    peakRss = Math.max(peakRss, p.rssKiB);
    const now = performance.now();
    if (prev !== undefined) peakCpu = Math.max(peakCpu, (100 * (p.cpuSeconds - prev.cpuSeconds)) / ((now - prev.at) / 1000));
    prev = { cpuSeconds: p.cpuSeconds, at: now };
  }, 1000);
  const r = await runUac(target, uacPort, rate, STEP_SECONDS);
  clearInterval(poll);
  const seconds = (performance.now() - t0) / 1000;
  const middleAfter = readProcTree(middle?.child.pid);
  const uasAfter = readProc(uas.pid);
  const cpu = (a: Proc | undefined, b: Proc | undefined): number | undefined => (a === undefined || b === undefined ? undefined : (100 * (b.cpuSeconds - a.cpuSeconds)) / seconds);
  if (middleAfter !== undefined) peakRss = Math.max(peakRss, middleAfter.rssKiB);
  const middleCpuSeconds = middleBefore === undefined || middleAfter === undefined ? undefined : middleAfter.cpuSeconds - middleBefore.cpuSeconds;
  return {
    ...r,
    path,
    rate,
    ok: r.failed === 0 && r.successful === r.calls,
    achievedPerSecond: r.successful / r.wallSeconds,
    middleCpu: cpu(middleBefore, middleAfter),
    middlePeakCpu: middle === undefined ? undefined : peakCpu,
    middleCpuMsPerCall: middleCpuSeconds === undefined || r.successful === 0 ? undefined : (1000 * middleCpuSeconds) / r.successful,
    middleRssMiB: middleAfter === undefined ? undefined : middleAfter.rssKiB / 1024,
    middlePeakRssMiB: middle !== undefined && peakRss > 0 ? peakRss / 1024 : undefined,
    uasCpu: cpu(uasBefore, uasAfter),
    machineCpu: (100 * (machineBusySeconds() - machineBefore)) / seconds,
  };
}

const fmt = (n: number | undefined, digits = 0): string => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits));

function printTable(steps: readonly Step[]): void {
  const head = ['path', 'rate/s', 'calls', 'ok', 'failed', 'retrans', 'achieved/s', 'INV→200 ms', 'middle CPU% avg (peak 1 s)', 'middle CPU ms/call', 'middle RSS MiB end (peak)', 'uac CPU%', 'uas CPU%', 'machine CPU%', 'result'];
  const rows = steps.map((s) => [
    s.path,
    String(s.rate),
    String(s.calls),
    String(s.successful),
    String(s.failed),
    String(s.retransmissions),
    fmt(s.achievedPerSecond),
    fmt(s.responseMs, 2),
    s.path === 'direct' ? '-' : `${fmt(s.middleCpu)} (${fmt(s.middlePeakCpu)})`,
    fmt(s.middleCpuMsPerCall, 3),
    s.path === 'direct' ? '-' : `${fmt(s.middleRssMiB)} (${fmt(s.middlePeakRssMiB)})`,
    fmt(s.uacCpu),
    fmt(s.uasCpu),
    fmt(s.machineCpu),
    s.ok ? 'ok' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.info(line(head));
  console.info(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.info(line(r));
}

function best(steps: readonly Step[], path: PathName): number {
  return Math.max(0, ...steps.filter((s) => s.path === path && s.ok).map((s) => s.rate));
}

function gitRev(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

const pct = (r: number): string => `${(r * 100).toFixed(0)} %`;

async function main(): Promise<void> {
  if (spawnSync('sipp', ['-v']).error !== undefined) throw new Error('sipp not found on the PATH (apt-get install sip-tester)');
  const taken = new Set<number>();
  const ports = async (): Promise<{ middle: number; uas: number; uac: number }> => ({ middle: await freePort(taken), uas: await freePort(taken), uac: await freePort(taken) });
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-sip-'));
  const began = performance.now();
  console.info(`SIP benchmark: paths ${PATHS.join(', ')}; rates ${RATES.join(', ')} calls/s, ${STEP_SECONDS} s per step, UDP, ${cpus().length} CPUs, node ${process.version}, ${gitRev()}`);

  const setups = new Map<PathName, { target: string; uacPort: number; uas: ChildProcess; middle: Middle | undefined; ports: { middle: number; uas: number; uac: number } }>();
  const children = (): (ChildProcess | undefined)[] => [...setups.values()].flatMap((s) => [s.uas, s.middle?.child]);
  const onSignal = (): void => {
    for (const c of children()) if (c !== undefined) killTree(c);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const steps: Step[] = [];
  try {
    for (const path of PATHS) {
      const p = await ports();
      const uas = startUas(p.uas);
      setups.set(path, { target: `127.0.0.1:${p.uas}`, uacPort: p.uac, uas, middle: undefined, ports: p });
      await waitUdpBound(p.uas, `sipp uas (${path})`, uas);
      const middle =
        path === 'tandem' ? await startTandem(p.middle, p.uas, dir)
        : path === 'floor' ? await startFloor(p.middle, p.uas)
        : path === 'kamailio' ? await startKamailio(p.middle, p.uas, dir)
        : undefined;
      setups.set(path, { target: `127.0.0.1:${middle === undefined ? p.uas : p.middle}`, uacPort: p.uac, uas, middle, ports: p });
    }

    // Warm-up (not counted): JIT, sockets, sipp's caches, on every path.
    for (const path of PATHS) {
      const t = setups.get(path)!;
      const w = await runUac(t.target, t.uacPort, 100, 2);
      console.info(`warm-up ${path}: ${w.successful}/${w.calls} calls ok`);
      if (w.successful === 0) throw new Error(`warm-up ${path}: no call succeeded (exit ${w.exitCode}) ${w.errors}\n${t.middle?.stderrTail() ?? ''}`);
    }
    await sleep(SETTLE_MS);

    // Interleaved: at every rate every path, the order rotating so none is always first. A path that
    // failed a step is not stepped further (its ceiling is found); the others go on to their own.
    const done = new Set<PathName>();
    for (const [i, rate] of RATES.entries()) {
      if (done.size === PATHS.length) break;
      const order = PATHS.map((_, k) => PATHS[(k + i) % PATHS.length]!);
      for (const path of order) {
        if (done.has(path)) continue;
        const t = setups.get(path)!;
        const s = await runStep(path, rate, t.target, t.uacPort, t.uas, t.middle);
        steps.push(s);
        const cpu = t.middle !== undefined ? `, ${path} CPU ${fmt(s.middleCpu)} % avg, ${fmt(s.middlePeakCpu)} % peak, ${fmt(s.middleCpuMsPerCall, 3)} ms/call` : '';
        console.info(`  ${path.padEnd(8)} ${String(rate).padStart(5)}/s: ${s.successful}/${s.calls} ok, ${s.failed} failed, ${s.retransmissions} retrans${cpu}, ${s.wallSeconds.toFixed(1)} s`);
        if (!s.ok) done.add(path);
        const m = t.middle?.child;
        if (m !== undefined && (m.exitCode !== null || m.signalCode !== null)) throw new Error(`${path} exited during the run:\n${t.middle!.stderrTail()}`);
        await sleep(SETTLE_MS);
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await Promise.all(children().map((c) => stop(c)));
    rmSync(dir, { recursive: true, force: true });
  }

  console.info('');
  printTable(steps);
  const maxRate = Math.max(...RATES);
  const bests = new Map(PATHS.map((p) => [p, best(steps, p)]));
  // A path that never failed has its ceiling above the top rate: ratios against it are bounds only.
  const capped = (p: PathName): boolean => bests.get(p) === maxRate;
  const tandemBest = bests.get('tandem') ?? 0;
  const directBest = bests.get('direct') ?? 0;
  const floorBest = bests.get('floor');
  const kamailioBest = bests.get('kamailio');
  const ratio = directBest > 0 ? tandemBest / directBest : 0;
  const firstTandemFail = steps.filter((s) => s.path === 'tandem').find((s) => !s.ok);
  const rateMet = tandemBest >= TARGET_RATE;
  const directCapped = capped('direct');
  const ratioMet = ratio >= TARGET_RATIO && !directCapped;
  console.info('');
  console.info(`highest 0-failure rate (calls/s): ${PATHS.map((p) => `${p} ${bests.get(p)}${capped(p) ? '+ (top rate tested)' : ''}`).join(', ')}`);
  /** a / b, marked as a bound when a path's ceiling lies above the top rate tested. */
  const ratioText = (a: PathName, b: PathName): string => {
    const bb = bests.get(b) ?? 0;
    if (bb === 0) return '-';
    if (capped(a) && capped(b)) return 'unknown (both above the top rate tested)';
    return `${capped(a) ? '≥ ' : capped(b) ? '≤ ' : ''}${pct((bests.get(a) ?? 0) / bb)}`;
  };
  console.info(`tandem / direct: ${ratioText('tandem', 'direct')}`);
  if (floorBest !== undefined) {
    console.info(`floor / direct: ${ratioText('floor', 'direct')}  (a Node.js process that moves the datagrams and does no SIP work)`);
    console.info(`tandem / floor: ${ratioText('tandem', 'floor')}`);
  }
  if (kamailioBest !== undefined) {
    console.info(`kamailio / direct: ${ratioText('kamailio', 'direct')}  (Kamailio: a C transaction-stateful proxy, tm, one UDP worker)`);
    console.info(`tandem / kamailio: ${ratioText('tandem', 'kamailio')}`);
  }
  const cpuAt = (p: PathName, rate: number): number | undefined => steps.find((s) => s.path === p && s.rate === rate && s.ok)?.middleCpuMsPerCall;
  /** Tandem's CPU per call against `other`'s, at the highest rate both passed. */
  const cpuPerCall = (other: PathName, otherBest: number | undefined): void => {
    const common = Math.min(tandemBest, otherBest ?? 0);
    if (common === 0) return;
    const t = cpuAt('tandem', common);
    const o = cpuAt(other, common);
    if (t !== undefined && o !== undefined) console.info(`CPU per call at ${common} calls/s: tandem ${t.toFixed(3)} ms, ${other} ${o.toFixed(3)} ms (${(t / o).toFixed(1)}×)`);
  };
  cpuPerCall('floor', floorBest);
  cpuPerCall('kamailio', kamailioBest);
  if (firstTandemFail !== undefined) {
    console.info(`tandem first fails at ${firstTandemFail.rate} calls/s: ${firstTandemFail.failed} failed, tandem CPU ${fmt(firstTandemFail.middleCpu)} % avg over the step, ${fmt(firstTandemFail.middlePeakCpu)} % peak 1 s (100 = one core), machine CPU ${fmt(firstTandemFail.machineCpu)} % of ${cpus().length * 100} %`);
  }
  const lowerFails = steps.filter((s) => !s.ok && s.rate < (bests.get(s.path) ?? 0));
  if (lowerFails.length > 0) console.info(`note: failures below a path's highest passing rate (noise?): ${lowerFails.map((s) => `${s.path}@${s.rate}`).join(', ')}`);
  console.info(`target ≥ ${TARGET_RATE} calls/s through one Tandem process with 0 failures: ${tandemBest} → ${rateMet ? 'MET' : 'MISSED'}`);
  console.info(`target ≥ ${TARGET_RATIO * 100} % of the direct rate: ${directCapped ? '≤ ' : ''}${pct(ratio)} → ${ratioMet ? 'MET' : directCapped && ratio >= TARGET_RATIO ? 'NOT SHOWN (raise BENCH_RATES past the direct ceiling)' : 'MISSED'}`);
  console.info(`total ${((performance.now() - began) / 1000).toFixed(0)} s`);

  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(
    OUT,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        git: gitRev(),
        node: process.version,
        cpus: cpus().length,
        stepSeconds: STEP_SECONDS,
        rates: RATES,
        paths: PATHS,
        transport: 'udp',
        steps,
        summary: {
          best: Object.fromEntries(bests),
          tandemBest,
          directBest,
          floorBest,
          kamailioBest,
          ratio,
          targets: { rate: { target: TARGET_RATE, met: rateMet }, ratio: { target: TARGET_RATIO, met: ratioMet } },
          firstTandemFail: firstTandemFail === undefined ? undefined : { rate: firstTandemFail.rate, tandemCpu: firstTandemFail.middleCpu, tandemPeakCpu: firstTandemFail.middlePeakCpu, machineCpu: firstTandemFail.machineCpu },
        },
      },
      null,
      2,
    )}\n`,
  );
  console.info(`results: ${OUT}`);
}

await main();
