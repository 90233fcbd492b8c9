import path from 'node:path';
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { PostgresStore } from './postgres/pgStore.js';
import { isPostgresUrl, redactUrl } from './postgres/pgTarget.js';
import { SqliteStore, type Durability } from './sqliteStore.js';
import type { Store } from './store.js';

/** How {@link openStoreAt} opens a store. */
export interface OpenStoreOptions {
  /** Open for reading only: never create, never migrate (`status`, `journal`, `logs`, `inspect`, `doctor`). @default false */
  readonly readonly?: boolean;
  /** Fail instead of creating a store that does not exist. @default false */
  readonly mustExist?: boolean;
  /** SQLite `synchronous`. @default 'normal' */
  readonly durability?: Durability;
}

/**
 * Opens the store at `location` with the backend that serves it: a `postgres://` or
 * `postgresql://` URL opens a {@link PostgresStore} (it connects and migrates lazily: await
 * {@link Store.ready} to learn whether it can be used), anything else is a SQLite file path.
 * Everything outside `persistence/` opens stores through here and knows only {@link Store}.
 * @throws UsageError when a PostgreSQL URL is malformed.
 * @throws StoreNotFoundError when `readonly` or `mustExist` is set and there is no store there.
 * @throws StoreCorruptError / StoreVersionError when it cannot be used.
 * @throws StoreUnavailableError when another process held its lock past `busyTimeoutMs` while it was migrated (SQLite's own busy handler waits there: the store is not open yet).
 */
export function openStoreAt(location: string, options: OpenStoreOptions = {}): Store {
  if (isPostgresUrl(location)) {
    return new PostgresStore(location, { ...(options.readonly === undefined ? {} : { readonly: options.readonly }), ...(options.mustExist === undefined ? {} : { mustExist: options.mustExist }) });
  }
  return SqliteStore.fromPath(location, options);
}

/**
 * Wraps a host's `pg.Pool` in a {@link PostgresStore} (tables in `schema`, default `statecrew`,
 * created and migrated on first use; the pool is never ended by the store).
 */
export function storeFromPool(pool: pg.Pool, options: { schema?: string } = {}): Store {
  return new PostgresStore(pool, options);
}

/**
 * Wraps an open better-sqlite3 `Database` a host created itself (migrating it first).
 * @throws StoreVersionError when its schema is newer than this statecrew.
 */
export function storeFromDatabase(db: Database.Database, options: Pick<OpenStoreOptions, 'durability'> = {}): Store {
  return new SqliteStore(db, options);
}

/**
 * A store location as given (a `--store` value, a plan's `store`, `STATECREW_STORE`) made
 * absolute: a PostgreSQL URL as it is, a SQLite path resolved against `cwd`.
 */
export function resolveStoreLocation(location: string, cwd: string): string {
  return isPostgresUrl(location) ? location : path.resolve(cwd, location);
}

/**
 * Where turn logs go by default for a store at `location` (absolute, see
 * {@link resolveStoreLocation}): `logs/` beside a SQLite file; for a PostgreSQL store, which has
 * no folder, `.statecrew/logs` under `cwd`.
 */
export function defaultLogsDir(location: string, cwd: string): string {
  return isPostgresUrl(location) ? path.join(cwd, '.statecrew', 'logs') : path.join(path.dirname(location), 'logs');
}

export { isPostgresUrl, redactUrl };
