import Database from 'better-sqlite3';
import type { StatecrewError } from '../core/errors.js';
import { classifySqliteError } from './sqliteErrors.js';

/** A call waiting for the database lock, in call order. */
interface Waiting {
  readonly operation: string;
  readonly body: () => unknown;
  readonly since: number;
  attempts: number;
  resolve(value: unknown): void;
  reject(error: StatecrewError): void;
}

/** True for the codes SQLite returns when another connection holds the lock it needs. */
function isLockBusy(error: unknown): boolean {
  return error instanceof Database.SqliteError && (error.code.startsWith('SQLITE_BUSY') || error.code.startsWith('SQLITE_LOCKED'));
}

/**
 * Delays between attempts, in ms: SQLite's own default busy handler's schedule
 * (`sqliteDefaultBusyCallback` in sqlite3.c: 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, then
 * 100 from the twelfth attempt on). Backing off this far matters with several processes on one
 * file: each attempt opens a read transaction, which keeps the WAL from being reset and the
 * other connections' page caches from staying valid. Benchmark 4 with four processes claimed
 * about 11 % faster with this schedule than with 1, 1, 2, 2, 4, 4, 8 ms (bench/analysis.md).
 */
const RETRY_DELAYS_MS = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100] as const;

/**
 * Delay before the next attempt after `failures` failed ones (≥ 1), in ms: {@link RETRY_DELAYS_MS},
 * scaled by a random factor in [0.5, 1.5) so that processes waiting for one lock do not retry in step.
 */
function retryDelayMs(failures: number): number {
  const index = Math.min(Math.max(failures, 1), RETRY_DELAYS_MS.length) - 1;
  return RETRY_DELAYS_MS[index]! * (0.5 + Math.random());
}

/**
 * Runs a SQLite store's synchronous calls in the order they were made, and waits for a lock
 * held by another process asynchronously: the connection's own `busy_timeout` is 0, so a
 * locked `BEGIN IMMEDIATE` fails at once, and the call is tried again after a timer
 * ({@link RETRY_DELAYS_MS}: 1 ms growing to 100 ms, jittered) until it succeeds or `budgetMs`
 * has passed since it was made. SQLite's own busy handler waits the same delays, but sleeps
 * inside the call, blocking the event loop (heartbeats, turn output, timers) for up to
 * `busy_timeout`.
 *
 * Order is kept: while a call waits, later calls queue behind it, so a caller's read after its
 * write sees the write. A lock-busy failure is only ever returned before anything was written
 * (SQLite takes every lock a write needs at `BEGIN IMMEDIATE`, or rolls the statement back),
 * so trying again is safe.
 * @internal
 */
export class LockWait {
  private readonly queue: Waiting[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** @param budgetMs how long one call may wait for the lock before it fails with `StoreUnavailableError`, in ms. */
  constructor(private readonly budgetMs: number) {}

  /**
   * Runs `body` now when nothing is waiting, else after the calls before it.
   * @returns what `body` returned.
   * @throws (rejects with) StoreUnavailableError when the lock stayed busy through `budgetMs`;
   *   any other error `body` threw, typed by {@link classifySqliteError}.
   */
  run<T>(operation: string, body: () => T): Promise<T> {
    if (this.queue.length === 0) {
      try {
        return Promise.resolve(body());
      } catch (error) {
        if (!isLockBusy(error)) return Promise.reject(classifySqliteError(operation, error));
      }
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ operation, body, since: performance.now(), attempts: this.queue.length === 0 ? 1 : 0, resolve, reject });
      if (this.queue.length === 1) this.schedule(this.queue[0]!);
    });
  }

  /** Number of calls waiting for the lock (for tests and diagnostics). */
  get waiting(): number {
    return this.queue.length;
  }

  /** Tries `head` again after its next delay, cut to what is left of its budget (as SQLite's busy handler cuts its last sleep). */
  private schedule(head: Waiting): void {
    const left = this.budgetMs - (performance.now() - head.since);
    this.timer = setTimeout(() => this.drain(), Math.max(0, Math.min(retryDelayMs(head.attempts), left)));
  }

  /** Runs queued calls in order until one finds the lock busy (then waits again) or none is left. */
  private drain(): void {
    this.timer = undefined;
    for (let head = this.queue[0]; head !== undefined; head = this.queue[0]) {
      head.attempts++;
      try {
        const value = head.body();
        this.queue.shift();
        head.resolve(value);
      } catch (error) {
        if (isLockBusy(error) && performance.now() - head.since < this.budgetMs) {
          this.schedule(head);
          return;
        }
        this.queue.shift();
        head.reject(classifySqliteError(head.operation, error));
      }
    }
  }
}
