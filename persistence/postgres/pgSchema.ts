/**
 * The PostgreSQL store's numbered migrations, applied in order in the store's own schema
 * (`search_path` is set to it on every connection). The tables mirror the SQLite store's, with
 * the same column names and types (times are BIGINT ms since the epoch, booleans INTEGER 0/1,
 * JSON kept as TEXT exactly as written), so the row mappers of `persistence/rows.ts` serve both.
 * Text keys that are sorted use the "C" collation: byte order, as SQLite's BINARY.
 *
 * `commit_job(jsonb)` writes one job in one round trip, all or nothing, with the checks of
 * `transitionRows.ts` under row locks (READ COMMITTED): the owner's registry row first (FOR
 * SHARE, the order takeover takes the same locks in), then per write its actor row (FOR
 * UPDATE), the ledger row of its fence (FOR SHARE). Refusals are raised with SQLSTATEs
 * SC001–SC004 and a JSON DETAIL (pgErrors.ts).
 *
 * Every write to a table others watch fires `notify_change()` once per statement: a
 * notification on channel `<schema>_changes` whose payload is the writing connection's
 * `statecrew.sender` setting (one random id per store instance). PostgreSQL delivers it at
 * commit, once per transaction for equal payloads (so one per job), to every listening store,
 * which counts the ones of other senders (pgListener.ts).
 * @internal
 */
import { PG_NOTIFICATIONS_MIGRATION, PG_TRACE_CONTEXTS_MIGRATION } from './pgNotifications.js';

