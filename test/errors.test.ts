import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_ERROR_CODES, TandemError } from '../src/errors.ts';

describe('error registry', () => {
  it('docs/errors.md lists every code with its status, and nothing else', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `(TANDEM_ERR_[A-Z0-9_]+)` \| (\d+) \|/gm)].map((m) => [m[1], Number(m[2])]);
    const registry = Object.entries(ALL_ERROR_CODES).map(([code, d]) => [code, d.status]);
    expect(rows).toEqual(registry);
  });

  it('every code is TANDEM_ERR_* and a TandemError serialises as { code, message }', () => {
    for (const code of Object.keys(ALL_ERROR_CODES)) expect(code).toMatch(/^TANDEM_ERR_[A-Z0-9_]+$/);
    const err = new TandemError('TANDEM_ERR_NO_ROUTE', 'no route for GET /x');
    expect(JSON.parse(JSON.stringify(err))).toEqual({ code: 'TANDEM_ERR_NO_ROUTE', message: 'no route for GET /x' });
    expect(err.status).toBe(404);
  });
});
