/**
 * SQL of the PostgreSQL store (pgStore.ts) that is more than one line.
 * @internal
 */

/** `@name` placeholders (journalQuery.ts) as `$n` with their values in order. */
export function positional(sql: string, params: Record<string, string | number>): { text: string; values: (string | number)[] } {
  const names: string[] = [];
  const text = sql.replace(/@([a-zA-Z]+)/g, (_, name: string) => {
    let index = names.indexOf(name);
    if (index < 0) index = names.push(name) - 1;
    return `$${index + 1}`;
  });
  return { text, values: names.map((name) => params[name] ?? null) as (string | number)[] };
}

/**
 * The statements of one scheduler pass, sent as one simple query (one round trip), in one
 * REPEATABLE READ snapshot: every dispatch row, or (`units`, already escaped literals) only theirs.
 */
export const schedulerViewSql = (units: readonly string[] | null): string => [
  'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
  units === null
    ? 'SELECT * FROM dispatches ORDER BY created_at, pos'
    : `SELECT * FROM dispatches WHERE unit_id IN (${units.length === 0 ? 'NULL' : units.join(', ')}) ORDER BY created_at, pos`,
  'SELECT * FROM leases ORDER BY pos',
  'SELECT * FROM lease_ledger ORDER BY milestone_id',
  'SELECT key, value, updated_at FROM controls ORDER BY key',
  'SELECT * FROM unit_cancellations ORDER BY canceled_at, unit_id',
  'SELECT * FROM messages ORDER BY id',
  'SELECT * FROM commands WHERE done_at IS NULL ORDER BY id',
  'SELECT * FROM workspaces ORDER BY created_at, id',
  'COMMIT',
].join(';\n');

/**
 * The lease claim, one statement: a new milestone gets token 1; the same lease renews under its
 * token; a free or expired one goes to the new holder with the next token; a held one is
 * refused (no row returned). `$1` milestone, `$2` holder, `$3` lease id, `$4` expiry, `$5` now (ms).
 */
export const CLAIM_LEASE_SQL = `INSERT INTO lease_ledger AS l (milestone_id, holder_id, lease_id, fencing_token, expires_at) VALUES ($1, $2, $3, 1, $4)
  ON CONFLICT (milestone_id) DO UPDATE SET holder_id = EXCLUDED.holder_id, lease_id = EXCLUDED.lease_id, expires_at = EXCLUDED.expires_at,
    fencing_token = CASE WHEN l.lease_id = EXCLUDED.lease_id AND l.holder_id = EXCLUDED.holder_id THEN l.fencing_token ELSE l.fencing_token + 1 END
  WHERE (l.lease_id = EXCLUDED.lease_id AND l.holder_id = EXCLUDED.holder_id) OR l.holder_id IS NULL OR l.expires_at IS NULL OR l.expires_at <= $5
  RETURNING fencing_token`;
