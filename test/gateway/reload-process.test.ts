/**
 * Live reload of a running `tandem start` process from its config file: SIGHUP and the file watch take
 * the same path as admin writes; a file that fails validation changes nothing and is logged once with
 * every problem.
 */
import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { closedPort, startBackend, type Backend } from '../helpers/backend.ts';
import { spawnGateway, type GatewayProcess } from '../fixtures/gateway-process.ts';

let proc: GatewayProcess | undefined;
let backends: Backend[] = [];
afterEach(async () => {
  await proc?.kill();
  await Promise.all(backends.map((b) => b.close()));
  proc = undefined;
  backends = [];
});

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

const statusOf = async (url: string): Promise<number> => {
  const res = await request(url);
  await res.body.dump();
  return res.statusCode;
};

function doc(a: Backend, routes: Record<string, unknown>[], port: number): Record<string, unknown> {
  return {
    log: { level: 'info', access: false },
    listeners: [{ name: 'web', protocol: 'http', address: `127.0.0.1:${port}` }],
    upstreams: [{ name: 'a', targets: [{ url: a.url }] }],
    routes,
  };
}

describe('reload from the config file', () => {
  it('SIGHUP applies the edited file; a file that fails validation changes nothing and is logged once with every problem', async () => {
    backends = [await startBackend(undefined, 'a')];
    const a = backends[0]!;
    const port = await closedPort();
    proc = await spawnGateway(doc(a, [{ name: 'one', match: { pathPrefix: '/one' }, upstream: 'a' }], port), { env: { TANDEM_WATCH_CONFIG: '0' } });
    expect(await statusOf(`${proc.url}/two`)).toBe(404);
    writeFileSync(proc.file, JSON.stringify(doc(a, [{ name: 'one', match: { pathPrefix: '/one' }, upstream: 'a' }, { name: 'two', match: { pathPrefix: '/two' }, upstream: 'a' }], port)));
    proc.child.kill('SIGHUP');
    await until(async () => (await statusOf(`${proc!.url}/two`)) === 200);
    await until(() => proc!.logs.some((l) => l['audit'] === true && l['source'] === 'signal'));

    writeFileSync(proc.file, JSON.stringify(doc(a, [{ name: 'one', match: { pathPrefix: 'bad' }, upstream: 'nope', extra: 1 }], port)));
    proc.child.kill('SIGHUP');
    await until(() => proc!.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('config reload rejected')));
    const rejected = proc.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('config reload rejected'));
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!['problems']).toEqual(expect.arrayContaining([expect.stringContaining('routes[0].extra'), expect.stringContaining('routes[0].match.pathPrefix')]));
    // The running config stays.
    expect(await statusOf(`${proc.url}/one`)).toBe(200);
    expect(await statusOf(`${proc.url}/two`)).toBe(200);

    // An unreadable (unparsable) file: the same.
    writeFileSync(proc.file, 'routes: [unclosed');
    proc.child.kill('SIGHUP');
    await until(() => proc!.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('config reload rejected')).length === 2);
    expect(await statusOf(`${proc.url}/two`)).toBe(200);
  });

  it('an edit of the watched file is applied without a signal', async () => {
    backends = [await startBackend(undefined, 'a')];
    const a = backends[0]!;
    const port = await closedPort();
    proc = await spawnGateway(doc(a, [{ name: 'one', match: { pathPrefix: '/one' }, upstream: 'a' }], port));
    await new Promise((r) => setTimeout(r, 200)); // the watch is set up right after start
    writeFileSync(proc.file, JSON.stringify(doc(a, [{ name: 'three', match: { pathPrefix: '/three' }, upstream: 'a' }], port)));
    const ms = await until(async () => (await statusOf(`${proc!.url}/three`)) === 200);
    expect(await statusOf(`${proc.url}/one`)).toBe(404);
    await until(() => proc!.logs.some((l) => l['audit'] === true && l['source'] === 'file'));
    console.info(`file watch: edit live after ${ms} ms`);
  });
});