const PG_MIGRATIONS_1_TO_3: readonly string[] = [
  // 1: the whole schema as of SQLite migration 10.
  `
  CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
  INSERT INTO meta (key, value) VALUES ('store_id', md5(random()::text || clock_timestamp()::text));

  CREATE TABLE actors (
    id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('supervisor', 'worker', 'lease', 'dispatch')),
    machine_id TEXT NOT NULL,
    machine_version INTEGER NOT NULL,
    state TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'done', 'quarantined')),
    snapshot TEXT NOT NULL,
    seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    quarantine_reason TEXT,
    owner_runtime TEXT COLLATE "C"
  );
  CREATE INDEX actors_active ON actors (kind, created_at) WHERE status = 'active';
  CREATE INDEX actors_owner ON actors (owner_runtime) WHERE status = 'active';

  CREATE TABLE journal (
    actor_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    at BIGINT NOT NULL,
    snapshot TEXT NOT NULL,
    event TEXT,
    PRIMARY KEY (actor_id, seq)
  );

  CREATE TABLE workers (
    id TEXT COLLATE "C" PRIMARY KEY,
    pos BIGSERIAL,
    state TEXT NOT NULL,
    milestone_id TEXT,
    unit_id TEXT,
    dispatch_id TEXT,
    fencing_token BIGINT,
    pid INTEGER,
    turns INTEGER NOT NULL,
    updated_at BIGINT NOT NULL
  );

  CREATE TABLE leases (
    id TEXT COLLATE "C" PRIMARY KEY,
    pos BIGSERIAL,
    milestone_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    fencing_token BIGINT,
    state TEXT NOT NULL,
    expires_at BIGINT,
    updated_at BIGINT NOT NULL
  );
  CREATE INDEX leases_milestone ON leases (milestone_id);

  CREATE TABLE dispatches (
    id TEXT COLLATE "C" PRIMARY KEY,
    pos BIGSERIAL,
    unit_id TEXT COLLATE "C" NOT NULL,
    milestone_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    worker_id TEXT,
    fencing_token BIGINT,
    not_before BIGINT,
    started_at BIGINT,
    ended_at BIGINT,
    pid INTEGER,
    pgid INTEGER,
    proc_start_time TEXT,
    host_id TEXT,
    log_path TEXT,
    outcome TEXT,
    exit_code INTEGER,
    signal TEXT,
    reason TEXT,
    last_stderr_line TEXT,
    message_id BIGINT,
    session_id TEXT,
    resume_mismatch INTEGER,
    cost_usd DOUBLE PRECISION,
    input_tokens BIGINT,
    output_tokens BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE INDEX dispatches_unit ON dispatches (unit_id, created_at);
  CREATE UNIQUE INDEX dispatches_one_active ON dispatches (unit_id) WHERE state IN ('pending', 'claimed', 'running');

  CREATE TABLE supervisors (
    id TEXT COLLATE "C" PRIMARY KEY,
    pos BIGSERIAL,
    state TEXT NOT NULL,
    runtime_id TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );

  CREATE TABLE lease_ledger (
    milestone_id TEXT COLLATE "C" PRIMARY KEY,
    holder_id TEXT,
    lease_id TEXT,
    fencing_token BIGINT NOT NULL,
    expires_at BIGINT
  );

  CREATE TABLE plan (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    file TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    body TEXT NOT NULL,
    saved_at BIGINT NOT NULL
  );

  CREATE TABLE sequences (name TEXT COLLATE "C" PRIMARY KEY, value BIGINT NOT NULL);

  CREATE TABLE runtimes (
    id TEXT COLLATE "C" PRIMARY KEY,
    host TEXT NOT NULL,
    host_id TEXT,
    pid INTEGER NOT NULL,
    proc_start_time TEXT,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    ttl_ms BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'stopped', 'dead')),
    ended_at BIGINT,
    end_reason TEXT
  );

  CREATE TABLE commands (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('stop')),
    target TEXT,
    created_at BIGINT NOT NULL,
    taken_by TEXT,
    done_at BIGINT,
    outcome TEXT,
    message TEXT
  );

  CREATE TABLE controls (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL, updated_at BIGINT NOT NULL);
  CREATE TABLE unit_cancellations (unit_id TEXT COLLATE "C" PRIMARY KEY, reason TEXT NOT NULL, canceled_at BIGINT NOT NULL);

  CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    unit_id TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX messages_unit ON messages (unit_id, id);

  CREATE TABLE turn_events (
    dispatch_id TEXT COLLATE "C" NOT NULL,
    line INTEGER NOT NULL,
    type TEXT NOT NULL,
    subtype TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (dispatch_id, line)
  );

  CREATE FUNCTION notify_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
  BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_changes', COALESCE(current_setting('statecrew.sender', true), ''));
    RETURN NULL;
  END
  $fn$;
  CREATE TRIGGER actors_changed AFTER INSERT OR UPDATE OR DELETE ON actors FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
  CREATE TRIGGER ledger_changed AFTER INSERT OR UPDATE OR DELETE ON lease_ledger FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
  CREATE TRIGGER runtimes_changed AFTER INSERT OR UPDATE OR DELETE ON runtimes FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
  CREATE TRIGGER commands_changed AFTER INSERT OR UPDATE OR DELETE ON commands FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
  CREATE TRIGGER controls_changed AFTER INSERT OR UPDATE OR DELETE ON controls FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
  CREATE TRIGGER cancellations_changed AFTER INSERT OR UPDATE OR DELETE ON unit_cancellations FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
  CREATE TRIGGER messages_changed AFTER INSERT OR UPDATE OR DELETE ON messages FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
  CREATE TRIGGER plan_changed AFTER INSERT OR UPDATE OR DELETE ON plan FOR EACH STATEMENT EXECUTE FUNCTION notify_change();

  CREATE FUNCTION refuse(code TEXT, message TEXT, detail JSONB) RETURNS void LANGUAGE plpgsql AS $fn$
  BEGIN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, DETAIL = detail::text;
  END
  $fn$;

  CREATE FUNCTION commit_job(writes JSONB) RETURNS void LANGUAGE plpgsql AS $fn$
  DECLARE
    w JSONB;
    p JSONB;
    actor TEXT;
    write_seq BIGINT;
    found_seq BIGINT;
    found_owner TEXT;
    has_row BOOLEAN;
    job_owner TEXT;
    owner_state TEXT;
    current_token BIGINT;
    inserted BOOLEAN;
  BEGIN
    -- The owners' registry rows first: takeover locks the registry row, then the actor rows.
    FOR job_owner IN SELECT DISTINCT x->>'owner' FROM jsonb_array_elements(writes) AS x WHERE x->>'owner' IS NOT NULL ORDER BY 1 LOOP
      SELECT state INTO owner_state FROM runtimes WHERE id = job_owner FOR SHARE;
      IF FOUND AND owner_state <> 'running' THEN
        actor := (SELECT x->>'actorId' FROM jsonb_array_elements(writes) AS x WHERE x->>'owner' = job_owner LIMIT 1);
        SELECT owner_runtime INTO found_owner FROM actors WHERE id = actor;
        PERFORM refuse('SC002', format('runtime %s is %s: it may write nothing', job_owner, owner_state),
          jsonb_build_object('actorId', actor, 'owner', job_owner, 'current', found_owner));
      END IF;
    END LOOP;

    FOR w IN SELECT value FROM jsonb_array_elements(writes) LOOP
      actor := w->>'actorId';
      write_seq := (w->>'seq')::BIGINT;
      SELECT seq, owner_runtime INTO found_seq, found_owner FROM actors WHERE id = actor FOR UPDATE;
      has_row := FOUND;
      IF write_seq = 1 AND has_row THEN
        IF w->'projection'->>'kind' = 'dispatch' THEN
          PERFORM refuse('SC001', format('unit %s already has an active dispatch', w->'projection'->'row'->>'unitId'),
            jsonb_build_object('unitId', w->'projection'->'row'->>'unitId'));
        END IF;
        PERFORM refuse('SC004', format('actor %s exists', actor), jsonb_build_object('actorId', actor, 'seq', write_seq, 'found', found_seq));
      END IF;
      IF w->>'owner' IS NOT NULL AND has_row AND found_owner IS DISTINCT FROM w->>'owner' THEN
        PERFORM refuse('SC002', format('actor %s is owned by %s', actor, found_owner),
          jsonb_build_object('actorId', actor, 'owner', w->>'owner', 'current', found_owner));
      END IF;
      IF COALESCE(found_seq, 0) <> write_seq - 1 THEN
        PERFORM refuse('SC004', format('actor %s: expected journal row %s', actor, write_seq),
          jsonb_build_object('actorId', actor, 'seq', write_seq, 'found', found_seq));
      END IF;
      IF jsonb_typeof(w->'fence') = 'object' THEN
        SELECT fencing_token INTO current_token FROM lease_ledger WHERE milestone_id = w->'fence'->>'milestoneId' FOR SHARE;
        IF NOT FOUND THEN current_token := NULL; END IF;
        IF current_token IS DISTINCT FROM (w->'fence'->>'fencingToken')::BIGINT THEN
          PERFORM refuse('SC003', format('stale fencing token for milestone %s', w->'fence'->>'milestoneId'),
            jsonb_build_object('milestoneId', w->'fence'->>'milestoneId', 'token', (w->'fence'->>'fencingToken')::BIGINT, 'current', current_token));
        END IF;
      END IF;

      IF has_row THEN
        UPDATE actors SET machine_id = w->>'machineId', machine_version = (w->>'machineVersion')::INTEGER, state = w->>'state',
          status = w->>'status', snapshot = w->>'snapshot', seq = write_seq, updated_at = (w->>'at')::BIGINT
          WHERE id = actor;
      ELSE
        INSERT INTO actors (id, kind, machine_id, machine_version, state, status, snapshot, seq, created_at, updated_at, owner_runtime)
          VALUES (actor, w->>'kind', w->>'machineId', (w->>'machineVersion')::INTEGER, w->>'state', w->>'status', w->>'snapshot',
            write_seq, (w->>'at')::BIGINT, (w->>'at')::BIGINT, w->>'owner')
          ON CONFLICT (id) DO NOTHING;
        GET DIAGNOSTICS inserted = ROW_COUNT;
        IF NOT inserted THEN
          -- Created by another transaction meanwhile (its row lock did not exist to wait for).
          IF w->'projection'->>'kind' = 'dispatch' THEN
            PERFORM refuse('SC001', format('unit %s already has an active dispatch', w->'projection'->'row'->>'unitId'),
              jsonb_build_object('unitId', w->'projection'->'row'->>'unitId'));
          END IF;
          PERFORM refuse('SC004', format('actor %s exists', actor), jsonb_build_object('actorId', actor, 'seq', write_seq, 'found', NULL));
        END IF;
      END IF;

      INSERT INTO journal (actor_id, seq, event_type, from_state, to_state, at, snapshot, event)
        VALUES (actor, write_seq, w->>'eventType', w->>'fromState', w->>'state', (w->>'at')::BIGINT, w->>'snapshot', w->>'event');

      p := w->'projection'->'row';
      CASE w->'projection'->>'kind'
        WHEN 'worker' THEN
          INSERT INTO workers (id, state, milestone_id, unit_id, dispatch_id, fencing_token, pid, turns, updated_at)
            VALUES (p->>'id', p->>'state', p->>'milestoneId', p->>'unitId', p->>'dispatchId', (p->>'fencingToken')::BIGINT,
              (p->>'pid')::INTEGER, (p->>'turns')::INTEGER, (w->>'at')::BIGINT)
            ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, milestone_id = EXCLUDED.milestone_id, unit_id = EXCLUDED.unit_id,
              dispatch_id = EXCLUDED.dispatch_id, fencing_token = EXCLUDED.fencing_token, pid = EXCLUDED.pid, turns = EXCLUDED.turns,
              updated_at = EXCLUDED.updated_at;
        WHEN 'lease' THEN
          INSERT INTO leases (id, milestone_id, worker_id, fencing_token, state, expires_at, updated_at)
            VALUES (p->>'id', p->>'milestoneId', p->>'workerId', (p->>'fencingToken')::BIGINT, p->>'state', (p->>'expiresAt')::BIGINT, (w->>'at')::BIGINT)
            ON CONFLICT (id) DO UPDATE SET fencing_token = EXCLUDED.fencing_token, state = EXCLUDED.state, expires_at = EXCLUDED.expires_at,
              updated_at = EXCLUDED.updated_at;
        WHEN 'dispatch' THEN
          BEGIN
            INSERT INTO dispatches (id, unit_id, milestone_id, attempt, state, worker_id, fencing_token, not_before, started_at, ended_at,
                pid, pgid, proc_start_time, host_id, log_path, outcome, exit_code, signal, last_stderr_line, reason, message_id, session_id,
                resume_mismatch, cost_usd, input_tokens, output_tokens, created_at, updated_at)
              VALUES (p->>'id', p->>'unitId', p->>'milestoneId', (p->>'attempt')::INTEGER, p->>'state', p->>'workerId',
                (p->>'fencingToken')::BIGINT, (p->>'notBefore')::BIGINT, (p->>'startedAt')::BIGINT, (p->>'endedAt')::BIGINT,
                (p->>'pid')::INTEGER, (p->>'pgid')::INTEGER, p->>'procStartTime', p->>'hostId', p->>'logPath', p->>'outcome',
                (p->>'exitCode')::INTEGER, p->>'signal', p->>'lastStderrLine', p->>'reason', (p->>'messageId')::BIGINT, p->>'sessionId',
                CASE WHEN (p->>'resumeMismatch')::BOOLEAN THEN 1 ELSE 0 END, (p->>'costUsd')::DOUBLE PRECISION,
                (p->>'inputTokens')::BIGINT, (p->>'outputTokens')::BIGINT, (w->>'at')::BIGINT, (w->>'at')::BIGINT)
              ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, worker_id = EXCLUDED.worker_id, fencing_token = EXCLUDED.fencing_token,
                not_before = EXCLUDED.not_before, started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at, pid = EXCLUDED.pid,
                pgid = EXCLUDED.pgid, proc_start_time = EXCLUDED.proc_start_time, host_id = EXCLUDED.host_id, log_path = EXCLUDED.log_path,
                outcome = EXCLUDED.outcome, exit_code = EXCLUDED.exit_code, signal = EXCLUDED.signal, last_stderr_line = EXCLUDED.last_stderr_line,
                message_id = EXCLUDED.message_id, session_id = EXCLUDED.session_id, resume_mismatch = EXCLUDED.resume_mismatch,
                cost_usd = EXCLUDED.cost_usd, input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
                reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at;
          EXCEPTION WHEN unique_violation THEN
            -- dispatches_one_active: the dispatch table's only unique index besides its key, which the upsert handles.
            PERFORM refuse('SC001', format('unit %s already has an active dispatch', p->>'unitId'), jsonb_build_object('unitId', p->>'unitId'));
          END;
        WHEN 'supervisor' THEN
          INSERT INTO supervisors (id, state, runtime_id, pid, started_at, updated_at)
            VALUES (p->>'id', p->>'state', p->>'runtimeId', (p->>'pid')::INTEGER, (p->>'startedAt')::BIGINT, (w->>'at')::BIGINT)
            ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at;
      END CASE;
    END LOOP;
  END
  $fn$;
  `,
  // 2 (SQLite 11): how long after its last heartbeat a runtime's turns may still run (its keep-alive bound).
  `
  ALTER TABLE runtimes ADD COLUMN turn_grace_ms BIGINT;
  `,
  // 3 (SQLite 12): every turn's log in chunks (its tail, capped), for \`statecrew logs\` on any
  // host. No change notification: output is not a change the scheduler or the inspector follows.
  `
  CREATE TABLE turn_output (
    dispatch_id TEXT COLLATE "C" NOT NULL,
    byte_offset BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (dispatch_id, byte_offset)
  );
  `,
];

