import { z } from 'zod';
import { StoreCorruptError } from '../core/errors.js';
import type { JournalQuery, JournalRecord } from './journalTypes.js';

/**
 * The SQL of a journal query, with a condition only for each filter that is set, so that
 * SQLite can use the journal's `(actor_id, seq)` key for `actorId`. There is no index on
 * `at`: SQLite scans and sorts; with a `limit` it keeps only the newest rows while sorting.
 */
export function journalQuerySql(query: JournalQuery, pageSize?: number): { sql: string; params: Record<string, string | number> } {
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  if (query.actorId !== undefined) {
    where.push('j.actor_id = @actorId');
    params.actorId = query.actorId;
  }
  if (query.kind !== undefined) {
    where.push('a.kind = @kind');
    params.kind = query.kind;
  }
  if (query.since !== undefined) {
    where.push('j.at >= @since');
    params.since = query.since;
  }
  if (query.limit !== undefined) {
    if (!Number.isInteger(query.limit) || query.limit < 1) {
      throw new RangeError(`journal limit must be a whole number of at least 1, got ${query.limit}`);
    }
    params.limit = query.limit;
  }
  const paged = query.limit === undefined && pageSize !== undefined;
  if (paged) {
    // Keyset pagination: each page starts after the last row of the previous one.
    where.push('(j.at, j.actor_id, j.seq) > (@afterAt, @afterActor, @afterSeq)');
    params.page = pageSize;
  }
  const sql = [
    `SELECT j.actor_id, a.kind, j.seq, j.event_type, j.from_state, j.to_state, j.at, j.event${query.snapshots === true ? ', j.snapshot' : ''}`,
    'FROM journal AS j JOIN actors AS a ON a.id = j.actor_id',
    ...(where.length > 0 ? [`WHERE ${where.join(' AND ')}`] : []),
    query.limit === undefined ? `ORDER BY j.at, j.actor_id, j.seq${paged ? ' LIMIT @page' : ''}` : 'ORDER BY j.at DESC, j.actor_id DESC, j.seq DESC LIMIT @limit',
  ].join('\n');
  return { sql, params };
}

/**
 * Reads the rows a page at a time as the caller iterates (keyset pagination on the sort key),
 * so the connection is free between pages for the caller's other calls. `read` runs one page's
 * statement (synchronously for SQLite, one round trip for a network store); it is called again
 * only when the previous page was used up.
 */
export async function* pageJournal(
  read: (params: Record<string, string | number>) => unknown[] | Promise<unknown[]>,
  params: Record<string, string | number>,
  pageSize: number,
): AsyncGenerator<JournalRecord> {
  let after: Record<string, string | number> = { afterAt: Number.MIN_SAFE_INTEGER, afterActor: '', afterSeq: 0 };
  for (;;) {
    const rows = await read({ ...params, ...after });
    for (const row of rows) yield rowToJournalRecord(row);
    const last = rows.at(-1);
    if (rows.length < pageSize || last === undefined) return;
    const record = rowToJournalRecord(last);
    after = { afterAt: record.at, afterActor: record.actorId, afterSeq: record.seq };
    // A page boundary: let other work (and other calls on this connection) run.
    await Promise.resolve();
  }
}

const journalRecordRow = z.object({
  actor_id: z.string(),
  kind: z.enum(['supervisor', 'worker', 'lease', 'dispatch']),
  seq: z.number().int(),
  event_type: z.string(),
  from_state: z.string().nullable(),
  to_state: z.string(),
  at: z.number().int(),
  event: z.string().nullable(),
  snapshot: z.string().optional(),
});

export function rowToJournalRecord(row: unknown): JournalRecord {
  const result = journalRecordRow.safeParse(row);
  if (!result.success) {
    throw new StoreCorruptError(`corrupt row in journal: ${z.prettifyError(result.error)}`, { cause: result.error });
  }
  const r = result.data;
  return {
    actorId: r.actor_id,
    kind: r.kind,
    seq: r.seq,
    eventType: r.event_type,
    fromState: r.from_state,
    toState: r.to_state,
    at: r.at,
    event: r.event,
    ...(r.snapshot === undefined ? {} : { snapshot: r.snapshot }),
  };
}
