import * as rows from '../rows.js';
import type { NotificationRecord, NotificationWrite } from '../types.js';

/** Runs one statement: `write` counts it as this connection's change, `query` does not. */
type Run = (operation: string, text: string, values?: unknown[]) => Promise<unknown[]>;

/**
 * Migration 7 (SQLite 16): the notification outbox, and `commit_job_notify(jsonb)`: one job's
 * transitions (`commit_job`, unchanged) and the notifications they cause, in one statement,
 * all or nothing. Released migration texts never change.
 * @internal
 */
export const PG_NOTIFICATIONS_MIGRATION = `
  CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    key TEXT COLLATE "C" NOT NULL UNIQUE,
    event TEXT NOT NULL,
    sink TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    taken_by TEXT,
    taken_until BIGINT,
    delivered_at BIGINT,
    last_error TEXT
  );
  CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE state = 'pending';
  CREATE TRIGGER notifications_changed AFTER INSERT OR UPDATE OR DELETE ON notifications FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
  CREATE FUNCTION commit_job_notify(job jsonb) RETURNS void LANGUAGE plpgsql AS $fn$
  BEGIN
    PERFORM commit_job(job);
    INSERT INTO notifications (key, event, sink, body, created_at, next_attempt_at)
      SELECT n->>'key', n->>'event', n->>'sink', n->>'body', (n->>'createdAt')::BIGINT, (n->>'createdAt')::BIGINT
      FROM jsonb_array_elements(job) AS w, jsonb_array_elements(coalesce(w->'notifications', '[]'::jsonb)) AS n
      ON CONFLICT (key) DO NOTHING;
  END
  $fn$;
`;

/** Migration 8 (SQLite 17): trace contexts of units (persistence/roles/traceContexts.ts). @internal */
export const PG_TRACE_CONTEXTS_MIGRATION = `
  CREATE TABLE trace_contexts (subject TEXT COLLATE "C" PRIMARY KEY, traceparent TEXT NOT NULL, created_at BIGINT NOT NULL);
`;

const INSERT = `INSERT INTO notifications (key, event, sink, body, created_at, next_attempt_at)
  SELECT n->>'key', n->>'event', n->>'sink', n->>'body', (n->>'createdAt')::BIGINT, (n->>'createdAt')::BIGINT
  FROM jsonb_array_elements($1::jsonb) AS n
  ON CONFLICT (key) DO NOTHING RETURNING id`;

const CLAIM = `UPDATE notifications SET taken_by = $1, taken_until = $2, attempts = attempts + 1
  WHERE id IN (SELECT id FROM notifications WHERE state = 'pending' AND next_attempt_at <= $3
    AND (taken_until IS NULL OR taken_until < $3 OR taken_by IN (SELECT id FROM runtimes WHERE state = 'dead'))
    ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
  RETURNING *`;

/** The notification outbox role on PostgreSQL (the PostgresStore's methods delegate here). @internal */
export class PgNotificationOutbox {
  constructor(
    private readonly query: Run,
    private readonly write: Run,
  ) {}

  async enqueue(notifications: readonly NotificationWrite[]): Promise<number> {
    if (notifications.length === 0) return 0;
    return (await this.write('enqueueNotifications', INSERT, [JSON.stringify(notifications)])).length;
  }

  async claim(request: { runtimeId: string; now: number; claimMs: number; limit: number }): Promise<NotificationRecord[]> {
    const claimed = await this.write('claimNotifications', CLAIM, [request.runtimeId, request.now + request.claimMs, request.now, request.limit]);
    return claimed.map(rows.rowToNotification).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id);
  }

  async record(
    id: number,
    runtimeId: string,
    outcome: { readonly delivered: true; readonly at: number } | { readonly delivered: false; readonly error: string; readonly retryAt: number | null },
  ): Promise<boolean> {
    const updated = outcome.delivered
      ? await this.write(
          'recordNotificationAttempt',
          `UPDATE notifications SET state = 'delivered', delivered_at = $3, taken_by = NULL, taken_until = NULL, last_error = NULL
           WHERE id = $1 AND taken_by = $2 AND state = 'pending' RETURNING id`,
          [id, runtimeId, outcome.at],
        )
      : await this.write(
          'recordNotificationAttempt',
          `UPDATE notifications SET state = CASE WHEN $4::BIGINT IS NULL THEN 'failed' ELSE 'pending' END,
             next_attempt_at = coalesce($4::BIGINT, next_attempt_at), last_error = $3, taken_by = NULL, taken_until = NULL
           WHERE id = $1 AND taken_by = $2 AND state = 'pending' RETURNING id`,
          [id, runtimeId, outcome.error, outcome.retryAt],
        );
    return updated.length === 1;
  }

  async list(): Promise<NotificationRecord[]> {
    return (await this.query('listNotifications', 'SELECT * FROM notifications ORDER BY id')).map(rows.rowToNotification);
  }
}
