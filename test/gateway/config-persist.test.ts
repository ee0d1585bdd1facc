import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/gateway/gateway.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { loadConfigFile } from '../../src/routes/config-load.ts';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.stop(100);
  gateway = undefined;
});

describe('persisting admin changes to the config file', () => {
  it('writes atomically, keeps env references, and keeps the comments of sections it did not change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-persist-'));
    const file = join(dir, 'tandem.yaml');
    writeFileSync(
      file,
      ['# Tandem config for the shop', 'log:', '  level: warn # keep it quiet', 'listeners:', '  - name: web', '    address: 127.0.0.1:0', 'admin:', '  address: 127.0.0.1:0', '  token: ${env:PERSIST_TOKEN:-}', 'upstreams:', '  # the shop backend', '  - name: shop', '    targets: [{ url: "http://127.0.0.1:9" }]', 'routes: []', ''].join('\n'),
    );
    const { config, document } = await loadConfigFile(file);
    gateway = await Gateway.start(config, createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() })), { document, file });
    await gateway.configManager!.putRoute('shop', { match: { pathPrefix: '/shop' }, upstream: 'shop' }, { actor: { source: 'admin' } });
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# Tandem config for the shop');
    expect(text).toContain('level: warn # keep it quiet');
    expect(text).toContain('# the shop backend');
    expect(text).toContain('token: ${env:PERSIST_TOKEN:-}');
    expect(text).toMatch(/routes:\n {2}- match:\n {6}pathPrefix: \/shop/);
    const again = await loadConfigFile(file);
    expect(again.config.routes.map((r) => r.name)).toEqual(['shop']);
    expect(again.document).toEqual(gateway.configManager!.current().document);
  });
});
