import type Database from 'better-sqlite3';
import { StoreVersionError } from '../core/errors.js';

/**
 * Numbered schema migrations. Migration N brings a store from `PRAGMA user_version = N-1`
 * to N. Released migrations are never edited; changes are new migrations.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE actors (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('supervisor', 'worker', 'lease', 'dispatch')),
    machine_id TEXT NOT NULL,
    machine_version INTEGER NOT NULL,
    state TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'done', 'quarantined')),
    snapshot TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    quarantine_reason TEXT
  );
  CREATE INDEX actors_active ON actors (kind, created_at) WHERE status = 'active';

  CREATE TABLE journal (
    actor_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    at INTEGER NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (actor_id, seq)
  ) WITHOUT ROWID;

  CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    milestone_id TEXT,
    unit_id TEXT,
    dispatch_id TEXT,
    fencing_token INTEGER,
    pid INTEGER,
    turns INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );

  CREATE TABLE leases (
    id TEXT PRIMARY KEY,
    milestone_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    fencing_token INTEGER,
    state TEXT NOT NULL,
    expires_at INTEGER,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX leases_milestone ON leases (milestone_id);

  CREATE TABLE dispatches (
    id TEXT PRIMARY KEY,
    unit_id TEXT NOT NULL,
    milestone_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    worker_id TEXT,
    fencing_token INTEGER,
    not_before INTEGER,
    started_at INTEGER,
    ended_at INTEGER,
    pid INTEGER,
    pgid INTEGER,
    proc_start_time TEXT,
    log_path TEXT,
    outcome TEXT,
    exit_code INTEGER,
    signal TEXT,
    reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX dispatches_unit ON dispatches (unit_id, created_at);
  -- Invariant 2: at most one active dispatch per unit, decided by the store.
  CREATE UNIQUE INDEX dispatches_one_active ON dispatches (unit_id)
    WHERE state IN ('pending', 'claimed', 'running');

  CREATE TABLE supervisors (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    runtime_id TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );

  -- The lease ledger: exclusivity of milestones, written only by claim/renew/release.
  CREATE TABLE lease_ledger (
    milestone_id TEXT PRIMARY KEY,
    holder_id TEXT,
    lease_id TEXT,
    fencing_token INTEGER NOT NULL,
    expires_at INTEGER
  );

  CREATE TABLE plan (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    file TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    body TEXT NOT NULL,
    saved_at INTEGER NOT NULL
  );

  CREATE TABLE sequences (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  );
  `,
  `
  -- Runtime registry: every runtime process with its liveness evidence and heartbeat.
  CREATE TABLE runtimes (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    proc_start_time TEXT,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    ttl_ms INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'stopped', 'dead')),
    ended_at INTEGER,
    end_reason TEXT
  );
  -- Single activation: only the owner runtime drives (and writes) an actor.
  ALTER TABLE actors ADD COLUMN owner_runtime TEXT;
  CREATE INDEX actors_owner ON actors (owner_runtime) WHERE status = 'active';
  `,
  `
  -- Stuck detection: the failure signature of each attempt (exit code + last stderr line).
  ALTER TABLE dispatches ADD COLUMN last_stderr_line TEXT;
  `,
  `
  -- A random id for the store, so markers of its turns never match another store's.
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
  `,
  `
  -- Operator control across processes: commands picked up by the runtime that owns the target.
  CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('stop')),
    target TEXT,
    created_at INTEGER NOT NULL,
    taken_by TEXT,
    done_at INTEGER,
    outcome TEXT,
    message TEXT
  );
  -- Durable operator switches (paused, stop requested).
  CREATE TABLE controls (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL);
  -- Units canceled by an operator: canceled for good, their dependents blocked.
  CREATE TABLE unit_cancellations (unit_id TEXT PRIMARY KEY, reason TEXT NOT NULL, canceled_at INTEGER NOT NULL);
  -- Messages to workers: the input of a unit's next turn, in order, each delivered once
  -- (delivery is the dispatch that carries it: dispatches.message_id).
  CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX messages_unit ON messages (unit_id, id);
  ALTER TABLE dispatches ADD COLUMN message_id INTEGER;
  `,
  `
  -- Agent protocols: what a stream-json turn reported, and every event it emitted.
  ALTER TABLE dispatches ADD COLUMN session_id TEXT;
  ALTER TABLE dispatches ADD COLUMN resume_mismatch INTEGER;
  ALTER TABLE dispatches ADD COLUMN cost_usd REAL;
  ALTER TABLE dispatches ADD COLUMN input_tokens INTEGER;
  ALTER TABLE dispatches ADD COLUMN output_tokens INTEGER;
  CREATE TABLE turn_events (
    dispatch_id TEXT NOT NULL,
    line INTEGER NOT NULL,
    type TEXT NOT NULL,
    subtype TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (dispatch_id, line)
  ) WITHOUT ROWID;
  `,
  // 7: the event that caused each transition (JSON), for the inspector's timeline.
  `
  ALTER TABLE journal ADD COLUMN event TEXT;
  `,
  // 8: the journal as a rowid table. Its rows carry a snapshot and an event (~1–2 KB); in a
  // WITHOUT ROWID table such rows live in the key's B-tree and spill to overflow pages, which
  // SQLite's documentation advises against: measured 56 → 29 µs per one-row transaction here,
  // 24 → 7 µs inside a group commit. The (actor_id, seq) key stays, as a unique index.
  `
  CREATE TABLE journal_rowid (
    actor_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    at INTEGER NOT NULL,
    snapshot TEXT NOT NULL,
    event TEXT,
    PRIMARY KEY (actor_id, seq)
  );
  INSERT INTO journal_rowid (actor_id, seq, event_type, from_state, to_state, at, snapshot, event)
    SELECT actor_id, seq, event_type, from_state, to_state, at, snapshot, event FROM journal ORDER BY actor_id, seq;
  DROP TABLE journal;
  ALTER TABLE journal_rowid RENAME TO journal;
  `,
  // 9: lease ids come from one store-wide sequence (reserved in blocks, no round trip per
  // claim) instead of one per milestone; it starts above every per-milestone value, so no new
  // id repeats an old one.
  `
  INSERT INTO sequences (name, value)
    SELECT 'lease', COALESCE(MAX(value), 0) FROM sequences WHERE name LIKE 'lease:%'
    ON CONFLICT (name) DO NOTHING;
  `,
  // 10: the host identity (machine, boot, PID namespace) that a runtime's and a turn's pids
  // belong to: pids are evidence only under the same identity (actors/hostIdentity.ts).
  `
  ALTER TABLE runtimes ADD COLUMN host_id TEXT;
  ALTER TABLE dispatches ADD COLUMN host_id TEXT;
  `,
  // 11: how long after its last heartbeat a runtime's turns may still run: their keep-alive
  // bound (actors/keepAlive.ts). A runtime on another host is taken over only after it.
  `
  ALTER TABLE runtimes ADD COLUMN turn_grace_ms INTEGER;
  `,
  // 12: every turn's log in chunks (its tail, capped), for \`statecrew logs\` on any host.
  `
  CREATE TABLE turn_output (
    dispatch_id TEXT NOT NULL,
    byte_offset INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (dispatch_id, byte_offset)
  ) WITHOUT ROWID;
  `,
  // 13: workspace actors (a milestone's git worktree) and their projection. SQLite cannot
  // change a CHECK constraint in place, so the actors table is rebuilt with the new kind.
  `
  CREATE TABLE actors_next (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('supervisor', 'worker', 'lease', 'dispatch', 'workspace')),
    machine_id TEXT NOT NULL,
    machine_version INTEGER NOT NULL,
    state TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'done', 'quarantined')),
    snapshot TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    quarantine_reason TEXT,
    owner_runtime TEXT
  );
  INSERT INTO actors_next (id, kind, machine_id, machine_version, state, status, snapshot, seq, created_at, updated_at, quarantine_reason, owner_runtime)
    SELECT id, kind, machine_id, machine_version, state, status, snapshot, seq, created_at, updated_at, quarantine_reason, owner_runtime
    FROM actors ORDER BY rowid;
  DROP TABLE actors;
  ALTER TABLE actors_next RENAME TO actors;
  CREATE INDEX actors_active ON actors (kind, created_at) WHERE status = 'active';
  CREATE INDEX actors_owner ON actors (owner_runtime) WHERE status = 'active';

  CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    milestone_id TEXT NOT NULL,
    fencing_token INTEGER NOT NULL,
    state TEXT NOT NULL,
    path TEXT NOT NULL,
    branch TEXT NOT NULL,
    base TEXT NOT NULL,
    base_commit TEXT,
    head TEXT,
    merged_commit TEXT,
    reason TEXT,
    fix_turns_used INTEGER NOT NULL,
    fix_pending INTEGER NOT NULL,
    fix TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX workspaces_milestone ON workspaces (milestone_id, fencing_token);
  `,
  `
  -- Turns that failed for a reason that is not the agent's (rate limited, overloaded API): the
  -- kind, and when the API said the limit resets.
  ALTER TABLE dispatches ADD COLUMN transient TEXT;
  ALTER TABLE dispatches ADD COLUMN retry_at INTEGER;
  `,
  // 15: retention (persistence/roles/retention.ts) walks finished actors by finish time.
  `
  CREATE INDEX actors_finished ON actors (updated_at, id) WHERE status = 'done';
  `,
  // 16: the notification outbox (persistence/roles/notificationOutbox.ts).
  `
  CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    sink TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    taken_by TEXT,
    taken_until INTEGER,
    delivered_at INTEGER,
    last_error TEXT
  );
  CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE state = 'pending';
  `,
  // 17: trace contexts of units (persistence/roles/traceContexts.ts).
  `
  CREATE TABLE trace_contexts (subject TEXT PRIMARY KEY, traceparent TEXT NOT NULL, created_at INTEGER NOT NULL);
  `,
];

/**
 * Applies pending migrations in one transaction each; on a read-only connection only checks
 * that none is pending.
 * @throws StoreVersionError when the store was written by a newer statecrew, or is older
 *   and the connection is read-only.
 */
export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length || (db.readonly && current < MIGRATIONS.length)) {
    throw new StoreVersionError(db.name, current, MIGRATIONS.length);
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    const sql = MIGRATIONS[version];
    if (sql === undefined) break;
    // Several processes may open a new store at once: take the write lock first, then look
    // again — another one may have applied this migration meanwhile.
    db.transaction(() => {
      const now = db.pragma('user_version', { simple: true }) as number;
      if (now > version) return;
      db.exec(sql);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
