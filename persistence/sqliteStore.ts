import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  StoreCorruptError,
  StoreNotFoundError,
  StoreVersionError,
} from '../core/errors.js';
import { GroupCommit } from './groupCommit.js';
import { migrate } from './migrations.js';
import { classifyWriteError, retryBusy } from './sqliteErrors.js';
import { journalQuerySql, rowToJournalRecord, streamJournal } from './journalQuery.js';
import { PROJECTION_TABLES, prepareStatements } from './sqliteStatements.js';
import { writeTransitionRows } from './transitionRows.js';
import type { JournalQuery, JournalRecord, Store } from './store.js';
import type {
  ActorKind,
  ActorRecord,
  ActorSummary,
  DispatchProjection,
  JournalEntry,
  LeaseClaimResult,
  LeaseLedgerEntry,
  LeaseProjection,
  LeaseRenewResult,
  CommandRecord,
  MessageRecord,
  PlanRecord,
  RuntimeRecord,
  TurnEventRecord,
  SupervisorProjection,
  TransitionWrite,
  WorkerProjection,
} from './types.js';
import {
  rowToActor,
  rowToActorSummary,
  rowToDispatch,
  rowToJournal,
  rowToLease,
  rowToLedger,
  rowToRuntime,
  rowToSupervisor,
  rowToWorker,
  rowToCommand,
  rowToMessage,
} from './rows.js';

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
  /** Further attempts of a write still `SQLITE_BUSY` after `busyTimeoutMs`. @default 3 */
  readonly busyRetries?: number;
}

/**
 * The SQLite store (better-sqlite3): WAL mode, numbered migrations, one transaction per
 * persisted transition. Takes an open `Database`; see {@link SqliteStore.fromPath}.
 */
export class SqliteStore implements Store {
  readonly db: Database.Database;
  private readonly statements;
  private readonly busyRetries: number;
  private readonly groupCommit: GroupCommit;
  /** Journal queries prepared on first use, by SQL text (one per combination of filters). */
  private readonly journalQueries = new Map<string, Database.Statement>();