/** The text of migration 1's `commit_job`, from `CREATE FUNCTION commit_job` to its closing `$fn$;`. */
function firstCommitJob(): string {
  const first = PG_MIGRATIONS_1_TO_3[0] ?? '';
  const start = first.indexOf('CREATE FUNCTION commit_job');
  const end = first.indexOf('$fn$;', start);
  if (start < 0 || end < 0) throw new Error('migration 1 has no commit_job function');
  return first.slice(start, end + '$fn$;'.length);
}

/** The projection branch `commit_job` gains in migration 4. */
const WORKSPACE_PROJECTION = `        WHEN 'workspace' THEN
          INSERT INTO workspaces (id, milestone_id, fencing_token, state, path, branch, base, base_commit, head, merged_commit, reason,
              fix_turns_used, fix_pending, fix, created_at, updated_at)
            VALUES (p->>'id', p->>'milestoneId', (p->>'fencingToken')::BIGINT, p->>'state', p->>'path', p->>'branch', p->>'base',
              p->>'baseCommit', p->>'head', p->>'mergedCommit', p->>'reason', (p->>'fixTurnsUsed')::INTEGER,
              CASE WHEN (p->>'fixPending')::BOOLEAN THEN 1 ELSE 0 END, CASE WHEN jsonb_typeof(p->'fix') = 'object' THEN (p->'fix')::TEXT END,
              (w->>'at')::BIGINT, (w->>'at')::BIGINT)
            ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, base_commit = EXCLUDED.base_commit, head = EXCLUDED.head,
              merged_commit = EXCLUDED.merged_commit, reason = EXCLUDED.reason, fix_turns_used = EXCLUDED.fix_turns_used,
              fix_pending = EXCLUDED.fix_pending, fix = EXCLUDED.fix, updated_at = EXCLUDED.updated_at;
      END CASE;`;

