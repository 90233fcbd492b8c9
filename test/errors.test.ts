import { describe, expect, it } from 'vitest';
import {
  ConcurrentWriteError,
  DispatchConflictError,
  ensureError,
  OwnershipLostError,
  PlanError,
  recoveryOf,
  StaleFencingTokenError,
  StoreCorruptError,
  StoreFailedError,
  StoreUnavailableError,
  UsageError,
} from '../core/errors.js';

describe('ensureError', () => {
  it('returns an Error as it is', () => {
    const error = new TypeError('boom');
    expect(ensureError(error)).toBe(error);
  });

  it('never throws on what JSON cannot write: a circular object, a BigInt, undefined', () => {
    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    expect(ensureError(circular).message).toMatch(/loop.*Circular/);
    expect(ensureError(circular).cause).toBe(circular);
    expect(ensureError(12n).message).toBe('12n');
    expect(ensureError({ big: 3n }).message).toMatch(/big: 3n/);
    expect(ensureError(undefined).message).toBe('undefined was thrown (no error value)');
    expect(ensureError(null).message).toBe('null');
    expect(ensureError('plain text').message).toBe('plain text');
  });
});

describe('recovery', () => {
  it('says what the caller must do for every error type', () => {
    expect(new StoreUnavailableError('locked', { retryAfterMs: 250 })).toMatchObject({ recovery: 'retry', retryAfterMs: 250, code: 'STORE_UNAVAILABLE' });
    expect(new StoreFailedError('commitJob', { cause: new Error('disk full') })).toMatchObject({
      recovery: 'stop',
      operation: 'commitJob',
      message: 'store commitJob failed: disk full',
    });
    expect(new StaleFencingTokenError('m', 1, 2).recovery).toBe('fenced');
    expect(new DispatchConflictError('u').recovery).toBe('fenced');
    expect(new OwnershipLostError('a', 'r1', 'r2').recovery).toBe('fenced');
    expect(new ConcurrentWriteError('a', 3, 1).recovery).toBe('fenced');
    expect(new StoreCorruptError('bad row').recovery).toBe('stop');
    expect(new PlanError('plan.yaml', []).recovery).toBe('fix');
    expect(new UsageError('twice').recovery).toBe('fix');
    expect(recoveryOf(new Error('unknown'))).toBe('stop');
    expect(recoveryOf('thrown text')).toBe('stop');
  });
});
