import Database from 'better-sqlite3';
import { StatecrewError, StoreFailedError, StoreUnavailableError } from '../core/errors.js';

/**
 * Maps anything a better-sqlite3 call threw to the store's typed errors, by SQLite's error code
 * (never by a message's text): typed refusals pass through; `SQLITE_BUSY` / `SQLITE_LOCKED`
 * (the lock was still held after the store's `busyTimeoutMs`) become {@link StoreUnavailableError}, to be
 * retried; everything else — `SQLITE_FULL`, `SQLITE_IOERR_*`, `SQLITE_CORRUPT`, a closed
 * connection — becomes {@link StoreFailedError}, which stops the runtime.
 * @internal
 */
export function classifySqliteError(operation: string, error: unknown): StatecrewError {
  if (error instanceof StatecrewError) return error;
  if (error instanceof Database.SqliteError && (error.code.startsWith('SQLITE_BUSY') || error.code.startsWith('SQLITE_LOCKED'))) {
    return new StoreUnavailableError(`store ${operation}: the database is locked by another process (${error.code})`, { cause: error, retryAfterMs: 100 });
  }
  return new StoreFailedError(operation, { cause: error });
}

/** True for SQLite's unique-constraint error code (the dispatch table's only unique index is one active dispatch per unit). @internal */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code === 'SQLITE_CONSTRAINT_UNIQUE';
}
