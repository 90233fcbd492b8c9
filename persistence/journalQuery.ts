import type Database from 'better-sqlite3';
import { z } from 'zod';
import { StoreCorruptError } from '../core/errors.js';
import type { JournalQuery, JournalRecord } from './store.js';

/**
 * The SQL of a journal query, with a condition only for each filter that is set, so that
 * SQLite can use the journal's `(actor_id, seq)` key for `actorId`. There is no index on
 * `at`: SQLite scans and sorts; with a `limit` it keeps only the newest rows while sorting.
 */
export function journalQuerySql(query: JournalQuery): { sql: string; params: Record<string, string | number> } {
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
  const sql = [
    `SELECT j.actor_id, a.kind, j.seq, j.event_type, j.from_state, j.to_state, j.at, j.event${query.snapshots === true ? ', j.snapshot' : ''}`,
    'FROM journal AS j JOIN actors AS a ON a.id = j.actor_id',
    ...(where.length > 0 ? [`WHERE ${where.join(' AND ')}`] : []),
    query.limit === undefined ? 'ORDER BY j.at, j.actor_id, j.seq' : 'ORDER BY j.at DESC, j.actor_id DESC, j.seq DESC LIMIT @limit',
  ].join('\n');
  return { sql, params };
}

/** Reads the rows one at a time as the caller iterates; the statement starts on the first `next()`. */
export function* streamJournal(statement: Database.Statement, params: Record<string, string | number>): Generator<JournalRecord> {
  for (const row of statement.iterate(params)) yield rowToJournalRecord(row);
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
