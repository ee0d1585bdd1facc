import { describe, expect, it } from 'vitest';
import * as fsm from '../../src/fsm/index.ts';
import { FSM_ERROR_CODES, FsmError } from '../../src/fsm/index.ts';

const classes = (Object.values(fsm) as unknown[]).filter(
  (value): value is new (message?: string, options?: fsm.FsmErrorOptions) => FsmError =>
    typeof value === 'function' && (value as { prototype: unknown }).prototype instanceof FsmError,
);

describe('error registry', () => {
  it('every error class has a stable code in FSM_ERROR_CODES, status 500, details [] and a cause', () => {
    const cause = new Error('underlying');
    const codes = classes.map((Class) => {
      const error = new Class(undefined, { cause });
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(Class.name);
      expect(error.status).toBe(500);
      expect(error.details).toEqual([]);
      expect(error.cause).toBe(cause);
      expect(error.message).toBe(FSM_ERROR_CODES[error.code].message);
      return error.code;
    });
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.sort()).toEqual(Object.keys(FSM_ERROR_CODES).sort());
  });

  it('the required codes exist, each with status, message and description', () => {
    for (const code of [
      'TANDEM_ERR_FSM_INVALID_SPEC',
      'TANDEM_ERR_FSM_INVALID_RESULT',
      'TANDEM_ERR_FSM_CALL_TIMEOUT',
      'TANDEM_ERR_FSM_NOT_RUNNING',
      'TANDEM_ERR_SUP_INVALID_CHILD_SPEC',
      'TANDEM_ERR_SUP_DUPLICATE_CHILD',
      'TANDEM_ERR_SUP_MAX_INTENSITY',
      'TANDEM_ERR_SUP_CHILD_START',
      'TANDEM_ERR_SUP_NO_CHILD',
    ] as const) {
      expect(FSM_ERROR_CODES[code]).toMatchObject({ status: 500, message: expect.any(String), description: expect.any(String) });
    }
  });

  it('custom messages and details are kept', () => {
    const error = new fsm.InvalidChildSpecError('bad', { details: [{ path: 'children[0].id', message: 'must be a non-empty string' }] });
    expect(error.message).toBe('bad');
    expect(error.details).toEqual([{ path: 'children[0].id', message: 'must be a non-empty string' }]);
  });
});

describe('exit reasons', () => {
  it('normal, shutdown and { shutdown } are clean; killed and { error } are not', () => {
    expect(fsm.isCleanExit('normal')).toBe(true);
    expect(fsm.isCleanExit('shutdown')).toBe(true);
    expect(fsm.isCleanExit({ shutdown: 'drained' })).toBe(true);
    expect(fsm.isCleanExit('killed')).toBe(false);
    expect(fsm.isCleanExit({ error: new Error('x') })).toBe(false);
  });

  it('describeExit renders reasons for messages', () => {
    expect(fsm.describeExit({ error: new TypeError('bad') })).toBe('error (TypeError: bad)');
    expect(fsm.describeExit({ shutdown: { route: 'a' } })).toBe('shutdown ({"route":"a"})');
  });
});

describe('docs', () => {
  it('docs/fsm.md lists every error code', async () => {
    const { readFileSync } = await import('node:fs');
    const docs = readFileSync(new URL('../../docs/fsm.md', import.meta.url), 'utf8');
    for (const code of Object.keys(FSM_ERROR_CODES)) expect(docs).toContain(`| \`${code}\` |`);
  });
});
