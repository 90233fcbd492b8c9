import pg from 'pg';
import { StoreVersionError } from '../../core/errors.js';
import { connectionError } from './pgErrors.js';
import { PG_MIGRATIONS } from './pgSchema.js';
import type { PgTarget } from './pgTarget.js';

/**
 * Type parsers of the store's connections: BIGINT (int8, OID 20) as a JavaScript number (the
 * store keeps ms timestamps, fencing tokens and counters there, all far below 2^53) instead of
 * node-postgres's default string. Set per pool, never globally (a host's own pools keep theirs).
 * @internal
 */
export const STORE_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === 20 && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text') as (value: string) => unknown;
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** The key of the advisory lock that serializes migrations of one schema (any 64-bit number, fixed per schema). */
function migrationLockKey(schema: string): string {
  let hash = 0n;
  for (const byte of Buffer.from(`statecrew:${schema}`)) hash = (hash * 131n + BigInt(byte)) & 0x7fff_ffff_ffff_ffffn;
  return hash.toString();
}

/**
 * Creates the schema and applies pending migrations, each in its own transaction under a
 * transaction-level advisory lock (`pg_advisory_xact_lock`), so hosts starting at once all
 * succeed: the first applies, the others wait and then find nothing left to do.
 * @throws StoreVersionError when the schema was migrated by a newer statecrew.
 * @throws StoreConnectionError (via {@link connectionError}) when the role may not create the schema or its tables.
 * @internal
 */
export async function migrateSchema(client: pg.PoolClient, target: PgTarget, readonly: boolean): Promise<void> {
  const schema = `"${target.schema}"`;
  const lock = migrationLockKey(target.schema);
  const applied = async (): Promise<number> => {
    const exists = await client.query<{ present: boolean }>(
      "SELECT to_regclass($1) IS NOT NULL AS present", [`${target.schema}.schema_migrations`],
    );
    if (exists.rows[0]?.present !== true) return 0;
    const result = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${schema}.schema_migrations`);
    return Number(result.rows[0]?.version ?? 0);
  };
  const current = await applied();
  if (current > PG_MIGRATIONS.length || (readonly && current < PG_MIGRATIONS.length)) {
    throw new StoreVersionError(target.display, current, PG_MIGRATIONS.length);
  }
  for (let version = current; version < PG_MIGRATIONS.length; version++) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [lock]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`);
      const now = await applied();
      if (now > PG_MIGRATIONS.length) throw new StoreVersionError(target.display, now, PG_MIGRATIONS.length);
      if (now <= version) {
        await client.query(`SET LOCAL search_path TO ${schema}`);
        await client.query(PG_MIGRATIONS[version] ?? '');
        await client.query(`INSERT INTO ${schema}.schema_migrations (version, applied_at) VALUES ($1, $2)`, [version + 1, Date.now()]);
      }
      await client.query('COMMIT');
    } catch (error) {
      // A failed ROLLBACK means the connection broke: the server rolls the transaction back
      // itself, and the caller destroys the client; the migration's own error is what to report.
      const rollback = await client.query('ROLLBACK').then(() => null, (rollbackError: unknown) => rollbackError);
      if (error instanceof StoreVersionError) throw error;
      throw connectionError(rollback === null ? error : new AggregateError([error, rollback], `migration ${version + 1} failed, then its ROLLBACK`), target);
    }
  }
}
