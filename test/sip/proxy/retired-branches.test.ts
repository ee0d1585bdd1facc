/** The branches a serial failover retired (src/sip/proxy/retired-branches.ts): found by branch id, forgotten per server transaction. */
import { describe, expect, it } from 'vitest';
import { RetiredBranches } from '../../../src/sip/proxy/retired-branches.ts';

describe('RetiredBranches', () => {
  it('finds a retired branch by its id until its server transaction is forgotten; only the first retire of a server asks to watch it', () => {
    const retired = new RetiredBranches<object, string>();
    const [one, two] = [{}, {}];
    expect(retired.retire(one, 'z9hG4bKa.h', 'a')).toBe(true);
    expect(retired.retire(one, 'z9hG4bKb.h', 'b')).toBe(false);
    expect(retired.retire(two, 'z9hG4bKc.h', 'c')).toBe(true);
    expect(retired.find('z9hG4bKb.h')).toEqual({ server: one, context: 'b' });
    expect(retired.find('z9hG4bKx.h')).toBeUndefined();
    expect(retired.find(undefined)).toBeUndefined();
    expect(retired.size).toBe(3);

    retired.forget(one);
    expect(retired.find('z9hG4bKa.h')).toBeUndefined();
    expect(retired.find('z9hG4bKb.h')).toBeUndefined();
    expect(retired.find('z9hG4bKc.h')?.context).toBe('c');
    expect(retired.size).toBe(1);
    retired.forget(one);
    retired.forget(two);
    expect(retired.size).toBe(0);
    expect(retired.retire(one, 'z9hG4bKd.h', 'd')).toBe(true);
  });
});