/**
 * Migration 4 (SQLite 13): workspace actors and their projection. `commit_job` is replaced by
 * migration 1's text with one more projection branch (derived here rather than copied, so the
 * two cannot drift; released migration texts never change).
 */
function workspacesMigration(): string {
  const commitJob = firstCommitJob().replace('CREATE FUNCTION commit_job', 'CREATE OR REPLACE FUNCTION commit_job');
  if (!commitJob.includes('      END CASE;')) throw new Error('migration 1 commit_job has no END CASE');
  return `
  ALTER TABLE actors DROP CONSTRAINT actors_kind_check;
  ALTER TABLE actors ADD CONSTRAINT actors_kind_check CHECK (kind IN ('supervisor', 'worker', 'lease', 'dispatch', 'workspace'));
  CREATE TABLE workspaces (
    id TEXT COLLATE "C" PRIMARY KEY,
    milestone_id TEXT COLLATE "C" NOT NULL,
    fencing_token BIGINT NOT NULL,
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
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE INDEX workspaces_milestone ON workspaces (milestone_id, fencing_token);
  ${commitJob.replace('      END CASE;', WORKSPACE_PROJECTION)}
  `;
}

/** Each rewrite of migration 4's dispatch projection that migration 5 makes: [text, replacement], each found exactly once. */
const TRANSIENT_PROJECTION: readonly (readonly [string, string])[] = [
  ['resume_mismatch, cost_usd, input_tokens, output_tokens, created_at, updated_at)', 'resume_mismatch, cost_usd, input_tokens, output_tokens, transient, retry_at, created_at, updated_at)'],
  [
    "(p->>'inputTokens')::BIGINT, (p->>'outputTokens')::BIGINT, (w->>'at')::BIGINT, (w->>'at')::BIGINT)",
    "(p->>'inputTokens')::BIGINT, (p->>'outputTokens')::BIGINT, p->>'transient', (p->>'retryAt')::BIGINT, (w->>'at')::BIGINT, (w->>'at')::BIGINT)",
  ],
  ['output_tokens = EXCLUDED.output_tokens,', 'output_tokens = EXCLUDED.output_tokens, transient = EXCLUDED.transient, retry_at = EXCLUDED.retry_at,'],
];

