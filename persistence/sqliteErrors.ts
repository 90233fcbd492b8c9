import Database from 'better-sqlite3';
import { DispatchConflictError, OwnershipLostError, PersistError, StaleFencingTokenError } from '../core/errors.js';
import type { TransitionWrite } from './types.js';

/**
 * Runs a write, retrying it when SQLite still reports `SQLITE_BUSY` after waiting its
 * `busy_timeout` for the lock (another process held it that long): up to `retries` more
 * times, so a write waits up to `(retries + 1) × busy_timeout` before it fails.
 * @internal
 */
export function retryBusy<T>(retries: number, write: () => T): T {
  for (let attempt = 0; ; attempt++) {
    try {
      return write();
    } catch (error) {
      const busy = error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY');
      if (!busy || attempt >= retries) throw error;
    }
  }
}

/** Maps a failed transition write to the typed error the store's contract names. @internal */
export function classifyWriteError(write: TransitionWrite, error: unknown): Error {
  if (error instanceof StaleFencingTokenError || error instanceof OwnershipLostError || error instanceof DispatchConflictError) return error;
  if (
    error instanceof Database.SqliteError &&
    error.code === 'SQLITE_CONSTRAINT_UNIQUE' &&
    error.message.includes('dispatches.unit_id') &&
    write.projection.kind === 'dispatch'
  ) {
    return new DispatchConflictError(write.projection.row.unitId, { cause: error });
  }
  return new PersistError(write.actorId, { cause: error });
}

