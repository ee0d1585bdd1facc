import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.ts';
import { loadConfigFile, parseConfigText, substituteEnv } from '../../src/routes/config-load.ts';
import { validateConfig } from '../../src/routes/config-validate.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function problems(doc: unknown, code = 'TANDEM_ERR_CONFIG_INVALID'): { path: string; message: string }[] {
  try {
    validateConfig(doc);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe(code);
    return [...(err as ConfigError).details];
  }
  throw new Error('expected the config to be invalid');
}

const upstream = { name: 'app', targets: [{ url: 'http://127.0.0.1:9001' }] };

describe('config validation', () => {
  it('fills every default of a minimal config (only name, match, upstream and targets[].url)', () => {
    const { config } = validateConfig({ upstreams: [upstream], routes: [{ name: 'r', match: {}, upstream: 'app' }] });
    expect(config.listeners).toEqual([{ name: 'web', protocol: 'http', address: '127.0.0.1:8080', host: '127.0.0.1', port: 8080, keepaliveMs: 30_000, allowedOrigins: undefined }]);
    expect(config.sip).toEqual({ t1Ms: 500, t2Ms: 4000, t4Ms: 5000, timerCMs: 180_000 });
    const u = config.upstreams[0]!;
    expect(u.loadBalancer).toBe('roundRobin');
    expect(u.timeouts).toEqual({ connectMs: 1000, requestMs: 15000, idleMs: 60000 });
    expect(u.targets[0]).toMatchObject({ weight: 1, authority: '127.0.0.1:9001' });
    const r = config.routes[0]!;
    expect(r.listeners).toEqual(['web']);
    expect(r.match.path).toEqual({ kind: 'prefix', prefix: '/' });
    expect(r).toMatchObject({ stripPrefix: false, websocket: false, preserveHost: true });
    expect(config.limits).toEqual({ bodyBytes: 10 * 1024 * 1024, headerBytes: 16 * 1024 });
  });

  it('reports a route naming an unknown upstream with its path, as a reference problem (422)', () => {
    const list = problems({ upstreams: [upstream], routes: [{ name: 'a', match: {}, upstream: 'app' }, { name: 'b', match: {}, upstream: 'app' }, { name: 'c', match: {}, upstream: 'pbx' }] }, 'TANDEM_ERR_CONFIG_REFERENCE');
    expect(list).toContainEqual({ path: 'routes[2].upstream', message: 'unknown upstream "pbx"' });
  });

  it('reports every problem at once, each with its path', () => {
    const list = problems({
      listeners: [{ name: 'web', address: '127.0.0.1:8080', protocol: 'gopher' }],
      upstreams: [{ name: 'app', targets: [] }],
      routes: [{ name: 'r', upstream: 'app', match: { path: 'no-slash' }, extra: 1 }],
    });
    const paths = list.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['listeners[0].protocol', 'upstreams[0].targets', 'routes[0].match.path', 'routes[0].extra']));
    expect(list.find((p) => p.path === 'listeners[0].protocol')?.message).toContain('"gopher" is not one of');
    expect(list.find((p) => p.path === 'routes[0].extra')?.message).toBe('is not a known field');
  });

  it('refuses duplicate names, two listeners on one address, unknown listeners and bad target URLs', () => {
    const list = problems({
      listeners: [{ name: 'a', address: '127.0.0.1:8080' }, { name: 'b', address: '127.0.0.1:8080' }],
      upstreams: [upstream, { name: 'app', targets: [{ url: 'ftp://x:21' }, { url: 'http://h:1/path' }] }],
      routes: [{ name: 'r', match: {}, upstream: 'app', listener: 'nope' }],
    });
    expect(list).toContainEqual({ path: 'listeners[1].address', message: '127.0.0.1:8080 is already used by listener "a"' });
    expect(list).toContainEqual({ path: 'upstreams[1].name', message: 'duplicate name "app" (also upstreams[0])' });
    expect(list).toContainEqual({ path: 'routes[0].listener', message: 'unknown listener "nope"' });
    expect(list.find((p) => p.path === 'upstreams[1].targets[0].url')?.message).toContain('ftp:');
    expect(list.find((p) => p.path === 'upstreams[1].targets[1].url')?.message).toContain('origin only');
  });

  it('refuses a SIP route on an http listener, an HTTP route on a sip listener, and mixed targets', () => {
    const list = problems({
      listeners: [{ name: 'web', address: '127.0.0.1:8080' }, { name: 'sip', protocol: 'sip', address: '127.0.0.1:5060' }],
      upstreams: [upstream, { name: 'pbx', targets: [{ url: 'sip:127.0.0.1:5070;transport=tcp' }] }, { name: 'mixed', targets: [{ url: 'sip:127.0.0.1:5071' }, { url: 'http://127.0.0.1:1' }] }],
      routes: [
        { name: 'a', listener: 'web', match: { sip: { domain: 'pbx.local' } }, upstream: 'pbx' },
        { name: 'b', listener: 'sip', match: { pathPrefix: '/x' }, upstream: 'app' },
        { name: 'c', listener: 'sip', match: { sip: { domain: 'x' } }, upstream: 'app' },
      ],
    });
    expect(list).toEqual(
      expect.arrayContaining([
        { path: 'upstreams[2].targets', message: 'mixes http(s)/ws and sip targets' },
        { path: 'routes[0].listener', message: 'listener "web" is not a sip listener' },
        { path: 'routes[1].listener', message: expect.stringContaining('HTTP routes need an http listener') },
        { path: 'routes[2].upstream', message: 'upstream "app" has no sip: targets' },
      ]),
    );
  });

  it('refuses path and pathPrefix together, stripPrefix without a prefix, and an invalid header regex', () => {
    const list = problems({
      upstreams: [upstream],
      routes: [
        { name: 'a', match: { path: '/x', pathPrefix: '/y' }, upstream: 'app' },
        { name: 'b', match: { path: '/x' }, upstream: 'app', stripPrefix: true },
        { name: 'c', match: { headers: { 'x-a': { regex: '(' } } }, upstream: 'app' },
      ],
    });
    expect(list.map((p) => p.path)).toEqual(['routes[0].match.path', 'routes[1].stripPrefix', 'routes[2].match.headers.x-a.regex']);
  });

  it('accepts healthCheck on a SIP upstream (probed with OPTIONS); a path other than the default is ignored with a warning', () => {
    const base = { listeners: [{ name: 'sip', protocol: 'sip', address: '127.0.0.1:5060' }], routes: [{ name: 'pbx', match: { sip: { domain: 'pbx.local' } }, upstream: 'pbx' }] };
    const pbx = (healthCheck: Record<string, unknown>) => ({ ...base, upstreams: [{ name: 'pbx', targets: [{ url: 'sip:127.0.0.1:5070' }], healthCheck }] });
    const plain = validateConfig(pbx({ intervalMs: 2000 }));
    expect(plain.config.upstreams[0]!.healthCheck).toEqual({ path: '/healthz', intervalMs: 2000, timeoutMs: 1000, unhealthyThreshold: 3, healthyThreshold: 2 });
    expect(plain.warnings).toEqual([]);
    expect(validateConfig(pbx({ path: '/healthz' })).warnings).toEqual([]);
    const withPath = validateConfig(pbx({ path: '/ping' }));
    expect(withPath.warnings).toEqual([{ path: 'upstreams[0].healthCheck.path', message: 'ignored for sip: targets (they are probed with SIP OPTIONS)' }]);
  });

  it('accepts the contract example (HTTP and SIP routes, sip and sip-ws listeners) without warnings', () => {
    const { config, warnings } = validateConfig(
      parseConfigText(`
listeners:
  - { name: web, protocol: http, address: 127.0.0.1:8080 }
  - { name: sip, protocol: sip, address: 127.0.0.1:5060 }
  - { name: sip-ws, protocol: sip-ws, address: 127.0.0.1:5066 }
upstreams:
  - name: whoami
    targets: [{ url: http://127.0.0.1:9001, weight: 1 }]
    loadBalancer: roundRobin
    timeouts: { connectMs: 1000, requestMs: 15000 }
    retries: { attempts: 2, on: [connectFailure, 502, 503], backoffMs: 25, budgetPercent: 20 }
    circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 20, rollingWindowMs: 10000, resetTimeoutMs: 5000 }
    healthCheck: { path: /healthz, intervalMs: 5000, timeoutMs: 1000, unhealthyThreshold: 3, healthyThreshold: 2 }
  - name: pbx
    targets: [{ url: "sip:127.0.0.1:5070;transport=udp" }]
routes:
  - { name: whoami, listener: web, match: { pathPrefix: /whoami, hosts: ["*"], methods: [GET, POST] }, upstream: whoami }
  - { name: pbx, listener: [sip, sip-ws], match: { sip: { domain: pbx.local } }, upstream: pbx }
`),
    );
    expect(config.routes.map((r) => r.name)).toEqual(['whoami', 'pbx']);
    expect(config.routes[1]!.match.sip).toEqual({ domain: 'pbx.local', methods: [], userPrefix: undefined });
    expect(config.routes[1]!.listeners).toEqual(['sip', 'sip-ws']);
    expect(config.routes[1]!.registrar).toBe('upstream');
    expect(config.upstreams[1]!.targets[0]!.sip).toEqual({ transport: 'udp', host: '127.0.0.1', port: 5070 });
    expect(warnings).toEqual([]);
  });
});

