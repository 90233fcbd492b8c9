import type Database from 'better-sqlite3';
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
 * Opens the store at `location` — today a SQLite file path — with the backend that serves it.
 * Everything outside `persistence/` opens stores through here and knows only {@link Store}.
 * @throws StoreNotFoundError when `readonly` or `mustExist` is set and there is no store there.
 * @throws StoreCorruptError / StoreVersionError when it cannot be used.
 * @throws StoreUnavailableError when another process held its lock past `busyTimeoutMs` while it was migrated (SQLite's own busy handler waits there: the store is not open yet).
 */
export function openStoreAt(location: string, options: OpenStoreOptions = {}): Store {
  return SqliteStore.fromPath(location, options);
}

/**
 * Wraps an open better-sqlite3 `Database` a host created itself (migrating it first).
 * @throws StoreVersionError when its schema is newer than this statecrew.
 */
export function storeFromDatabase(db: Database.Database, options: Pick<OpenStoreOptions, 'durability'> = {}): Store {
  return new SqliteStore(db, options);
}
