import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { StatecrewError, StoreCorruptError, StoreFailedError, StoreNotFoundError } from '../../core/errors.js';
import { journalQuerySql, pageJournal, rowToJournalRecord } from '../journalQuery.js';
import type { JournalQuery, JournalRecord } from '../journalTypes.js';
import * as rows from '../rows.js';
import type { SchedulerView, SchedulerViewRequest, Store } from '../store.js';
import type {
  ActorKind, ActorRecord, ActorSummary, CommandRecord, DispatchProjection, JournalEntry, LeaseClaimResult, LeaseLedgerEntry,
  LeaseProjection, LeaseRenewResult, MessageRecord, NotificationRecord, NotificationWrite, PlanRecord, RuntimeRecord, RuntimeRegistration, SupervisorProjection,
  WorkspaceProjection,
  TransitionWrite, TurnEventRecord, TurnOutputChunk, WorkerProjection,
} from '../types.js';
import { migrateSchema, STORE_TYPES } from './pgConnection.js';
import { classifyPgError, connectionError } from './pgErrors.js';
import { ChangeListener } from './pgListener.js';
import { compactCategory, readCompactionState } from './pgCompaction.js';
import { compactLimit } from '../sqliteCompaction.js';
import type { CompactionState, CompactRequest, CompactResult } from '../roles/retention.js';
import { CLAIM_LEASE_SQL, positional, schedulerViewSql } from './pgStatements.js';
import { parsePgUrl, type PgTarget } from './pgTarget.js';
import { PgNotificationOutbox } from './pgNotifications.js';

/** How a {@link PostgresStore} is opened. */
export interface PostgresStoreOptions {
  /** Schema of statecrew's tables; overrides the URL's `?schema=`. @default 'statecrew' */
  readonly schema?: string;
  /** Open for reading only: never create the schema or migrate it. @default false */
  readonly readonly?: boolean;
  /** Fail with StoreNotFoundError when the schema has no statecrew tables, instead of creating them. @default false */
  readonly mustExist?: boolean;
  /** Connections of the pool this store creates (not of a pool it is given). @default 10 */
  readonly poolSize?: number;
  /** How long opening a connection may take, ms. @default 10_000 */
  readonly connectTimeoutMs?: number;
  /**
   * How long one call may wait for the server's answer before it fails with
   * `StoreUnavailableError` (retried) and its connection is discarded, ms. A bound on every
   * call: a connection cut under a query (`pg_terminate_backend`, a server restart) was seen to
   * leave node-postgres waiting for an answer that never came. @default 15_000
   */
  readonly queryTimeoutMs?: number;
}

/** Rows per page of an unlimited journal query. */
const JOURNAL_PAGE = 500;

/**
 * The PostgreSQL store (node-postgres): one fleet's state shared by runtimes on several hosts.
 * Tables live in a schema of their own (`statecrew` by default, so the database can be shared),
 * created and migrated by the store itself under an advisory lock. Opening is lazy: the
 * constructor starts connecting and migrating, and every call waits for that first; call
 * {@link PostgresStore.ready} to learn at once whether the store can be used.
 *
 * A job commits in one round trip (`SELECT commit_job($1)`, pgSchema.ts) with every check under
 * row locks; the lease claim is one `INSERT … ON CONFLICT … DO UPDATE … WHERE … RETURNING`; a
 * scheduler pass reads in one round trip. Errors are typed by SQLSTATE (pgErrors.ts): a lost
 * connection or a restarted server is `StoreUnavailableError` (retry), nothing of the call
 * having been committed — except a commit whose acknowledgement was lost, which the caller's
 * expected-sequence compare-and-set then refuses on retry (ConcurrentWriteError), never doubles.
 */
export class PostgresStore implements Store {
  readonly location: string;
  readonly target: PgTarget;
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  /** Resolves `null` once connected and migrated, or the error that prevents it. */
  private readonly opening: Promise<StatecrewError | null>;
  private closed = false;
  /** This store's `statecrew.sender`: its own commits' notifications carry it (pgListener.ts). */
  private readonly sender = randomBytes(8).toString('hex');
  private readonly listener: ChangeListener;
  private readonly outbox = new PgNotificationOutbox(
    (operation, text, values) => this.query(operation, text, values),
    (operation, text, values) => this.write(operation, text, values),
  );
  /** Writes committed through this store. */
  private ownChanges = 0;
  /** The last error of an idle pooled connection (the server restarted, the connection was cut); the pool replaces it. */
  lastIdleError: Error | null = null;