  constructor(db: Database.Database, options: SqliteStoreOptions = {}) {
    this.db = db;
    this.busyRetries = options.busyRetries ?? 3;
    // busy_timeout first: switching to WAL and migrating may meet another process's lock.
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5_000}`);
    if (!db.readonly) {
      retryBusy(options.busyRetries ?? 3, () => db.pragma('journal_mode = WAL'));
      db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
      // Savepoints (each transition inside a group commit) keep their journals in memory
      // instead of temp files: measured 46 → 30 µs per transition of the SQLite floor.
      db.pragma('temp_store = MEMORY');
    }
    db.pragma('foreign_keys = ON');
    retryBusy(options.busyRetries ?? 3, () => migrate(db));
    this.statements = prepareStatements(db);
    this.groupCommit = new GroupCommit(db, this.busyRetries);
    const statements = this.statements;
    const transaction = db.transaction((write: TransitionWrite) => writeTransitionRows(statements, write));
    this.writeTransition = (write) => transaction.immediate(write);
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
      if (error instanceof StoreVersionError) throw error;
      if (error instanceof Database.SqliteError) {
        throw new StoreCorruptError(`cannot open the store ${file}: ${error.message} (${error.code})`, { cause: error });
      }
      throw error;
    }
  }

  deferCommit(onSettled?: (error?: Error) => void): Promise<void> {
    return this.groupCommit.defer(onSettled);
  }

  committed(): Promise<void> {
    return this.groupCommit.committed();
  }

  flushCommit(): void {
    this.groupCommit.flush();
  }

  persistTransition(write: TransitionWrite): number {
    try {
      return retryBusy(this.busyRetries, () => this.writeTransition(write));
    } catch (error) {
      throw classifyWriteError(write, error);
    }
  }

  /** Built once (better-sqlite3 wraps a function per `db.transaction` call): see the constructor. */
  private readonly writeTransition: (write: TransitionWrite) => number;

  listActiveActors(kind?: ActorKind): ActorRecord[] {
    const rows = kind === undefined ? this.statements.actorsActive.all() : this.statements.actorsActiveOfKind.all(kind);
    return rows.map(rowToActor);
  }

  /** SQLite: `PRAGMA data_version` (commits of other connections) plus `total_changes()` (this connection's). */
  changeCounter(): number {
    const row = this.statements.changeCounter.get() as { other: number; own: number };
    return row.other + row.own;
  }

  externalChangeCounter(): number {
    return (this.statements.changeCounter.get() as { other: number }).other;
  }

  listActors(): ActorSummary[] {
    return this.statements.actorSummaries.all().map(rowToActorSummary);
  }

  getActor(id: string): ActorRecord | undefined {
    const row = this.statements.actorGet.get(id);
    return row === undefined ? undefined : rowToActor(row);
  }

  quarantineActor(id: string, reason: string, now = Date.now()): void {
    this.db.transaction(() => {
      const s = this.statements;
      const row = s.actorGet.get(id) as { kind: string; state: string; seq: number; snapshot: string } | undefined;
      if (row === undefined) return;
      s.actorQuarantine.run(reason, id);
      s.journalInsert.run({
        actor_id: id,
        seq: row.seq + 1,
        event_type: 'statecrew.quarantine',
        from_state: row.state,
        to_state: 'quarantined',
        at: now,
        snapshot: row.snapshot,
        event: JSON.stringify({ type: 'statecrew.quarantine', reason }),
      });
      s.actorSeqBump.run(id);
      const table = PROJECTION_TABLES[row.kind];
      if (table !== undefined) this.db.prepare(`UPDATE ${table} SET state = 'quarantined', updated_at = ? WHERE id = ?`).run(now, id);
    }).immediate();
  }

  journal(actorId: string): JournalEntry[] {
    return this.statements.journalOf.all(actorId).map(rowToJournal);
  }

  journalSize(): number {
    return (this.statements.journalCount.get() as { n: number }).n;
  }

  queryJournal(query: JournalQuery = {}): Iterable<JournalRecord> {
    const { sql, params } = journalQuerySql(query);
    let statement = this.journalQueries.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.journalQueries.set(sql, statement);
    }
    if (query.limit !== undefined) return statement.all(params).map(rowToJournalRecord).reverse();
    return streamJournal(statement, params);
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
    return retryBusy(this.busyRetries, () => this.db.transaction((): LeaseClaimResult => {
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
    }).immediate());
  }

  renewLease(request: { milestoneId: string; fencingToken: number; ttlMs: number; now: number }): LeaseRenewResult {
    return retryBusy(this.busyRetries, () => this.db.transaction((): LeaseRenewResult => {
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
    }).immediate());
  }

  releaseLease(request: { milestoneId: string; fencingToken: number }): boolean {
    return retryBusy(this.busyRetries, () => this.statements.ledgerRelease.run(request.milestoneId, request.fencingToken).changes === 1);
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

  registerRuntime(runtime: { id: string; host: string; pid: number; procStartTime: string | null; now: number; ttlMs: number }): void {
    this.statements.runtimeInsert.run(runtime);
  }

  heartbeatRuntime(id: string, now: number): boolean {
    return retryBusy(this.busyRetries, () => this.statements.runtimeBeat.run(now, id).changes === 1);
  }

  stopRuntime(id: string, now: number, reason: string): void {
    this.statements.runtimeStop.run(now, reason, id);
  }

  listRuntimes(): RuntimeRecord[] {
    return this.statements.runtimesAll.all().map(rowToRuntime);
  }

  takeOverRuntime(request: { deadId: string; heartbeatAt: number; takerId: string; now: number; reason: string }): string[] | null {
    return retryBusy(this.busyRetries, () => this.db.transaction((): string[] | null => {
      const s = this.statements;
      const declared = s.runtimeDeclareDead.run(request.now, request.reason, request.deadId, request.heartbeatAt);
      if (declared.changes !== 1) return null;
      return (s.actorsTransfer.all(request.takerId, request.deadId) as { id: string }[]).map((row) => row.id);
    }).immediate());
  }

  adoptUnownedActors(takerId: string): string[] {
    return retryBusy(this.busyRetries, () => (this.statements.actorsAdoptUnowned.all(takerId) as { id: string }[]).map((row) => row.id));
  }

  listQuarantined(): { id: string; kind: ActorKind; reason: string | null }[] {
    return (this.statements.actorsQuarantined.all() as { id: string; kind: ActorKind; quarantine_reason: string | null }[]).map((row) => ({
      id: row.id,
      kind: row.kind,
      reason: row.quarantine_reason,
    }));
  }

  listLeaseLedger(): LeaseLedgerEntry[] {
    return this.statements.ledgerAll.all().map(rowToLedger);
  }

  listOwnedActors(runtimeId: string): ActorRecord[] {
    return this.statements.actorsOwned.all(runtimeId).map(rowToActor);
  }

  enqueueCommand(command: { kind: CommandRecord['kind']; target: string | null; now: number }): number {
    return retryBusy(this.busyRetries, () => (this.statements.commandInsert.get(command.kind, command.target, command.now) as { id: number }).id);
  }

  listPendingCommands(): CommandRecord[] {
    return this.statements.commandsPending.all().map(rowToCommand);
  }

  getCommand(id: number): CommandRecord | undefined {
    const row = this.statements.commandGet.get(id);
    return row === undefined ? undefined : rowToCommand(row);
  }

  takeCommand(id: number, runtimeId: string): boolean {
    return retryBusy(this.busyRetries, () => this.statements.commandTake.run(runtimeId, id).changes === 1);
  }

  completeCommand(id: number, outcome: 'done' | 'not-found' | 'nothing-running', message: string, now: number): void {
    retryBusy(this.busyRetries, () => this.statements.commandComplete.run(now, outcome, message, id));
  }

  setControl(key: string, value: string | null, now: number): void {
    retryBusy(this.busyRetries, () => (value === null ? this.statements.controlDelete.run(key) : this.statements.controlSet.run(key, value, now)));
  }

  getControl(key: string): { value: string; updatedAt: number } | undefined {
    const row = this.statements.controlGet.get(key) as { value: string; updated_at: number } | undefined;
    return row === undefined ? undefined : { value: row.value, updatedAt: row.updated_at };
  }

  cancelUnit(unitId: string, reason: string, now: number): boolean {
    return retryBusy(this.busyRetries, () => this.statements.unitCancel.run(unitId, reason, now).changes === 1);
  }

  listCanceledUnits(): { unitId: string; reason: string; canceledAt: number }[] {
    return (this.statements.unitCancellations.all() as { unit_id: string; reason: string; canceled_at: number }[]).map((row) => ({
      unitId: row.unit_id,
      reason: row.reason,
      canceledAt: row.canceled_at,
    }));
  }

  enqueueMessage(unitId: string, text: string, now: number): number {
    return retryBusy(this.busyRetries, () => (this.statements.messageInsert.get(unitId, text, now) as { id: number }).id);
  }

  listMessages(unitId?: string): MessageRecord[] {
    const rows = unitId === undefined ? this.statements.messagesAll.all() : this.statements.messagesOfUnit.all(unitId);
    return rows.map(rowToMessage);
  }

  recordTurnEvents(events: readonly TurnEventRecord[]): void {
    retryBusy(this.busyRetries, () =>
      this.db.transaction(() => {
        for (const e of events) this.statements.turnEventInsert.run(e.dispatchId, e.line, e.type, e.subtype, e.body);
      }).immediate(),
    );
  }

  turnEvents(dispatchId: string): TurnEventRecord[] {
    return (this.statements.turnEventsOf.all(dispatchId) as { dispatch_id: string; line: number; type: string; subtype: string | null; body: string }[]).map(
      (row) => ({ dispatchId: row.dispatch_id, line: row.line, type: row.type, subtype: row.subtype, body: row.body }),
    );
  }

  storeId(): string {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'store_id'").get() as { value: string } | undefined;
    if (row === undefined) throw new StoreCorruptError('the store has no store_id in its meta table');
    return row.value;
  }

  nextSequence(name: string): number {
    return retryBusy(this.busyRetries, () => (this.statements.sequenceNext.get(name) as { value: number }).value);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

