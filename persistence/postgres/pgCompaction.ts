import type pg from 'pg';
import { DEFAULT_COMPACT_LIMIT } from '../sqliteCompaction.js';
import type { CompactionCategory, CompactionState } from '../roles/retention.js';
import { rowToCompactionCandidate, rowToCompactionCursor } from '../rows.js';

/** Where a category's cursor lives in `meta` (as in the SQLite store). */
const cursorKey = (category: CompactionCategory): string => `compaction.${category}`;

/** What one category's batch dropped. */
export interface CategoryResult {
  readonly actors: number;
  readonly rows: number;
  readonly full: boolean;
}

/**
 * One category's batch of {@link StoreRetention.compact} on PostgreSQL, inside the caller's
 * transaction: the next `limit` finished actors after the category's cursor (index
 * `actors_finished`, PostgreSQL migration 6), their rows dropped, the cursor moved.
 */
export async function compactCategory(client: pg.PoolClient, category: CompactionCategory, before: number, limit: number = DEFAULT_COMPACT_LIMIT): Promise<CategoryResult> {
  const cursor = await readCursor(client, category);
  const kinds = category === 'turnOutput' ? "AND kind = 'dispatch'" : '';
  const found = await client.query(
    `SELECT id, seq, updated_at FROM actors
       WHERE status = 'done' ${kinds} AND updated_at < $1 AND (updated_at, id) > ($2, $3)
       ORDER BY updated_at, id LIMIT $4
       FOR UPDATE`,
    [before, cursor?.at ?? -1, cursor?.id ?? '', limit],
  );
  const candidates = found.rows.map(rowToCompactionCandidate);
  const ids = candidates.map((candidate) => candidate.id);
  let rows = 0;
  let actors = candidates.length;
  if (ids.length > 0) {
    if (category === 'journal') {
      rows = (await client.query('DELETE FROM journal WHERE actor_id = ANY($1::text[])', [ids])).rowCount ?? 0;
    } else if (category === 'turnOutput') {
      rows = ((await client.query('DELETE FROM turn_events WHERE dispatch_id = ANY($1::text[])', [ids])).rowCount ?? 0)
        + ((await client.query('DELETE FROM turn_output WHERE dispatch_id = ANY($1::text[])', [ids])).rowCount ?? 0);
    } else {
      actors = (await client.query("DELETE FROM actors WHERE id = ANY($1::text[]) AND status = 'done'", [ids])).rowCount ?? 0;
    }
    const last = candidates[candidates.length - 1];
    if (last !== undefined) {
      await client.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [
        cursorKey(category),
        JSON.stringify({ at: last.updatedAt, id: last.id }),
      ]);
    }
  }
  return { actors, rows, full: candidates.length === limit };
}

/** Every category's cursor (see {@link CompactionState}). */
export async function readCompactionState(client: pg.PoolClient): Promise<CompactionState> {
  const through = async (category: CompactionCategory) => ({ through: (await readCursor(client, category))?.at ?? null });
  return { journal: await through('journal'), turnOutput: await through('turnOutput'), actors: await through('actors') };
}

async function readCursor(client: pg.PoolClient, category: CompactionCategory): Promise<{ at: number; id: string } | null> {
  const found = await client.query('SELECT value FROM meta WHERE key = $1', [cursorKey(category)]);
  const row: unknown = found.rows[0];
  return row === undefined ? null : rowToCompactionCursor(cursorKey(category), row);
}