  /**
   * @param connection a `postgres://` URL (the store makes its pool) or a `pg.Pool` of the host's
   *   (the store sets `search_path` on each query's connection and never ends the pool).
   * @throws UsageError when the URL is malformed.
   */
  constructor(connection: string | pg.Pool, options: PostgresStoreOptions = {}) {
    if (typeof connection === 'string') {
      const { target, connectionString } = parsePgUrl(connection, options.schema);
      this.target = target;
      this.pool = new pg.Pool({
        connectionString,
        max: options.poolSize ?? 10,
        connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
        query_timeout: options.queryTimeoutMs ?? 15_000,
        types: STORE_TYPES,
        options: `-c search_path="${target.schema}" -c statecrew.sender=${this.sender}`,
        application_name: 'statecrew',
      });
      this.ownsPool = true;
    } else {
      const { host = 'localhost', port = 5432, database = '', user = '' } = connection.options;
      const schema = options.schema ?? 'statecrew';
      this.target = parsePgUrl(`postgres://${encodeURIComponent(user)}@${host}:${port}/${encodeURIComponent(database)}?schema=${schema}`).target;
      this.pool = connection;
      this.ownsPool = false;
    }
    this.location = this.target.display;
    this.pool.on('error', (error) => {
      this.lastIdleError = error;
    });
    const listen = typeof connection === 'string'
      ? async (): Promise<pg.Client> => {
        const client = new pg.Client({
          connectionString: parsePgUrl(connection).connectionString,
          connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
          query_timeout: options.queryTimeoutMs ?? 15_000,
          application_name: 'statecrew-listen',
        });
        await client.connect();
        return client;
      }
      : () => this.pool.connect();
    this.listener = new ChangeListener(listen, `${this.target.schema}_changes`, this.sender);
    this.opening = this.open(options).then(
      () => null,
      (error: unknown) => (error instanceof StatecrewError ? error : connectionError(error, this.target)),
    );
  }

  /**
   * Resolves once the store is connected and its schema migrated.
   * @throws StoreConnectionError when the server cannot be reached or refuses the role, the database or a permission.
   * @throws StoreVersionError when the schema is newer than this statecrew (or older and read-only).
   * @throws StoreNotFoundError when `mustExist` or `readonly` is set and the schema has no statecrew tables.
   */
  async ready(): Promise<void> {
    const failed = await this.opening;
    if (failed !== null) throw failed;
  }