/**
 * Migration 5 (SQLite 14): a dispatch records a transient failure (its kind, and when the API
 * said the limit resets). `commit_job` is migration 4's with those two columns in the dispatch
 * projection, derived by rewriting exact fragments (each must occur once), not copied.
 */
function transientMigration(migration4: string): string {
  const start = migration4.indexOf('CREATE OR REPLACE FUNCTION commit_job');
  const end = migration4.indexOf('$fn$;', start);
  if (start < 0 || end < 0) throw new Error('migration 4 has no commit_job function');
  let commitJob = migration4.slice(start, end + '$fn$;'.length);
  for (const [text, replacement] of TRANSIENT_PROJECTION) {
    if (commitJob.split(text).length !== 2) throw new Error(`migration 4 commit_job does not contain exactly one ${text}`);
    commitJob = commitJob.replace(text, replacement);
  }
  return `
  ALTER TABLE dispatches ADD COLUMN transient TEXT;
  ALTER TABLE dispatches ADD COLUMN retry_at BIGINT;
  ${commitJob}
  `;
}

const MIGRATION_4 = workspacesMigration();

/** 6 (SQLite 15): retention (persistence/roles/retention.ts) walks finished actors by finish time. */
const MIGRATION_6 = `
  CREATE INDEX actors_finished ON actors (updated_at, id) WHERE status = 'done';
`;

export const PG_MIGRATIONS: readonly string[] = [...PG_MIGRATIONS_1_TO_3, MIGRATION_4, transientMigration(MIGRATION_4), MIGRATION_6, PG_NOTIFICATIONS_MIGRATION, PG_TRACE_CONTEXTS_MIGRATION];
