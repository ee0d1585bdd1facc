/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): self time per function (name, file:line), highest first,
 * plus self time per package/area (node internals, undici, fastify, pino, Tandem's src/...).
 *
 * Usage: node bench/http-proxy/profile-summary.ts FILE.cpuprofile [--top N]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTimeRow {
  readonly fn: string;
  readonly where: string;
  readonly area: string;
  /** Share of all sampled time, percent. */
  readonly percent: number;
  /** Share of the non-idle sampled time, percent. */
  readonly busyShare: number;
  readonly ms: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  /** Samples outside the idle/(program)/(garbage collector) pseudo-frames, percent. */
  readonly busyPercent: number;
  readonly functions: readonly SelfTimeRow[];
  readonly areas: readonly { area: string; percent: number; busyShare: number; ms: number }[];
}

/** Self time by function and by area of one profile file. */
export function summarise(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!;
    // A sample's weight is the time until the next sample.
    const dt = deltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(dt, 0));
  }
  let total = 0;
  for (const us of selfUs.values()) total += us;
  const fnTotals = new Map<string, { fn: string; where: string; area: string; us: number }>();
  const areaTotals = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const fn = functionName === '' ? '(anonymous)' : functionName;
    if (fn === '(idle)') idle += us;
    const where = url === '' ? '' : `${shortUrl(url)}:${lineNumber + 1}`;
    const area = areaOf(fn, url);
    const key = `${fn} ${where}`;
    const row = fnTotals.get(key) ?? { fn, where, area, us: 0 };
    row.us += us;
    fnTotals.set(key, row);
    areaTotals.set(area, (areaTotals.get(area) ?? 0) + us);
  }
  const pct = (us: number): number => (total === 0 ? 0 : (100 * us) / total);
  const busy = (us: number): number => (total - idle <= 0 ? 0 : (100 * us) / (total - idle));
  return {
    totalMs: total / 1000,
    busyPercent: pct(total - idle),
    functions: [...fnTotals.values()]
      .sort((a, b) => b.us - a.us)
      .map((r) => ({ fn: r.fn, where: r.where, area: r.area, percent: pct(r.us), busyShare: r.fn === '(idle)' ? 0 : busy(r.us), ms: r.us / 1000 })),
    areas: [...areaTotals.entries()].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, percent: pct(us), busyShare: area === '(idle)' ? 0 : busy(us), ms: us / 1000 })),
  };
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length);
  const src = url.indexOf('/src/');
  if (src !== -1) return url.slice(src + 1);
  const bench = url.indexOf('/bench/');
  if (bench !== -1) return url.slice(bench + 1);
  return url.replace(/^file:\/\//, '');
}

function areaOf(fn: string, url: string): string {
  if (fn === '(idle)') return '(idle)';
  if (fn === '(garbage collector)') return '(garbage collector)';
  if (fn === '(program)') return '(program: native, outside JS)';
  if (url === '') return '(native / builtin)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]!.replace(/^internal$/, 'internal')}${url.startsWith('node:internal/') ? `/${url.slice(14).split('/')[0]!.replace(/\.js$/, '')}` : ''}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = url.indexOf('/src/');
  if (src !== -1) return url.slice(src + 1);
  return url;
}

/** Renders a summary as text (top `top` functions). */
export function formatSummary(s: ProfileSummary, top = 25): string {
  const lines: string[] = [];
  lines.push(`profile: ${s.totalMs.toFixed(0)} ms sampled, ${s.busyPercent.toFixed(1)}% not idle; shares below are of the non-idle time`);
  lines.push('', 'self time by area:');
  for (const a of s.areas.filter((x) => x.area !== '(idle)').slice(0, 15)) lines.push(`  ${a.busyShare.toFixed(1).padStart(5)}%  ${a.area}`);
  lines.push('', `top ${top} functions by self time:`);
  for (const f of s.functions.filter((x) => x.fn !== '(idle)').slice(0, top)) lines.push(`  ${f.busyShare.toFixed(1).padStart(5)}%  ${f.fn.padEnd(40)} ${f.where}`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node bench/http-proxy/profile-summary.ts FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  const topIndex = process.argv.indexOf('--top');
  const top = topIndex === -1 ? 25 : Number(process.argv[topIndex + 1]);
  process.stdout.write(`${formatSummary(summarise(file), top)}\n`);
}
