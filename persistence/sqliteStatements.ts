import type Database from 'better-sqlite3';
import type { Projection } from './types.js';

/** The SQL of every statement of the SQLite store. */
const SQL = {
  turnEventInsert: 'INSERT OR IGNORE INTO turn_events (dispatch_id, line, type, subtype, body) VALUES (?, ?, ?, ?, ?)',
  turnEventsOf: 'SELECT * FROM turn_events WHERE dispatch_id = ? ORDER BY line',
  turnOutputInsert: 'INSERT INTO turn_output (dispatch_id, byte_offset, bytes) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  turnOutputTrim: `DELETE FROM turn_output WHERE dispatch_id = @dispatchId
       AND byte_offset + length(bytes) <= (SELECT max(byte_offset + length(bytes)) FROM turn_output WHERE dispatch_id = @dispatchId) - @cap`,
  turnOutputOf: 'SELECT * FROM turn_output WHERE dispatch_id = ? AND byte_offset + length(bytes) > ? ORDER BY byte_offset',
  notificationInsert: `INSERT INTO notifications (key, event, sink, body, created_at, next_attempt_at)
       VALUES (@key, @event, @sink, @body, @createdAt, @createdAt) ON CONFLICT (key) DO NOTHING`,
  notificationsClaim: `UPDATE notifications SET taken_by = @runtimeId, taken_until = @until, attempts = attempts + 1
       WHERE id IN (SELECT id FROM notifications WHERE state = 'pending' AND next_attempt_at <= @now
         AND (taken_until IS NULL OR taken_until < @now
           OR taken_by IN (SELECT id FROM runtimes WHERE state = 'dead')) ORDER BY next_attempt_at, id LIMIT @limit)
       RETURNING *`,
  notificationDelivered: `UPDATE notifications SET state = 'delivered', delivered_at = @at, taken_by = NULL, taken_until = NULL, last_error = NULL
       WHERE id = @id AND taken_by = @runtimeId AND state = 'pending'`,
  notificationFailed: `UPDATE notifications SET state = CASE WHEN @retryAt IS NULL THEN 'failed' ELSE 'pending' END,
       next_attempt_at = coalesce(@retryAt, next_attempt_at), last_error = @error, taken_by = NULL, taken_until = NULL
       WHERE id = @id AND taken_by = @runtimeId AND state = 'pending'`,
  notificationsAll: 'SELECT * FROM notifications ORDER BY id',
  traceContextInsert: 'INSERT INTO trace_contexts (subject, traceparent, created_at) VALUES (?, ?, ?) ON CONFLICT (subject) DO NOTHING',
  traceContextGet: 'SELECT traceparent FROM trace_contexts WHERE subject = ?',
  commandInsert: 'INSERT INTO commands (kind, target, created_at) VALUES (?, ?, ?) RETURNING id',
  commandsPending: 'SELECT * FROM commands WHERE done_at IS NULL ORDER BY id',
  commandGet: 'SELECT * FROM commands WHERE id = ?',
  commandTake: 'UPDATE commands SET taken_by = ? WHERE id = ? AND taken_by IS NULL AND done_at IS NULL',
  commandComplete: 'UPDATE commands SET done_at = ?, outcome = ?, message = ? WHERE id = ? AND done_at IS NULL',
  controlSet: `INSERT INTO controls (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  controlDelete: 'DELETE FROM controls WHERE key = ?',
  controlGet: 'SELECT value, updated_at FROM controls WHERE key = ?',
  unitCancel: 'INSERT INTO unit_cancellations (unit_id, reason, canceled_at) VALUES (?, ?, ?) ON CONFLICT (unit_id) DO NOTHING',
  unitCancellations: 'SELECT * FROM unit_cancellations ORDER BY canceled_at, unit_id',
  messageInsert: 'INSERT INTO messages (unit_id, text, created_at) VALUES (?, ?, ?) RETURNING id',
  messagesAll: 'SELECT * FROM messages ORDER BY id',
  messagesOfUnit: 'SELECT * FROM messages WHERE unit_id = ? ORDER BY id',
  actorSeq: 'SELECT seq, owner_runtime FROM actors WHERE id = ?',
  actorsOwned: "SELECT * FROM actors WHERE status = 'active' AND owner_runtime = ? ORDER BY created_at, id",
  actorsTransfer: "UPDATE actors SET owner_runtime = ? WHERE status = 'active' AND owner_runtime = ? RETURNING id",
  runtimeInsert: `INSERT INTO runtimes (id, host, host_id, pid, proc_start_time, started_at, heartbeat_at, ttl_ms, turn_grace_ms, state)
       VALUES (@id, @host, @hostId, @pid, @procStartTime, @now, @now, @ttlMs, @turnGraceMs, 'running')`,
  runtimeBeat: "UPDATE runtimes SET heartbeat_at = ? WHERE id = ? AND state = 'running'",
  runtimeStop: "UPDATE runtimes SET state = 'stopped', ended_at = ?, end_reason = ? WHERE id = ? AND state = 'running'",
  runtimeDeclareDead: `UPDATE runtimes SET state = 'dead', ended_at = ?, end_reason = ?
       WHERE id = ? AND state = 'running' AND heartbeat_at = ?`,
  runtimesAll: 'SELECT * FROM runtimes ORDER BY started_at, id',
  runtimeState: 'SELECT state FROM runtimes WHERE id = ?',
  actorsAdoptUnowned: `UPDATE actors SET owner_runtime = ? WHERE status = 'active' AND (owner_runtime IS NULL
         OR owner_runtime NOT IN (SELECT id FROM runtimes WHERE state = 'running')) RETURNING id`,
  actorsQuarantined: "SELECT id, kind, quarantine_reason FROM actors WHERE status = 'quarantined' ORDER BY updated_at, id",
  ledgerAll: 'SELECT * FROM lease_ledger ORDER BY milestone_id',
  actorGet: 'SELECT * FROM actors WHERE id = ?',
  changeCounter: 'SELECT data_version AS other, total_changes() AS own FROM pragma_data_version',
  actorsActive: "SELECT * FROM actors WHERE status = 'active' ORDER BY created_at, id",
  actorSummaries: `SELECT id, kind, machine_id, machine_version, state, status, seq, created_at, updated_at, owner_runtime
       FROM actors ORDER BY created_at, id`,
  actorsActiveOfKind: "SELECT * FROM actors WHERE status = 'active' AND kind = ? ORDER BY created_at, id",
  actorUpsert: `INSERT INTO actors (id, kind, machine_id, machine_version, state, status, snapshot, seq, created_at, updated_at, owner_runtime)
       VALUES (@id, @kind, @machine_id, @machine_version, @state, @status, @snapshot, @seq, @at, @at, @owner)
       ON CONFLICT (id) DO UPDATE SET machine_id = @machine_id, machine_version = @machine_version, state = @state,
         status = @status, snapshot = @snapshot, seq = @seq, updated_at = @at`,
  actorQuarantine: "UPDATE actors SET status = 'quarantined', quarantine_reason = ? WHERE id = ?",
  actorSeqBump: 'UPDATE actors SET seq = seq + 1 WHERE id = ?',
  journalInsert: `INSERT INTO journal (actor_id, seq, event_type, from_state, to_state, at, snapshot, event)
       VALUES (@actor_id, @seq, @event_type, @from_state, @to_state, @at, @snapshot, @event)`,
  journalOf: 'SELECT * FROM journal WHERE actor_id = ? ORDER BY seq',
  journalCount: 'SELECT count(*) AS n FROM journal',
  workerUpsert: `INSERT INTO workers (id, state, milestone_id, unit_id, dispatch_id, fencing_token, pid, turns, updated_at)
       VALUES (@id, @state, @milestoneId, @unitId, @dispatchId, @fencingToken, @pid, @turns, @at)
       ON CONFLICT (id) DO UPDATE SET state = @state, milestone_id = @milestoneId, unit_id = @unitId,
         dispatch_id = @dispatchId, fencing_token = @fencingToken, pid = @pid, turns = @turns, updated_at = @at`,
  leaseUpsert: `INSERT INTO leases (id, milestone_id, worker_id, fencing_token, state, expires_at, updated_at)
       VALUES (@id, @milestoneId, @workerId, @fencingToken, @state, @expiresAt, @at)
       ON CONFLICT (id) DO UPDATE SET fencing_token = @fencingToken, state = @state, expires_at = @expiresAt, updated_at = @at`,
  dispatchUpsert: `INSERT INTO dispatches (id, unit_id, milestone_id, attempt, state, worker_id, fencing_token, not_before, started_at,
         ended_at, pid, pgid, proc_start_time, host_id, log_path, outcome, exit_code, signal, last_stderr_line, reason, message_id, session_id, resume_mismatch, cost_usd, input_tokens, output_tokens, transient, retry_at, created_at, updated_at)
       VALUES (@id, @unitId, @milestoneId, @attempt, @state, @workerId, @fencingToken, @notBefore, @startedAt,
         @endedAt, @pid, @pgid, @procStartTime, @hostId, @logPath, @outcome, @exitCode, @signal, @lastStderrLine, @reason, @messageId, @sessionId, @resumeMismatch, @costUsd, @inputTokens, @outputTokens, @transient, @retryAt, @at, @at)
       ON CONFLICT (id) DO UPDATE SET state = @state, worker_id = @workerId, fencing_token = @fencingToken,
         not_before = @notBefore, started_at = @startedAt, ended_at = @endedAt, pid = @pid, pgid = @pgid,
         proc_start_time = @procStartTime, host_id = @hostId, log_path = @logPath, outcome = @outcome, exit_code = @exitCode, signal = @signal, last_stderr_line = @lastStderrLine, message_id = @messageId,
         session_id = @sessionId, resume_mismatch = @resumeMismatch, cost_usd = @costUsd, input_tokens = @inputTokens, output_tokens = @outputTokens,
         transient = @transient, retry_at = @retryAt, reason = @reason, updated_at = @at`,
  supervisorUpsert: `INSERT INTO supervisors (id, state, runtime_id, pid, started_at, updated_at)
       VALUES (@id, @state, @runtimeId, @pid, @startedAt, @at)
       ON CONFLICT (id) DO UPDATE SET state = @state, updated_at = @at`,
  workspaceUpsert: `INSERT INTO workspaces (id, milestone_id, fencing_token, state, path, branch, base, base_commit, head, merged_commit,
         reason, fix_turns_used, fix_pending, fix, created_at, updated_at)
       VALUES (@id, @milestoneId, @fencingToken, @state, @path, @branch, @base, @baseCommit, @head, @mergedCommit,
         @reason, @fixTurnsUsed, @fixPending, @fix, @at, @at)
       ON CONFLICT (id) DO UPDATE SET state = @state, base_commit = @baseCommit, head = @head, merged_commit = @mergedCommit,
         reason = @reason, fix_turns_used = @fixTurnsUsed, fix_pending = @fixPending, fix = @fix, updated_at = @at`,
  workspacesAll: 'SELECT * FROM workspaces ORDER BY created_at, rowid',
  workersAll: 'SELECT * FROM workers ORDER BY rowid',
  leasesAll: 'SELECT * FROM leases ORDER BY rowid',
  dispatchesAll: 'SELECT * FROM dispatches ORDER BY created_at, rowid',
  dispatchesOfUnit: 'SELECT * FROM dispatches WHERE unit_id = ? ORDER BY created_at, rowid',
  supervisorsAll: 'SELECT * FROM supervisors ORDER BY started_at, rowid',
  ledgerGet: 'SELECT * FROM lease_ledger WHERE milestone_id = ?',
  ledgerInsert: 'INSERT INTO lease_ledger (milestone_id, holder_id, lease_id, fencing_token, expires_at) VALUES (?, ?, ?, ?, ?)',
  ledgerTakeOver: `UPDATE lease_ledger SET holder_id = ?, lease_id = ?, fencing_token = ?, expires_at = ?
       WHERE milestone_id = ? AND fencing_token = ?`,
  ledgerRenew: 'UPDATE lease_ledger SET expires_at = ? WHERE milestone_id = ? AND fencing_token = ?',
  ledgerRelease: `UPDATE lease_ledger SET holder_id = NULL, lease_id = NULL, expires_at = NULL
       WHERE milestone_id = ? AND fencing_token = ?`,
  planUpsert: `INSERT INTO plan (id, file, fingerprint, body, saved_at) VALUES (1, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET file = excluded.file, fingerprint = excluded.fingerprint,
         body = excluded.body, saved_at = excluded.saved_at`,
  planGet: 'SELECT * FROM plan WHERE id = 1',
  sequenceReserve: `INSERT INTO sequences (name, value) VALUES (?, ?)
       ON CONFLICT (name) DO UPDATE SET value = value + excluded.value RETURNING value`,
  storeId: "SELECT value FROM meta WHERE key = 'store_id'",
  controlsAll: 'SELECT key, value, updated_at FROM controls ORDER BY key',
  workerQuarantine: "UPDATE workers SET state = 'quarantined', updated_at = ? WHERE id = ?",
  leaseQuarantine: "UPDATE leases SET state = 'quarantined', updated_at = ? WHERE id = ?",
  dispatchQuarantine: "UPDATE dispatches SET state = 'quarantined', updated_at = ? WHERE id = ?",
  supervisorQuarantine: "UPDATE supervisors SET state = 'quarantined', updated_at = ? WHERE id = ?",
  workspaceQuarantine: "UPDATE workspaces SET state = 'quarantined', updated_at = ? WHERE id = ?",
} as const;

/** Every statement of the SQLite store, prepared once per connection. @internal */
export type Statements = { readonly [K in keyof typeof SQL]: Database.Statement };

/** Prepares {@link SQL} on `db`. @internal */
export function prepareStatements(db: Database.Database): Statements {
  return Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as unknown as Statements;
}


/** The statement that marks an actor's projection row quarantined, per actor kind. @internal */
export const QUARANTINE_PROJECTION = {
  worker: 'workerQuarantine',
  lease: 'leaseQuarantine',
  dispatch: 'dispatchQuarantine',
  supervisor: 'supervisorQuarantine',
  workspace: 'workspaceQuarantine',
} as const;

/** Upserts an actor's projection row. @internal */
export function writeProjection(s: Statements, projection: Projection, at: number): void {
  switch (projection.kind) {
    case 'worker':
      s.workerUpsert.run({ ...projection.row, at });
      return;
    case 'lease':
      s.leaseUpsert.run({ ...projection.row, at });
      return;
    case 'dispatch':
      s.dispatchUpsert.run({ ...projection.row, resumeMismatch: projection.row.resumeMismatch ? 1 : 0, at });
      return;
    case 'supervisor':
      s.supervisorUpsert.run({ ...projection.row, at });
      return;
    case 'workspace':
      s.workspaceUpsert.run({
        ...projection.row,
        fixPending: projection.row.fixPending ? 1 : 0,
        fix: projection.row.fix === null ? null : JSON.stringify(projection.row.fix),
        at,
      });
      return;
  }
}

