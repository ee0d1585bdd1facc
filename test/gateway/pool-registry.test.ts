import { describe, expect, it } from 'vitest';
import { PoolRegistry } from '../../src/gateway/pool-registry.ts';

const settings = { connections: 8, pipelining: 1, keepAliveMs: 4000, connectMs: 1000, headersTimeoutMs: 1000, bodyTimeoutMs: 1000 };

describe('pool registry (pools shared across config versions)', () => {
  it('a second version of an upstream leases the same pool for an unchanged target', async () => {
    const registry = new PoolRegistry(50);
    const v1 = registry.lease('http://127.0.0.1:9', settings);
    const v2 = registry.lease('http://127.0.0.1:9', settings);
    expect(v2.pool).toBe(v1.pool);
    const other = registry.lease('http://127.0.0.1:9', { ...settings, connections: 9 });
    expect(other.pool).not.toBe(v1.pool);
    v1.release();
    expect(v1.pool.closed).toBe(false);
    await registry.close();
  });

  it('a pool no version leases lingers, is reused within the linger, and closes after it', async () => {
    const registry = new PoolRegistry(50);
    const a = registry.lease('http://127.0.0.1:9', settings);
    a.release();
    const again = registry.lease('http://127.0.0.1:9', settings);
    expect(again.pool).toBe(a.pool);
    again.release();
    await new Promise((r) => setTimeout(r, 120));
    expect(a.pool.closed).toBe(true);
    expect(registry.size).toBe(0);
    expect(registry.lease('http://127.0.0.1:9', settings).pool).not.toBe(a.pool);
    await registry.close();
  });
});
