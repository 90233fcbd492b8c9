import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DispatchConflictError, PersistError, StaleFencingTokenError, StoreCorruptError, StoreNotFoundError } from '../src/errors.js';
import { migrate } from './migrations.js';
import type { Store } from './store.js';
import type {
  ActorKind,
  ActorRecord,
  DispatchProjection,
  JournalEntry,
  LeaseClaimResult,
  LeaseLedgerEntry,
  LeaseProjection,
  LeaseRenewResult,
  PlanRecord,
  Projection,
  SupervisorProjection,
  TransitionWrite,
  WorkerProjection,
} from './types.js';
import { rowToActor, rowToDispatch, rowToJournal, rowToLease, rowToLedger, rowToSupervisor, rowToWorker } from './rows.js';

/**
 * `normal` maps to SQLite `synchronous = NORMAL`: in WAL mode a commit survives a crash of
 * the process but the last commits may be lost on power loss. `full` (`synchronous = FULL`)
 * also survives power loss, at the cost of an fsync per commit.
 */
export type Durability = 'normal' | 'full';

export interface SqliteStoreOptions {
  /** @default 'normal' */
  readonly durability?: Durability;
  /** How long a writer waits for a lock held by another process, in ms. @default 5000 */
  readonly busyTimeoutMs?: number;
}

/**
 * The SQLite store (better-sqlite3): WAL mode, numbered migrations, one transaction per
 * persisted transition. Takes an open `Database`; see {@link SqliteStore.fromPath}.
 */
export class SqliteStore implements Store {
  readonly db: Database.Database;
  private readonly statements;

