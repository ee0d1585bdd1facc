import { describe, expect, it } from 'vitest';
import { hash64 } from '../../src/sip/hash.ts';

describe('hash64', () => {
  it('is deterministic, 16 hex digits, and spreads nearby inputs', () => {
    expect(hash64('abc')).toBe(hash64('abc'));
    expect(hash64('abc')).toMatch(/^[0-9a-f]{16}$/);
    expect(hash64('')).toMatch(/^[0-9a-f]{16}$/);
    const seen = new Set<string>();
    for (let i = 0; i < 50_000; i++) seen.add(hash64(`z9hG4bK-${i}|ACK|127.0.0.1:5060`));
    expect(seen.size).toBe(50_000);
    expect(hash64('a\u0000b')).not.toBe(hash64('ab'));
  });
});