describe('config files', () => {
  it('substitutes ${env:NAME}, with defaults and $${ escapes', () => {
    const out = substituteEnv({ a: '${env:T_A}', b: 'x-${env:T_MISSING:-dflt}-y', c: ['$${env:T_A}'] }, { T_A: 'alpha' });
    expect(out).toEqual({ a: 'alpha', b: 'x-dflt-y', c: ['${env:T_A}'] });
  });

  it('reports an unset variable without default with its path', () => {
    try {
      substituteEnv({ admin: { token: '${env:NOPE_TOKEN}' } }, {});
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).details).toEqual([{ path: 'admin.token', message: expect.stringContaining('NOPE_TOKEN is not set') }]);
    }
  });

  it('reads JSON as well as YAML, and reports parse errors with line:column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-config-'));
    const json = join(dir, 'c.json');
    writeFileSync(json, JSON.stringify({ upstreams: [upstream], routes: [{ name: 'r', match: {}, upstream: 'app' }] }));
    expect((await loadConfigFile(json)).config.routes).toHaveLength(1);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'routes:\n  - name: [unclosed\n');
    await expect(loadConfigFile(bad)).rejects.toMatchObject({ code: 'TANDEM_ERR_CONFIG_READ', details: [{ path: expect.stringMatching(/bad\.yaml:\d+:\d+$/) }] });
    await expect(loadConfigFile(join(dir, 'missing.yaml'))).rejects.toMatchObject({ code: 'TANDEM_ERR_CONFIG_READ' });
  });

  it('the embedded default config is valid', async () => {
    const { config } = await loadConfigFile(join(root, 'config/tandem.yaml'));
    expect(config.routes.map((r) => r.name)).toEqual(['whoami', 'echo']);
  });
});

describe('tandem CLI', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['src/cli.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 20_000 });

  it('tandem validate exits 0 on a valid file', () => {
    const r = cli(['validate', 'config/tandem.yaml']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('valid');
  });

  it('tandem validate and tandem start exit 2 on an invalid file, printing every problem with its path, before listening', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'listeners: [{ name: web, address: "127.0.0.1:0" }]\nupstreams: [{ name: app, targets: [{ url: "http://127.0.0.1:1" }] }]\nroutes:\n  - { name: a, match: {}, upstream: app }\n  - { name: b, match: {}, upstream: pbx }\n');
    for (const args of [['validate', file], ['start', '--config', file]]) {
      const r = cli(args);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('routes[1].upstream: unknown upstream "pbx"');
      expect(r.stdout).not.toContain('listening');
    }
  });
});