  constructor(db: Database.Database, options: SqliteStoreOptions = {}) {
    this.db = db;
    if (!db.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    }
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5_000}`);
    db.pragma('foreign_keys = ON');
    if (!db.readonly) migrate(db);
    this.statements = prepareStatements(db);
  }

  /**
   * Opens (creating the file and its folder unless `mustExist` or `readonly`) the store at `file`.
   * @throws StoreNotFoundError when `mustExist` or `readonly` is set and there is no file.
   * @throws StoreCorruptError when the file is not a SQLite database or cannot be read.
   */
  static fromPath(file: string, options: SqliteStoreOptions & { mustExist?: boolean; readonly?: boolean } = {}): SqliteStore {
    if (options.mustExist === true || options.readonly === true) {
      if (!fs.existsSync(file)) throw new StoreNotFoundError(file);
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { readonly: options.readonly === true, fileMustExist: options.mustExist === true });
      return new SqliteStore(db, options);
    } catch (error) {
      db?.close();
      if (error instanceof Database.SqliteError) {
        throw new StoreCorruptError(`cannot open the store ${file}: ${error.message} (${error.code})`, { cause: error });
      }
      throw error;
    }
  }

  persistTransition(write: TransitionWrite): number {
    try {
      return this.writeTransition(write);
    } catch (error) {
      throw classifyWriteError(write, error);
    }
  }

  private readonly writeTransition = (write: TransitionWrite): number =>
    this.db.transaction((): number => {
      const s = this.statements;
      const existing = s.actorSeq.get(write.actorId) as { seq: number } | undefined;
      if (write.create === true && existing !== undefined) {
        throw new Error(`actor ${write.actorId} already exists`);
      }
      if (write.fence !== undefined) {
        const lease = s.ledgerGet.get(write.fence.milestoneId) as { fencing_token: number } | undefined;
        if (lease === undefined || lease.fencing_token !== write.fence.fencingToken) {
          throw new StaleFencingTokenError(write.fence.milestoneId, write.fence.fencingToken, lease?.fencing_token ?? null);
        }
      }
      const seq = (existing?.seq ?? 0) + 1;
      s.actorUpsert.run({
        id: write.actorId,
        kind: write.kind,
        machine_id: write.machineId,
        machine_version: write.machineVersion,
        state: write.state,
        status: write.status,
        snapshot: write.snapshot,
        seq,
        at: write.at,
      });
      s.journalInsert.run({
        actor_id: write.actorId,
        seq,
        event_type: write.eventType,
        from_state: write.fromState,
        to_state: write.state,
        at: write.at,
        snapshot: write.snapshot,
      });
      writeProjection(s, write.projection, write.at);
      return seq;
    })();

  listActiveActors(kind?: ActorKind): ActorRecord[] {
    const rows = kind === undefined ? this.statements.actorsActive.all() : this.statements.actorsActiveOfKind.all(kind);
    return rows.map(rowToActor);
  }

  getActor(id: string): ActorRecord | undefined {
    const row = this.statements.actorGet.get(id);
    return row === undefined ? undefined : rowToActor(row);
  }

  quarantineActor(id: string, reason: string): void {
    this.statements.actorQuarantine.run(reason, id);
  }

  journal(actorId: string): JournalEntry[] {
    return this.statements.journalOf.all(actorId).map(rowToJournal);
  }

  journalSize(): number {
    return (this.statements.journalCount.get() as { n: number }).n;
  }

  listWorkers(): WorkerProjection[] {
    return this.statements.workersAll.all().map(rowToWorker);
  }

  listLeases(): LeaseProjection[] {
    return this.statements.leasesAll.all().map(rowToLease);
  }

  listDispatches(unitId?: string): DispatchProjection[] {
    const rows = unitId === undefined ? this.statements.dispatchesAll.all() : this.statements.dispatchesOfUnit.all(unitId);
    return rows.map(rowToDispatch);
  }

  listSupervisors(): SupervisorProjection[] {
    return this.statements.supervisorsAll.all().map(rowToSupervisor);
  }

  claimLease(request: { milestoneId: string; holderId: string; leaseId: string; ttlMs: number; now: number }): LeaseClaimResult {
    return this.db.transaction((): LeaseClaimResult => {
      const s = this.statements;
      const expiresAt = request.now + request.ttlMs;
      const current = s.ledgerGet.get(request.milestoneId);
      if (current === undefined) {
        s.ledgerInsert.run(request.milestoneId, request.holderId, request.leaseId, 1, expiresAt);
        return { granted: true, fencingToken: 1, expiresAt };
      }
      const lease = rowToLedger(current);
      if (lease.leaseId === request.leaseId && lease.holderId === request.holderId) {
        s.ledgerRenew.run(expiresAt, request.milestoneId, lease.fencingToken);
        return { granted: true, fencingToken: lease.fencingToken, expiresAt };
      }
      const free = lease.holderId === null || lease.expiresAt === null || lease.expiresAt <= request.now;
      if (!free) {
        return { granted: false, holderId: lease.holderId, fencingToken: lease.fencingToken, expiresAt: lease.expiresAt };
      }
      const token = lease.fencingToken + 1;
      const changed = s.ledgerTakeOver.run(request.holderId, request.leaseId, token, expiresAt, request.milestoneId, lease.fencingToken);
      if (changed.changes !== 1) {
        return { granted: false, holderId: lease.holderId, fencingToken: lease.fencingToken, expiresAt: lease.expiresAt };
      }
      return { granted: true, fencingToken: token, expiresAt };
    }).immediate();
  }

  renewLease(request: { milestoneId: string; fencingToken: number; ttlMs: number; now: number }): LeaseRenewResult {
    return this.db.transaction((): LeaseRenewResult => {
      const current = this.statements.ledgerGet.get(request.milestoneId);
      const lease = current === undefined ? undefined : rowToLedger(current);
      if (lease === undefined || lease.fencingToken !== request.fencingToken || lease.holderId === null) {
        return { ok: false, reason: 'lost', currentToken: lease?.fencingToken ?? null };
      }
      if (lease.expiresAt !== null && lease.expiresAt <= request.now) {
        return { ok: false, reason: 'expired', currentToken: lease.fencingToken };
      }
      const expiresAt = request.now + request.ttlMs;
      this.statements.ledgerRenew.run(expiresAt, request.milestoneId, request.fencingToken);
      return { ok: true, expiresAt };
    }).immediate();
  }

  releaseLease(request: { milestoneId: string; fencingToken: number }): boolean {
    return this.statements.ledgerRelease.run(request.milestoneId, request.fencingToken).changes === 1;
  }

  getLease(milestoneId: string): LeaseLedgerEntry | undefined {
    const row = this.statements.ledgerGet.get(milestoneId);
    return row === undefined ? undefined : rowToLedger(row);
  }

  savePlan(record: PlanRecord): void {
    this.statements.planUpsert.run(record.file, record.fingerprint, record.body, record.savedAt);
  }

  loadPlan(): PlanRecord | undefined {
    const row = this.statements.planGet.get() as
      | { file: string; fingerprint: string; body: string; saved_at: number }
      | undefined;
    return row === undefined ? undefined : { file: row.file, fingerprint: row.fingerprint, body: row.body, savedAt: row.saved_at };
  }

  nextSequence(name: string): number {
    const row = this.statements.sequenceNext.get(name) as { value: number };
    return row.value;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function prepareStatements(db: Database.Database) {
  return {
    actorSeq: db.prepare('SELECT seq FROM actors WHERE id = ?'),
    actorGet: db.prepare('SELECT * FROM actors WHERE id = ?'),
    actorsActive: db.prepare("SELECT * FROM actors WHERE status = 'active' ORDER BY created_at, id"),
    actorsActiveOfKind: db.prepare("SELECT * FROM actors WHERE status = 'active' AND kind = ? ORDER BY created_at, id"),
    actorUpsert: db.prepare(
      `INSERT INTO actors (id, kind, machine_id, machine_version, state, status, snapshot, seq, created_at, updated_at)
       VALUES (@id, @kind, @machine_id, @machine_version, @state, @status, @snapshot, @seq, @at, @at)
       ON CONFLICT (id) DO UPDATE SET machine_id = @machine_id, machine_version = @machine_version, state = @state,
         status = @status, snapshot = @snapshot, seq = @seq, updated_at = @at`,
    ),
    actorQuarantine: db.prepare("UPDATE actors SET status = 'quarantined', quarantine_reason = ? WHERE id = ?"),
    journalInsert: db.prepare(
      `INSERT INTO journal (actor_id, seq, event_type, from_state, to_state, at, snapshot)
       VALUES (@actor_id, @seq, @event_type, @from_state, @to_state, @at, @snapshot)`,
    ),
    journalOf: db.prepare('SELECT * FROM journal WHERE actor_id = ? ORDER BY seq'),
    journalCount: db.prepare('SELECT count(*) AS n FROM journal'),
    workerUpsert: db.prepare(
      `INSERT INTO workers (id, state, milestone_id, unit_id, dispatch_id, fencing_token, pid, turns, updated_at)
       VALUES (@id, @state, @milestoneId, @unitId, @dispatchId, @fencingToken, @pid, @turns, @at)
       ON CONFLICT (id) DO UPDATE SET state = @state, milestone_id = @milestoneId, unit_id = @unitId,
         dispatch_id = @dispatchId, fencing_token = @fencingToken, pid = @pid, turns = @turns, updated_at = @at`,
    ),
    leaseUpsert: db.prepare(
      `INSERT INTO leases (id, milestone_id, worker_id, fencing_token, state, expires_at, updated_at)
       VALUES (@id, @milestoneId, @workerId, @fencingToken, @state, @expiresAt, @at)
       ON CONFLICT (id) DO UPDATE SET fencing_token = @fencingToken, state = @state, expires_at = @expiresAt, updated_at = @at`,
    ),
    dispatchUpsert: db.prepare(
      `INSERT INTO dispatches (id, unit_id, milestone_id, attempt, state, worker_id, fencing_token, not_before, started_at,
         ended_at, pid, pgid, proc_start_time, log_path, outcome, exit_code, signal, reason, created_at, updated_at)
       VALUES (@id, @unitId, @milestoneId, @attempt, @state, @workerId, @fencingToken, @notBefore, @startedAt,
         @endedAt, @pid, @pgid, @procStartTime, @logPath, @outcome, @exitCode, @signal, @reason, @at, @at)
       ON CONFLICT (id) DO UPDATE SET state = @state, worker_id = @workerId, fencing_token = @fencingToken,
         not_before = @notBefore, started_at = @startedAt, ended_at = @endedAt, pid = @pid, pgid = @pgid,
         proc_start_time = @procStartTime, log_path = @logPath, outcome = @outcome, exit_code = @exitCode, signal = @signal,
         reason = @reason, updated_at = @at`,
    ),
    supervisorUpsert: db.prepare(
      `INSERT INTO supervisors (id, state, runtime_id, pid, started_at, updated_at)
       VALUES (@id, @state, @runtimeId, @pid, @startedAt, @at)
       ON CONFLICT (id) DO UPDATE SET state = @state, updated_at = @at`,
    ),
    workersAll: db.prepare('SELECT * FROM workers ORDER BY rowid'),
    leasesAll: db.prepare('SELECT * FROM leases ORDER BY rowid'),
    dispatchesAll: db.prepare('SELECT * FROM dispatches ORDER BY created_at, rowid'),
    dispatchesOfUnit: db.prepare('SELECT * FROM dispatches WHERE unit_id = ? ORDER BY created_at, rowid'),
    supervisorsAll: db.prepare('SELECT * FROM supervisors ORDER BY started_at, rowid'),
    ledgerGet: db.prepare('SELECT * FROM lease_ledger WHERE milestone_id = ?'),
    ledgerInsert: db.prepare(
      'INSERT INTO lease_ledger (milestone_id, holder_id, lease_id, fencing_token, expires_at) VALUES (?, ?, ?, ?, ?)',
    ),
    ledgerTakeOver: db.prepare(
      `UPDATE lease_ledger SET holder_id = ?, lease_id = ?, fencing_token = ?, expires_at = ?
       WHERE milestone_id = ? AND fencing_token = ?`,
    ),
    ledgerRenew: db.prepare('UPDATE lease_ledger SET expires_at = ? WHERE milestone_id = ? AND fencing_token = ?'),
    ledgerRelease: db.prepare(
      `UPDATE lease_ledger SET holder_id = NULL, lease_id = NULL, expires_at = NULL
       WHERE milestone_id = ? AND fencing_token = ?`,
    ),
    planUpsert: db.prepare(
      `INSERT INTO plan (id, file, fingerprint, body, saved_at) VALUES (1, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET file = excluded.file, fingerprint = excluded.fingerprint,
         body = excluded.body, saved_at = excluded.saved_at`,
    ),
    planGet: db.prepare('SELECT * FROM plan WHERE id = 1'),
    sequenceNext: db.prepare(
      `INSERT INTO sequences (name, value) VALUES (?, 1)
       ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

function writeProjection(s: Statements, projection: Projection, at: number): void {
  switch (projection.kind) {
    case 'worker':
      s.workerUpsert.run({ ...projection.row, at });
      return;
    case 'lease':
      s.leaseUpsert.run({ ...projection.row, at });
      return;
    case 'dispatch':
      s.dispatchUpsert.run({ ...projection.row, at });
      return;
    case 'supervisor':
      s.supervisorUpsert.run({ ...projection.row, at });
      return;
  }
}

function classifyWriteError(write: TransitionWrite, error: unknown): Error {
  if (error instanceof StaleFencingTokenError) return error;
  if (
    error instanceof Database.SqliteError &&
    error.code === 'SQLITE_CONSTRAINT_UNIQUE' &&
    error.message.includes('dispatches.unit_id') &&
    write.projection.kind === 'dispatch'
  ) {
    return new DispatchConflictError(write.projection.row.unitId, { cause: error });
  }
  return new PersistError(write.actorId, { cause: error });
}
