import { UsageError } from '../../core/errors.js';

/** Where a PostgreSQL store is, for messages: never the password. */
export interface PgTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** The schema statecrew's tables live in. */
  readonly schema: string;
  /** `postgres://user@host:port/database?schema=…`: the URL without its password. */
  readonly display: string;
}

/** statecrew's schema when the URL names none. */
export const DEFAULT_SCHEMA = 'statecrew';

/** True for a `postgres://` or `postgresql://` URL (the `--store` value, the plan's `store`, `STATECREW_STORE`). */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/**
 * Reads a PostgreSQL URL: `postgres[ql]://user[:password]@host[:port]/database[?schema=name]`
 * (port 5432 by default; `schema` defaults to `statecrew`, lower-case letters, digits and `_`).
 * The password is kept out of everything returned but `connectionString`.
 * @throws UsageError naming what is malformed (never echoing the password).
 */
export function parsePgUrl(location: string, schemaOverride?: string): { target: PgTarget; connectionString: string } {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new UsageError(`malformed PostgreSQL URL ${redactUrl(location)}: expected postgres://user:password@host:port/database`);
  }
  if (!isPostgresUrl(location)) throw new UsageError(`not a PostgreSQL URL: ${redactUrl(location)} (expected postgres:// or postgresql://)`);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (url.hostname === '') throw new UsageError(`PostgreSQL URL ${redactUrl(location)} names no host`);
  if (database === '' || database.includes('/')) throw new UsageError(`PostgreSQL URL ${redactUrl(location)} names no database (expected …/database)`);
  const schema = schemaOverride ?? url.searchParams.get('schema') ?? DEFAULT_SCHEMA;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new UsageError(`schema ${JSON.stringify(schema)} of ${redactUrl(location)}: expected lower-case letters, digits and _ (at most 63), starting with a letter or _`);
  }
  const port = url.port === '' ? 5432 : Number(url.port);
  const user = decodeURIComponent(url.username);
  url.searchParams.delete('schema');
  const connectionString = url.toString();
  const display = `postgres://${user === '' ? '' : `${user}@`}${url.hostname}:${port}/${database}${schema === DEFAULT_SCHEMA ? '' : `?schema=${schema}`}`;
  return { target: { host: url.hostname, port, database, user, schema, display }, connectionString };
}

/** `location` with any password replaced by `***`, for messages about a URL that may not even parse. */
export function redactUrl(location: string): string {
  return location.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}
