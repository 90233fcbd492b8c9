import type Database from 'better-sqlite3';
import type { CompactionCategory, CompactionState, CompactRequest, CompactResult } from './roles/retention.js';
import { rowToCompactionCandidate, rowToCompactionCursor } from './rows.js';

/** Actors handled per category and call when the request does not say. */
export const DEFAULT_COMPACT_LIMIT = 200;

const CATEGORIES: readonly CompactionCategory[] = ['journal', 'turnOutput', 'actors'];

/**
 * The request's `limit`, checked before any I/O (both stores).
 * @throws RangeError when it is not a positive integer.
 */
export function compactLimit(request: CompactRequest): number {
  const limit = request.limit ?? DEFAULT_COMPACT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  return limit;
}

/** Where a category's cursor lives in `meta`: `{"at": <finish time>, "id": <actor id>}` of the last actor it handled. */
const cursorKey = (category: CompactionCategory): string => `compaction.${category}`;

interface Cursor {
  readonly at: number;
  readonly id: string;
}

/**
 * The SQLite side of {@link StoreRetention} (`persistence/roles/retention.ts`): finished actors
 * in (finish time, id) order after each category's cursor, through the partial index
 * `actors_finished` (migration 15), a batch of them per transaction. Synchronous: the store
 * calls it inside its own error handling.
 */
export class SqliteCompaction {
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    const finished = (kinds: string) => db.prepare(
      `SELECT id, seq, updated_at FROM actors
         WHERE status = 'done' ${kinds} AND updated_at < @before AND (updated_at > @at OR (updated_at = @at AND id > @id))
         ORDER BY updated_at, id LIMIT @limit`,
    );
    this.statements = {
      finishedActors: finished(''),
      finishedDispatches: finished("AND kind = 'dispatch'"),
      cursorGet: db.prepare('SELECT value FROM meta WHERE key = ?'),
      cursorSet: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      journalDelete: db.prepare('DELETE FROM journal WHERE actor_id = ?'),
      turnEventsDelete: db.prepare('DELETE FROM turn_events WHERE dispatch_id = ?'),
      turnOutputDelete: db.prepare('DELETE FROM turn_output WHERE dispatch_id = ?'),
      actorDelete: db.prepare("DELETE FROM actors WHERE id = ? AND status = 'done'"),
    };
  }

  compact(request: CompactRequest): CompactResult {
    const limit = compactLimit(request);
    const result = { journalActors: 0, journalRows: 0, turnOutputDispatches: 0, turnOutputRows: 0, actors: 0, more: false };
    const s = this.statements;
    for (const category of CATEGORIES) {
      const before = request.before[category];
      if (before === undefined || before === null) continue;
      const batch = this.db.transaction(() => {
        const cursor = this.cursor(category) ?? { at: -1, id: '' };
        const query = category === 'turnOutput' ? s.finishedDispatches : s.finishedActors;
        const candidates = query.all({ before, at: cursor.at, id: cursor.id, limit }).map(rowToCompactionCandidate);
        for (const actor of candidates) {
          if (category === 'journal') {
            result.journalRows += s.journalDelete.run(actor.id).changes;
            result.journalActors++;
          } else if (category === 'turnOutput') {
            result.turnOutputRows += s.turnEventsDelete.run(actor.id).changes + s.turnOutputDelete.run(actor.id).changes;
            result.turnOutputDispatches++;
          } else {
            result.actors += s.actorDelete.run(actor.id).changes;
          }
        }
        const last = candidates.at(-1);
        if (last !== undefined) s.cursorSet.run(cursorKey(category), JSON.stringify({ at: last.updatedAt, id: last.id }));
        if (candidates.length === limit) result.more = true;
      });
      batch.immediate();
    }
    return result;
  }

  state(): CompactionState {
    const through = (category: CompactionCategory) => ({ through: this.cursor(category)?.at ?? null });
    return { journal: through('journal'), turnOutput: through('turnOutput'), actors: through('actors') };
  }

  private cursor(category: CompactionCategory): Cursor | null {
    const row: unknown = this.statements.cursorGet.get(cursorKey(category));
    return row === undefined ? null : rowToCompactionCursor(cursorKey(category), row);
  }
}