  private async open(options: PostgresStoreOptions): Promise<void> {
    await this.onClient(async (client) => {
      if (options.readonly === true || options.mustExist === true) {
        const found = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [`${this.target.schema}.schema_migrations`]);
        if (found.rows[0]?.present !== true) throw new StoreNotFoundError(this.target.display);
      }
      await migrateSchema(client, this.target, options.readonly === true);
    });
    await this.listener.start();
  }

  /** A connection of a host's pool gets this store's `search_path` and `statecrew.sender` (a pool the store made has them from the start). */
  private async prepareHostClient(client: pg.PoolClient): Promise<void> {
    if (this.ownsPool) return;
    await client.query(`SET search_path TO "${this.target.schema}"; SET statecrew.sender TO '${this.sender}'`);
  }

  /** Runs one statement that writes; counts it as a change of this store once it succeeded. */
  private async write(operation: string, text: string, values: unknown[] = []): Promise<unknown[]> {
    const result = await this.query(operation, text, values);
    this.ownChanges++;
    return result;
  }

  /** Runs one statement (after the store is ready); errors typed by {@link classifyPgError}. */
  private async query(operation: string, text: string, values: unknown[] = []): Promise<unknown[]> {
    await this.ready();
    if (this.closed) throw new StoreFailedError(operation, { cause: new Error('the store is closed') });
    try {
      if (this.ownsPool) return (await this.pool.query(text, values)).rows as unknown[];
      return await this.onClient(async (client) => (await client.query(text, values)).rows as unknown[]);
    } catch (error) {
      throw classifyPgError(operation, error, this.target);
    }
  }

  /**
   * Runs `body` on one pooled connection (its `search_path` set); a connection that failed is
   * destroyed, not reused. While it is checked out, its `error` event (the connection cut
   * between two statements) is caught here: unheard, node-postgres's client would throw it as an
   * uncaught exception; the next statement then fails and the call is retried.
   */
  private async onClient<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const onError = (error: Error): void => {
      broken = error;
    };
    client.on('error', onError);
    try {
      await this.prepareHostClient(client);
      return await body(client);
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** Runs `body` in one transaction (BEGIN … COMMIT, rolled back on any error). */
  private async transaction<T>(operation: string, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.ready();
    try {
      return await this.onClient(async (client) => {
        await client.query('BEGIN');
        const result = await body(client);
        await client.query('COMMIT');
        this.ownChanges++;
        return result;
      });
    } catch (error) {
      // The connection is destroyed on error (onClient), which rolls back what was begun.
      throw classifyPgError(operation, error, this.target);
    }
  }

  commitJob(writes: readonly TransitionWrite[]): Promise<void> {
    if (writes.length === 0) return Promise.resolve();
    // A job that causes notifications writes them in the same statement (commit_job_notify).
    const notify = writes.some((write) => (write.notifications?.length ?? 0) > 0);
    return this.write('commitJob', notify ? 'SELECT commit_job_notify($1::jsonb)' : 'SELECT commit_job($1::jsonb)', [JSON.stringify(writes)]).then(() => undefined);
  }

  enqueueNotifications(notifications: readonly NotificationWrite[]): Promise<number> {
    return this.outbox.enqueue(notifications);
  }

  claimNotifications(request: { runtimeId: string; now: number; claimMs: number; limit: number }): Promise<NotificationRecord[]> {
    return this.outbox.claim(request);
  }

  recordNotificationAttempt(
    id: number,
    runtimeId: string,
    outcome: { readonly delivered: true; readonly at: number } | { readonly delivered: false; readonly error: string; readonly retryAt: number | null },
  ): Promise<boolean> {
    return this.outbox.record(id, runtimeId, outcome);
  }

  listNotifications(): Promise<NotificationRecord[]> {
    return this.outbox.list();
  }

  async saveTraceContext(subject: string, traceparent: string, now: number): Promise<string> {
    const [row] = await this.write(
      'saveTraceContext',
      `WITH added AS (INSERT INTO trace_contexts (subject, traceparent, created_at) VALUES ($1, $2, $3) ON CONFLICT (subject) DO NOTHING RETURNING traceparent)
       SELECT traceparent FROM added UNION ALL SELECT traceparent FROM trace_contexts WHERE subject = $1 LIMIT 1`,
      [subject, traceparent, now],
    );
    // Another connection's row committed after this statement's snapshot: read it now.
    return row === undefined ? ((await this.loadTraceContext(subject)) ?? traceparent) : rows.rowToTraceparent(row);
  }

  async loadTraceContext(subject: string): Promise<string | undefined> {
    const [row] = await this.query('loadTraceContext', 'SELECT traceparent FROM trace_contexts WHERE subject = $1', [subject]);
    return row === undefined ? undefined : rows.rowToTraceparent(row);
  }

  async listActiveActors(kind?: ActorKind): Promise<ActorRecord[]> {
    const found = kind === undefined
      ? await this.query('listActiveActors', "SELECT * FROM actors WHERE status = 'active' ORDER BY created_at, id")
      : await this.query('listActiveActors', "SELECT * FROM actors WHERE status = 'active' AND kind = $1 ORDER BY created_at, id", [kind]);
    return found.map(rows.rowToActor);
  }

  async listOwnedActors(runtimeId: string): Promise<ActorRecord[]> {
    return (await this.query('listOwnedActors', "SELECT * FROM actors WHERE status = 'active' AND owner_runtime = $1 ORDER BY created_at, id", [runtimeId])).map(rows.rowToActor);
  }

  async listActors(): Promise<ActorSummary[]> {
    const sql = 'SELECT id, kind, machine_id, machine_version, state, status, seq, created_at, updated_at, owner_runtime FROM actors ORDER BY created_at, id';
    return (await this.query('listActors', sql)).map(rows.rowToActorSummary);
  }

  async getActor(id: string): Promise<ActorRecord | undefined> {
    const [row] = await this.query('getActor', 'SELECT * FROM actors WHERE id = $1', [id]);
    return row === undefined ? undefined : rows.rowToActor(row);
  }

  quarantineActor(id: string, reason: string, now: number): Promise<void> {
    return this.transaction('quarantineActor', async (client) => {
      const [found] = (await client.query('SELECT * FROM actors WHERE id = $1 FOR UPDATE', [id])).rows as unknown[];
      if (found === undefined) return;
      const row = rows.rowToQuarantineSource(found);
      await client.query("UPDATE actors SET status = 'quarantined', quarantine_reason = $1, seq = seq + 1 WHERE id = $2", [reason, id]);
      await client.query(
        `INSERT INTO journal (actor_id, seq, event_type, from_state, to_state, at, snapshot, event)
         VALUES ($1, $2, 'statecrew.quarantine', $3, 'quarantined', $4, $5, $6)`,
        [id, row.seq + 1, row.state, now, row.snapshot, JSON.stringify({ type: 'statecrew.quarantine', reason })],
      );
      const table = { worker: 'workers', lease: 'leases', dispatch: 'dispatches', supervisor: 'supervisors', workspace: 'workspaces' }[row.kind];
      await client.query(`UPDATE ${table} SET state = 'quarantined', updated_at = $1 WHERE id = $2`, [now, id]);
    });
  }

  async listQuarantined(): Promise<{ id: string; kind: ActorKind; reason: string | null }[]> {
    const sql = "SELECT id, kind, quarantine_reason FROM actors WHERE status = 'quarantined' ORDER BY updated_at, id";
    return (await this.query('listQuarantined', sql)).map(rows.rowToQuarantined);
  }

  async journal(actorId: string): Promise<JournalEntry[]> {
    return (await this.query('journal', 'SELECT * FROM journal WHERE actor_id = $1 ORDER BY seq', [actorId])).map(rows.rowToJournal);
  }

  async journalSize(): Promise<number> {
    const [row] = await this.query('journalSize', 'SELECT count(*)::bigint AS n FROM journal');
    return rows.rowToCount('journal', row);
  }

  queryJournal(query: JournalQuery = {}): AsyncIterable<JournalRecord> {
    const { sql, params } = journalQuerySql(query, JOURNAL_PAGE);
    const read = async (pageParams: Record<string, string | number>): Promise<unknown[]> => {
      const { text, values } = positional(sql, pageParams);
      return this.query('queryJournal', text, values);
    };
    if (query.limit !== undefined) {
      return {
        async *[Symbol.asyncIterator]() {
          yield* (await read(params)).map(rowToJournalRecord).reverse();
        },
      };
    }
    return { [Symbol.asyncIterator]: () => pageJournal(read, params, JOURNAL_PAGE) };
  }

  async listWorkers(): Promise<WorkerProjection[]> {
    return (await this.query('listWorkers', 'SELECT * FROM workers ORDER BY pos')).map(rows.rowToWorker);
  }

  async listLeases(): Promise<LeaseProjection[]> {
    return (await this.query('listLeases', 'SELECT * FROM leases ORDER BY pos')).map(rows.rowToLease);
  }

  async listDispatches(unitId?: string): Promise<DispatchProjection[]> {
    const found = unitId === undefined
      ? await this.query('listDispatches', 'SELECT * FROM dispatches ORDER BY created_at, pos')
      : await this.query('listDispatches', 'SELECT * FROM dispatches WHERE unit_id = $1 ORDER BY created_at, pos', [unitId]);
    return found.map(rows.rowToDispatch);
  }

  async listWorkspaces(): Promise<WorkspaceProjection[]> {
    return (await this.query('listWorkspaces', 'SELECT * FROM workspaces ORDER BY created_at, id')).map(rows.rowToWorkspace);
  }

  async listSupervisors(): Promise<SupervisorProjection[]> {
    return (await this.query('listSupervisors', 'SELECT * FROM supervisors ORDER BY started_at, pos')).map(rows.rowToSupervisor);
  }

  async claimLease(request: { milestoneId: string; holderId: string; leaseId: string; ttlMs: number; now: number }): Promise<LeaseClaimResult> {
    const expiresAt = request.now + request.ttlMs;
    const [granted] = await this.query(
      'claimLease',
      CLAIM_LEASE_SQL,
      [request.milestoneId, request.holderId, request.leaseId, expiresAt, request.now],
    );
    if (granted !== undefined) return { granted: true, fencingToken: rows.rowToFencingToken(granted), expiresAt };
    const current = await this.getLease(request.milestoneId);
    return { granted: false, holderId: current?.holderId ?? null, fencingToken: current?.fencingToken ?? 0, expiresAt: current?.expiresAt ?? null };
  }

  async renewLease(request: { milestoneId: string; fencingToken: number; ttlMs: number; now: number }): Promise<LeaseRenewResult> {
    const expiresAt = request.now + request.ttlMs;
    const [renewed] = await this.query(
      'renewLease',
      `UPDATE lease_ledger SET expires_at = $3 WHERE milestone_id = $1 AND fencing_token = $2 AND holder_id IS NOT NULL
         AND (expires_at IS NULL OR expires_at > $4) RETURNING milestone_id`,
      [request.milestoneId, request.fencingToken, expiresAt, request.now],
    );
    if (renewed !== undefined) return { ok: true, expiresAt };
    const lease = await this.getLease(request.milestoneId);
    if (lease === undefined || lease.fencingToken !== request.fencingToken || lease.holderId === null) {
      return { ok: false, reason: 'lost', currentToken: lease?.fencingToken ?? null };
    }
    return { ok: false, reason: 'expired', currentToken: lease.fencingToken };
  }

  async releaseLease(request: { milestoneId: string; fencingToken: number }): Promise<boolean> {
    const released = await this.query(
      'releaseLease',
      'UPDATE lease_ledger SET holder_id = NULL, lease_id = NULL, expires_at = NULL WHERE milestone_id = $1 AND fencing_token = $2 RETURNING milestone_id',
      [request.milestoneId, request.fencingToken],
    );
    return released.length === 1;
  }

  async getLease(milestoneId: string): Promise<LeaseLedgerEntry | undefined> {
    const [row] = await this.query('getLease', 'SELECT * FROM lease_ledger WHERE milestone_id = $1', [milestoneId]);
    return row === undefined ? undefined : rows.rowToLedger(row);
  }

  async listLeaseLedger(): Promise<LeaseLedgerEntry[]> {
    return (await this.query('listLeaseLedger', 'SELECT * FROM lease_ledger ORDER BY milestone_id')).map(rows.rowToLedger);
  }

  async registerRuntime(runtime: RuntimeRegistration): Promise<void> {
    await this.query(
      'registerRuntime',
      `INSERT INTO runtimes (id, host, host_id, pid, proc_start_time, started_at, heartbeat_at, ttl_ms, turn_grace_ms, state)
       VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, 'running')`,
      [runtime.id, runtime.host, runtime.hostId, runtime.pid, runtime.procStartTime, runtime.now, runtime.ttlMs, runtime.turnGraceMs ?? null],
    );
  }

  async heartbeatRuntime(id: string, now: number): Promise<boolean> {
    const beat = await this.write('heartbeatRuntime', "UPDATE runtimes SET heartbeat_at = $1 WHERE id = $2 AND state = 'running' RETURNING id", [now, id]);
    return beat.length === 1;
  }

  async stopRuntime(id: string, now: number, reason: string): Promise<void> {
    await this.write('stopRuntime', "UPDATE runtimes SET state = 'stopped', ended_at = $1, end_reason = $2 WHERE id = $3 AND state = 'running'", [now, reason, id]);
  }

  async listRuntimes(): Promise<RuntimeRecord[]> {
    return (await this.query('listRuntimes', 'SELECT * FROM runtimes ORDER BY started_at, id')).map(rows.rowToRuntime);
  }

  async takeOverRuntime(request: { deadId: string; heartbeatAt: number; takerId: string; now: number; reason: string }): Promise<string[] | null> {
    // One statement: the registry row first (its lock, then the actor rows': the order commit_job takes them in).
    const [row] = await this.query(
      'takeOverRuntime',
      `WITH dead AS (
         UPDATE runtimes SET state = 'dead', ended_at = $1, end_reason = $2 WHERE id = $3 AND state = 'running' AND heartbeat_at = $4 RETURNING id
       ), moved AS (
         UPDATE actors SET owner_runtime = $5 WHERE status = 'active' AND owner_runtime IN (SELECT id FROM dead) RETURNING id
       )
       SELECT (SELECT count(*) FROM dead)::integer AS declared, COALESCE((SELECT array_agg(id ORDER BY id) FROM moved), '{}') AS ids`,
      [request.now, request.reason, request.deadId, request.heartbeatAt, request.takerId],
    );
    const result = row as { declared: number; ids: string[] } | undefined;
    if (result === undefined || result.declared !== 1) return null;
    return result.ids;
  }

  async adoptUnownedActors(takerId: string): Promise<string[]> {
    const adopted = await this.query(
      'adoptUnownedActors',
      `UPDATE actors SET owner_runtime = $1 WHERE status = 'active' AND (owner_runtime IS NULL
         OR owner_runtime NOT IN (SELECT id FROM runtimes WHERE state = 'running')) RETURNING id`,
      [takerId],
    );
    return adopted.map(rows.rowToId);
  }

  async enqueueCommand(command: { kind: CommandRecord['kind']; target: string | null; now: number }): Promise<number> {
    const [row] = await this.write('enqueueCommand', 'INSERT INTO commands (kind, target, created_at) VALUES ($1, $2, $3) RETURNING id', [command.kind, command.target, command.now]);
    return rows.rowToNumericId('commands', row);
  }

  async listPendingCommands(): Promise<CommandRecord[]> {
    return (await this.query('listPendingCommands', 'SELECT * FROM commands WHERE done_at IS NULL ORDER BY id')).map(rows.rowToCommand);
  }

  async getCommand(id: number): Promise<CommandRecord | undefined> {
    const [row] = await this.query('getCommand', 'SELECT * FROM commands WHERE id = $1', [id]);
    return row === undefined ? undefined : rows.rowToCommand(row);
  }

  async takeCommand(id: number, runtimeId: string): Promise<boolean> {
    const taken = await this.write('takeCommand', 'UPDATE commands SET taken_by = $1 WHERE id = $2 AND taken_by IS NULL AND done_at IS NULL RETURNING id', [runtimeId, id]);
    return taken.length === 1;
  }

  async completeCommand(id: number, outcome: 'done' | 'not-found' | 'nothing-running', message: string, now: number): Promise<void> {
    await this.write('completeCommand', 'UPDATE commands SET done_at = $1, outcome = $2, message = $3 WHERE id = $4 AND done_at IS NULL', [now, outcome, message, id]);
  }

  async setControl(key: string, value: string | null, now: number): Promise<void> {
    if (value === null) await this.write('setControl', 'DELETE FROM controls WHERE key = $1', [key]);
    else {
      await this.query(
        'setControl',
        'INSERT INTO controls (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at',
        [key, value, now],
      );
    }
  }

  async getControl(key: string): Promise<{ value: string; updatedAt: number } | undefined> {
    const [row] = await this.query('getControl', 'SELECT key, value, updated_at FROM controls WHERE key = $1', [key]);
    if (row === undefined) return undefined;
    const control = rows.rowToControl(row);
    return { value: control.value, updatedAt: control.updatedAt };
  }

  async cancelUnit(unitId: string, reason: string, now: number): Promise<boolean> {
    const added = await this.query(
      'cancelUnit',
      'INSERT INTO unit_cancellations (unit_id, reason, canceled_at) VALUES ($1, $2, $3) ON CONFLICT (unit_id) DO NOTHING RETURNING unit_id',
      [unitId, reason, now],
    );
    return added.length === 1;
  }

  async listCanceledUnits(): Promise<{ unitId: string; reason: string; canceledAt: number }[]> {
    return (await this.query('listCanceledUnits', 'SELECT * FROM unit_cancellations ORDER BY canceled_at, unit_id')).map(rows.rowToCancellation);
  }

  async enqueueMessage(unitId: string, text: string, now: number): Promise<number> {
    const [row] = await this.write('enqueueMessage', 'INSERT INTO messages (unit_id, text, created_at) VALUES ($1, $2, $3) RETURNING id', [unitId, text, now]);
    return rows.rowToNumericId('messages', row);
  }

  async listMessages(unitId?: string): Promise<MessageRecord[]> {
    const found = unitId === undefined
      ? await this.query('listMessages', 'SELECT * FROM messages ORDER BY id')
      : await this.query('listMessages', 'SELECT * FROM messages WHERE unit_id = $1 ORDER BY id', [unitId]);
    return found.map(rows.rowToMessage);
  }

  async recordTurnEvents(events: readonly TurnEventRecord[]): Promise<void> {
    if (events.length === 0) return;
    // One statement for all of them: unnest the columns.
    await this.query(
      'recordTurnEvents',
      `INSERT INTO turn_events (dispatch_id, line, type, subtype, body)
       SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[]) ON CONFLICT DO NOTHING`,
      [events.map((e) => e.dispatchId), events.map((e) => e.line), events.map((e) => e.type), events.map((e) => e.subtype), events.map((e) => e.body)],
    );
  }

  async turnEvents(dispatchId: string): Promise<TurnEventRecord[]> {
    return (await this.query('turnEvents', 'SELECT * FROM turn_events WHERE dispatch_id = $1 ORDER BY line', [dispatchId])).map(rows.rowToTurnEvent);
  }

  async appendTurnOutput(chunk: TurnOutputChunk, capBytes: number): Promise<void> {
    // One round trip: the insert and the trim as one multi-statement transaction (a CTE would not see the inserted row).
    await this.transaction('appendTurnOutput', async (client) => {
      await client.query('INSERT INTO turn_output (dispatch_id, byte_offset, bytes) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [chunk.dispatchId, chunk.offset, Buffer.from(chunk.bytes)]);
      await client.query(
        `DELETE FROM turn_output WHERE dispatch_id = $1
           AND byte_offset + length(bytes) <= (SELECT max(byte_offset + length(bytes)) FROM turn_output WHERE dispatch_id = $1) - $2`,
        [chunk.dispatchId, capBytes],
      );
    });
  }

  async readTurnOutput(dispatchId: string, fromOffset = 0): Promise<TurnOutputChunk[]> {
    return (await this.query('readTurnOutput', 'SELECT * FROM turn_output WHERE dispatch_id = $1 AND byte_offset + length(bytes) > $2 ORDER BY byte_offset', [dispatchId, fromOffset]))
      .map(rows.rowToTurnOutput);
  }

  async savePlan(record: PlanRecord): Promise<void> {
    await this.query(
      'savePlan',
      `INSERT INTO plan (id, file, fingerprint, body, saved_at) VALUES (1, $1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET file = EXCLUDED.file, fingerprint = EXCLUDED.fingerprint, body = EXCLUDED.body, saved_at = EXCLUDED.saved_at`,
      [record.file, record.fingerprint, record.body, record.savedAt],
    );
  }

  async loadPlan(): Promise<PlanRecord | undefined> {
    const [row] = await this.query('loadPlan', 'SELECT * FROM plan WHERE id = 1');
    return row === undefined ? undefined : rows.rowToPlan(row);
  }

  /**
   * One round trip in one REPEATABLE READ snapshot. The version is read before the rows: a
   * commit whose notification arrives in between is in the rows and moves the next version, so
   * it costs one full read more, never a missed change. A commit whose notification has not
   * arrived yet (milliseconds) may be missing from a partial read: the next pass reads in full.
   */
  async readSchedulerView(request: SchedulerViewRequest): Promise<SchedulerView> {
    await this.ready();
    const version = this.listener.external;
    const full = request.knownVersion !== version;
    let results: pg.QueryResult[];
    try {
      results = await this.onClient(async (client) => {
        const sql = schedulerViewSql(full ? null : request.units.map((unit) => client.escapeLiteral(unit)));
        return (await client.query(sql)) as unknown as pg.QueryResult[];
      });
    } catch (error) {
      throw classifyPgError('readSchedulerView', error, this.target);
    }
    const [, dispatches, leases, ledger, controls, canceled, messages, commands, workspaces] = results.map((result) => result.rows as unknown[]);
    return {
      version,
      full,
      dispatches: (dispatches ?? []).map(rows.rowToDispatch),
      leases: (leases ?? []).map(rows.rowToLease),
      ledger: (ledger ?? []).map(rows.rowToLedger),
      controls: new Map((controls ?? []).map((row) => {
        const control = rows.rowToControl(row);
        return [control.key, { value: control.value, updatedAt: control.updatedAt }] as const;
      })),
      canceled: (canceled ?? []).map(rows.rowToCancellation),
      messages: (messages ?? []).map(rows.rowToMessage),
      commands: (commands ?? []).map(rows.rowToCommand),
      workspaces: (workspaces ?? []).map(rows.rowToWorkspace),
    };
  }

  async reserveSequence(name: string, count: number): Promise<number> {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`reserveSequence(${name}): count must be a whole number of at least 1, got ${count}`);
    const [row] = await this.query(
      'reserveSequence',
      'INSERT INTO sequences (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = sequences.value + EXCLUDED.value RETURNING value',
      [name, count],
    );
    return Number(rows.rowToValue('sequences', row)) - count + 1;
  }

  /** The server's `clock_timestamp()`, in ms since the epoch (fractional: microseconds kept). */
  async readClock(): Promise<number | null> {
    const [row] = await this.query('readClock', 'SELECT extract(epoch FROM clock_timestamp()) * 1000 AS now');
    const now = Number((row as { now?: unknown } | undefined)?.now);
    if (!Number.isFinite(now)) throw new StoreFailedError('readClock', { cause: new Error(`the server's clock_timestamp() read as ${String(now)}`) });
    return now;
  }

  async storeId(): Promise<string> {
    const [row] = await this.query('storeId', "SELECT value FROM meta WHERE key = 'store_id'");
    if (row === undefined) throw new StoreCorruptError('the store has no store_id in its meta table');
    return String(rows.rowToValue('meta', row));
  }

  /**
   * Writes committed through this store plus those of other connections it was notified of
   * (pgListener.ts), as of this call: one round trip on the listening connection first.
   */
  async changeCounter(): Promise<number> {
    return this.ownChanges + (await this.externalChangeCounter());
  }

  /** Commits of other connections, counted from their notifications; moves on every read while the listening connection is down. */
  async externalChangeCounter(): Promise<number> {
    await this.ready();
    try {
      await this.listener.sync();
    } catch (error) {
      throw classifyPgError('externalChangeCounter', error, this.target);
    }
    return this.listener.external;
  }

  /**
   * The store's logical integrity: every actor's `seq` is its last journal row, every projection
   * row has its actor. Physical integrity is the server's (data checksums, `amcheck`).
   */
  /** Woken by the LISTEN connection's notifications of other connections' commits (pgListener.ts). */
  watchChanges(onChange: () => void): () => void {
    const stop = this.listener.watch(onChange);
    return () => {
      stop();
    };
  }

  async checkIntegrity(): Promise<string[]> {
    // What retention dropped (persistence/roles/retention.ts) is not missing: the journal of a
    // finished actor up to the journal cursor, the actor row of a dispatch up to the actors cursor.
    const found = await this.query(
      'checkIntegrity',
      `WITH jc AS (SELECT (value::jsonb->>'at')::bigint AS at, (value::jsonb->>'id') COLLATE "C" AS id FROM meta WHERE key = 'compaction.journal'),
            ac AS (SELECT (value::jsonb->>'at')::bigint AS at, (value::jsonb->>'id') COLLATE "C" AS id FROM meta WHERE key = 'compaction.actors')
       SELECT 'actor ' || a.id || ': seq ' || a.seq || ' but the last journal row is ' || COALESCE(j.last::text, 'none') AS problem
         FROM actors a LEFT JOIN (SELECT actor_id, max(seq) AS last FROM journal GROUP BY actor_id) j ON j.actor_id = a.id
         WHERE j.last IS DISTINCT FROM a.seq
           AND NOT (j.last IS NULL AND a.status = 'done' AND EXISTS (SELECT 1 FROM jc WHERE (a.updated_at, a.id) <= (jc.at, jc.id)))
       UNION ALL
       SELECT 'dispatch ' || d.id || ' has no actor row' FROM dispatches d
         WHERE NOT EXISTS (SELECT 1 FROM actors a WHERE a.id = d.id)
           AND NOT EXISTS (SELECT 1 FROM ac WHERE (d.updated_at, d.id) <= (ac.at, ac.id))
       ORDER BY 1`,
    );
    return found.map((row) => String((row as { problem: unknown }).problem));
  }

  async compact(request: CompactRequest): Promise<CompactResult> {
    const limit = compactLimit(request);
    const result = { journalActors: 0, journalRows: 0, turnOutputDispatches: 0, turnOutputRows: 0, actors: 0, more: false };
    for (const category of ['journal', 'turnOutput', 'actors'] as const) {
      const before = request.before[category];
      if (before === undefined || before === null) continue;
      const batch = await this.transaction('compact', (client) => compactCategory(client, category, before, limit));
      if (category === 'journal') {
        result.journalActors += batch.actors;
        result.journalRows += batch.rows;
      } else if (category === 'turnOutput') {
        result.turnOutputDispatches += batch.actors;
        result.turnOutputRows += batch.rows;
      } else {
        result.actors += batch.actors;
      }
      if (batch.full) result.more = true;
    }
    return result;
  }

  async compactionState(): Promise<CompactionState> {
    await this.ready();
    try {
      return await this.onClient((client) => readCompactionState(client));
    } catch (error) {
      throw classifyPgError('compactionState', error, this.target);
    }
  }

  async vacuum(): Promise<void> {
    await this.query('vacuum', 'VACUUM (ANALYZE) journal, turn_events, turn_output, actors');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.opening;
    await this.listener.stop();
    if (this.ownsPool) await this.pool.end();
  }
}
