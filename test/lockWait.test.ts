import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StoreUnavailableError } from '../core/errors.js';
import { LockWait } from '../persistence/lockWait.js';

/** A call that finds the lock busy `busyTimes` times, then returns 'written'; records the (fake) time of each attempt. */
function busyCall(busyTimes: number, attempts: number[]): () => string {
  return () => {
    attempts.push(performance.now());
    if (attempts.length <= busyTimes) throw new Database.SqliteError('database is locked', 'SQLITE_BUSY');
    return 'written';
  };
}

/** Gaps between consecutive attempts, in ms. */
const gaps = (times: number[]): number[] => times.slice(1).map((t, i) => Math.round(t - times[i]!));

describe('LockWait', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    // The jitter factor is 0.5 + random: 1 exactly.
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('tries a busy call again on SQLite\'s own busy-handler schedule: 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, then 100 ms', async () => {
    const attempts: number[] = [];
    const result = new LockWait(5_000).run('commitJob', busyCall(14, attempts));
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(result).resolves.toBe('written');
    expect(gaps(attempts)).toEqual([1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100, 100, 100]);
  });

  it('spreads the delays by a factor of 0.5 to 1.5, so that processes waiting for one lock do not retry in step', async () => {
    const requested: number[] = [];
    const fakeSetTimeout = globalThis.setTimeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((callback: () => void, ms: number) => {
      requested.push(ms);
      return fakeSetTimeout(callback, ms);
    }) as typeof setTimeout);
    vi.spyOn(Math, 'random').mockReturnValue(0);
    void new LockWait(5_000).run('commitJob', busyCall(4, []));
    await vi.advanceTimersByTimeAsync(100);
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    void new LockWait(5_000).run('commitJob', busyCall(4, []));
    await vi.advanceTimersByTimeAsync(100);
    expect(requested.slice(0, 4)).toEqual([0.5, 1, 2.5, 5]);
    expect(requested.slice(4).map((ms) => +ms.toFixed(3))).toEqual([1.499, 2.998, 7.495, 14.99]);
  });

  it('cuts the last delay to what is left of the budget, then fails with StoreUnavailableError (retry)', async () => {
    const attempts: number[] = [];
    const result = new LockWait(60).run('claimLease', busyCall(Infinity, attempts));
    const settled = expect(result).rejects.toMatchObject({ recovery: 'retry', cause: { code: 'SQLITE_BUSY' } });
    await vi.advanceTimersByTimeAsync(200);
    await settled;
    await expect(result).rejects.toBeInstanceOf(StoreUnavailableError);
    // 1 + 2 + 5 + 10 + 15 + 20 = 53 ms, then the 25 ms delay is cut to the 7 ms left.
    expect(gaps(attempts)).toEqual([1, 2, 5, 10, 15, 20, 7]);
  });

  it('keeps calls in call order while the first one waits', async () => {
    const wait = new LockWait(5_000);
    const order: string[] = [];
    const busy = busyCall(3, []);
    const first = wait.run('commitJob', () => {
      busy();
      order.push('first');
    });
    const second = wait.run('listActors', () => order.push('second'));
    expect(wait.waiting).toBe(2);
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
  });
});
