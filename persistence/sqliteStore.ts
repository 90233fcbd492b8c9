import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreCorruptError, StoreNotFoundError, StoreVersionError } from '../core/errors.js';
import { migrate } from './migrations.js';
import { classifySqliteError } from './sqliteErrors.js';
import { LockWait } from './lockWait.js';
import { journalQuerySql, pageJournal, rowToJournalRecord } from './journalQuery.js';
import { QUARANTINE_PROJECTION, prepareStatements, type Statements } from './sqliteStatements.js';
import { writeTransitionRows } from './transitionRows.js';
import { compactLimit, SqliteCompaction } from './sqliteCompaction.js';
import type { CompactionState, CompactRequest, CompactResult } from './roles/retention.js';
import type { JournalQuery, JournalRecord } from './journalTypes.js';
import type { SchedulerView, SchedulerViewRequest, Store } from './store.js';
import type {
  ActorKind,
  ActorRecord,
  ActorSummary,
  CommandRecord,
  NotificationRecord,
  NotificationWrite,
  DispatchProjection,
  JournalEntry,
  LeaseClaimResult,
  LeaseLedgerEntry,
  LeaseProjection,
  LeaseRenewResult,
  MessageRecord,
  PlanRecord,
  RuntimeRecord,
  RuntimeRegistration,
  SupervisorProjection,
  WorkspaceProjection,
  TransitionWrite,
  TurnEventRecord,
  TurnOutputChunk,
  WorkerProjection,
} from './types.js';
import * as rows from './rows.js';

/**
 * `normal` maps to SQLite `synchronous = NORMAL`: in WAL mode a commit survives a crash of
 * the process but the last commits may be lost on power loss. `full` (`synchronous = FULL`)
 * also survives power loss, at the cost of an fsync per commit.
 */
export type Durability = 'normal' | 'full';

export interface SqliteStoreOptions {
  /** @default 'normal' */
  readonly durability?: Durability;
  /**
   * How long one call waits for a lock held by another process before it fails with
   * `StoreUnavailableError` (which the runtime's store policy retries), in ms. @default 5000
   */
  readonly busyTimeoutMs?: number;
}

/** Rows per page of an unlimited journal query. */
const JOURNAL_PAGE = 500;

/**
 * The SQLite store (better-sqlite3): WAL mode, numbered migrations, one transaction per job.
 * Takes an open `Database` (see {@link SqliteStore.fromPath}); prepares its statements once.
 * Every method is async to meet the {@link Store} boundary, but runs better-sqlite3's
 * synchronous calls inside, never awaiting inside a transaction: a job is written before
 * `commitJob` returns its promise. Errors are typed by SQLite's code ({@link classifySqliteError}).
 */
export class SqliteStore implements Store {
  readonly location: string;
  private readonly db: Database.Database;
  private readonly statements: Statements;
  private readonly compaction: SqliteCompaction;
  /** Journal queries prepared on first use, by SQL text (one per combination of filters). */
  private readonly journalQueries = new Map<string, Database.Statement>();
  private readonly jobTransaction: Database.Transaction<(writes: readonly TransitionWrite[]) => void>;
  private readonly lockWait: LockWait;

  constructor(db: Database.Database, options: SqliteStoreOptions = {}) {
    this.db = db;
    this.location = db.name;
    // busy_timeout first: switching to WAL and migrating may meet another process's lock.
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5_000}`);
    if (!db.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    }
    db.pragma('foreign_keys = ON');
    migrate(db);
    // From here on a lock held by another process is waited for asynchronously (LockWait).
    db.pragma('busy_timeout = 0');
    this.lockWait = new LockWait(options.busyTimeoutMs ?? 5_000);
    this.statements = prepareStatements(db);
    this.compaction = new SqliteCompaction(db);
    const s = this.statements;
    const running = new Map<string, boolean>();
    this.jobTransaction = db.transaction((writes: readonly TransitionWrite[]) => {
      running.clear();
      const ownerRunning = (owner: string): boolean => {
        let state = running.get(owner);
        if (state === undefined) {
          const row = s.runtimeState.get(owner);
          state = row === undefined || rows.rowToState('runtimes', row) === 'running';
          running.set(owner, state);
        }
        return state;
      };
      for (const write of writes) writeTransitionRows(s, write, ownerRunning);
    });
  }

  /**
   * Opens (creating the file and its folder unless `mustExist` or `readonly`) the store at `file`.
   * @throws StoreNotFoundError when `mustExist` or `readonly` is set and there is no file.
   * @throws StoreVersionError when the file's schema is newer than this statecrew (or older and read-only).
   * @throws StoreCorruptError when the file is not a SQLite database or cannot be read.
   * @throws StoreUnavailableError when another process held the lock through `busyTimeoutMs` while migrating.
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
      const typed = classifySqliteError('open', error);
      if (typed.recovery === 'retry') throw typed;
      if (error instanceof Database.SqliteError) {
        throw new StoreCorruptError(`cannot open the store ${file}: ${error.message} (${error.code})`, { cause: error });
      }
      throw error;
    }
  }

  /** Runs a synchronous better-sqlite3 call in call order, waiting for the lock asynchronously; anything it throws becomes a typed error. */
  private call<T>(operation: string, body: () => T): Promise<T> {
    return this.lockWait.run(operation, body);
  }

  commitJob(writes: readonly TransitionWrite[]): Promise<void> {
    if (writes.length === 0) return Promise.resolve();
    return this.call('commitJob', () => this.jobTransaction.immediate(writes));
  }

  listActiveActors(kind?: ActorKind): Promise<ActorRecord[]> {
    return this.call('listActiveActors', () =>
      (kind === undefined ? this.statements.actorsActive.all() : this.statements.actorsActiveOfKind.all(kind)).map(rows.rowToActor),
    );
  }

  listOwnedActors(runtimeId: string): Promise<ActorRecord[]> {
    return this.call('listOwnedActors', () => this.statements.actorsOwned.all(runtimeId).map(rows.rowToActor));
  }

  listActors(): Promise<ActorSummary[]> {
    return this.call('listActors', () => this.statements.actorSummaries.all().map(rows.rowToActorSummary));
  }

  getActor(id: string): Promise<ActorRecord | undefined> {
    return this.call('getActor', () => {
      const row = this.statements.actorGet.get(id);
      return row === undefined ? undefined : rows.rowToActor(row);
    });
  }

  quarantineActor(id: string, reason: string, now: number): Promise<void> {
    return this.call('quarantineActor', () =>
      this.db
        .transaction(() => {
          const s = this.statements;
          const found = s.actorGet.get(id);
          if (found === undefined) return;
          const row = rows.rowToQuarantineSource(found);
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
          s[QUARANTINE_PROJECTION[row.kind]].run(now, id);
        })
        .immediate(),
    );
  }

  listQuarantined(): Promise<{ id: string; kind: ActorKind; reason: string | null }[]> {
    return this.call('listQuarantined', () => this.statements.actorsQuarantined.all().map(rows.rowToQuarantined));
  }

  journal(actorId: string): Promise<JournalEntry[]> {
    return this.call('journal', () => this.statements.journalOf.all(actorId).map(rows.rowToJournal));
  }

  journalSize(): Promise<number> {
    return this.call('journalSize', () => rows.rowToCount('journal', this.statements.journalCount.get()));
  }

  queryJournal(query: JournalQuery = {}): AsyncIterable<JournalRecord> {
    const { sql, params } = journalQuerySql(query, JOURNAL_PAGE);
    const statement = (): Database.Statement => {
      let prepared = this.journalQueries.get(sql);
      if (prepared === undefined) {
        prepared = this.db.prepare(sql);
        this.journalQueries.set(sql, prepared);
      }
      return prepared;
    };
    if (query.limit !== undefined) {
      const limited = (): Promise<JournalRecord[]> =>
        this.call('queryJournal', () => statement().all(params).map(rowToJournalRecord).reverse());
      return {
        async *[Symbol.asyncIterator]() {
          yield* await limited();
        },
      };
    }
    const read = (pageParams: Record<string, string | number>): unknown[] => {
      try {
        return statement().all(pageParams);
      } catch (error) {
        throw classifySqliteError('queryJournal', error);
      }
    };
    return { [Symbol.asyncIterator]: () => pageJournal(read, params, JOURNAL_PAGE) };
  }

  listWorkers(): Promise<WorkerProjection[]> {
    return this.call('listWorkers', () => this.statements.workersAll.all().map(rows.rowToWorker));
  }

  listLeases(): Promise<LeaseProjection[]> {
    return this.call('listLeases', () => this.statements.leasesAll.all().map(rows.rowToLease));
  }

  listDispatches(unitId?: string): Promise<DispatchProjection[]> {
    return this.call('listDispatches', () =>
      (unitId === undefined ? this.statements.dispatchesAll.all() : this.statements.dispatchesOfUnit.all(unitId)).map(rows.rowToDispatch),
    );
  }

  listWorkspaces(): Promise<WorkspaceProjection[]> {
    return this.call('listWorkspaces', () => this.statements.workspacesAll.all().map(rows.rowToWorkspace));
  }

  listSupervisors(): Promise<SupervisorProjection[]> {
    return this.call('listSupervisors', () => this.statements.supervisorsAll.all().map(rows.rowToSupervisor));
  }

  claimLease(request: { milestoneId: string; holderId: string; leaseId: string; ttlMs: number; now: number }): Promise<LeaseClaimResult> {
    const s = this.statements;
    return this.call('claimLease', () =>
      this.db
        .transaction((): LeaseClaimResult => {
          const expiresAt = request.now + request.ttlMs;
          const current = s.ledgerGet.get(request.milestoneId);
          if (current === undefined) {
            s.ledgerInsert.run(request.milestoneId, request.holderId, request.leaseId, 1, expiresAt);
            return { granted: true, fencingToken: 1, expiresAt };
          }
          const lease = rows.rowToLedger(current);
          if (lease.leaseId === request.leaseId && lease.holderId === request.holderId) {
            s.ledgerRenew.run(expiresAt, request.milestoneId, lease.fencingToken);
            return { granted: true, fencingToken: lease.fencingToken, expiresAt };
          }
          const free = lease.holderId === null || lease.expiresAt === null || lease.expiresAt <= request.now;
          const refused = { granted: false, holderId: lease.holderId, fencingToken: lease.fencingToken, expiresAt: lease.expiresAt } as const;
          if (!free) return refused;
          const token = lease.fencingToken + 1;
          const changed = s.ledgerTakeOver.run(request.holderId, request.leaseId, token, expiresAt, request.milestoneId, lease.fencingToken);
          return changed.changes === 1 ? { granted: true, fencingToken: token, expiresAt } : refused;
        })
        .immediate(),
    );
  }

  renewLease(request: { milestoneId: string; fencingToken: number; ttlMs: number; now: number }): Promise<LeaseRenewResult> {
    const s = this.statements;
    return this.call('renewLease', () =>
      this.db
        .transaction((): LeaseRenewResult => {
          const current = s.ledgerGet.get(request.milestoneId);
          const lease = current === undefined ? undefined : rows.rowToLedger(current);
          if (lease === undefined || lease.fencingToken !== request.fencingToken || lease.holderId === null) {
            return { ok: false, reason: 'lost', currentToken: lease?.fencingToken ?? null };
          }
          if (lease.expiresAt !== null && lease.expiresAt <= request.now) return { ok: false, reason: 'expired', currentToken: lease.fencingToken };
          const expiresAt = request.now + request.ttlMs;
          s.ledgerRenew.run(expiresAt, request.milestoneId, request.fencingToken);
          return { ok: true, expiresAt };
        })
        .immediate(),
    );
  }

  releaseLease(request: { milestoneId: string; fencingToken: number }): Promise<boolean> {
    return this.call('releaseLease', () => this.statements.ledgerRelease.run(request.milestoneId, request.fencingToken).changes === 1);
  }

  getLease(milestoneId: string): Promise<LeaseLedgerEntry | undefined> {
    return this.call('getLease', () => {
      const row = this.statements.ledgerGet.get(milestoneId);
      return row === undefined ? undefined : rows.rowToLedger(row);
    });
  }

  listLeaseLedger(): Promise<LeaseLedgerEntry[]> {
    return this.call('listLeaseLedger', () => this.statements.ledgerAll.all().map(rows.rowToLedger));
  }

  registerRuntime(runtime: RuntimeRegistration): Promise<void> {
    return this.call('registerRuntime', () => void this.statements.runtimeInsert.run({ ...runtime, turnGraceMs: runtime.turnGraceMs ?? null }));
  }

  heartbeatRuntime(id: string, now: number): Promise<boolean> {
    return this.call('heartbeatRuntime', () => this.statements.runtimeBeat.run(now, id).changes === 1);
  }

  stopRuntime(id: string, now: number, reason: string): Promise<void> {
    return this.call('stopRuntime', () => void this.statements.runtimeStop.run(now, reason, id));
  }

  listRuntimes(): Promise<RuntimeRecord[]> {
    return this.call('listRuntimes', () => this.statements.runtimesAll.all().map(rows.rowToRuntime));
  }

  takeOverRuntime(request: { deadId: string; heartbeatAt: number; takerId: string; now: number; reason: string }): Promise<string[] | null> {
    const s = this.statements;
    return this.call('takeOverRuntime', () =>
      this.db
        .transaction((): string[] | null => {
          const declared = s.runtimeDeclareDead.run(request.now, request.reason, request.deadId, request.heartbeatAt);
          if (declared.changes !== 1) return null;
          return s.actorsTransfer.all(request.takerId, request.deadId).map(rows.rowToId);
        })
        .immediate(),
    );
  }

  adoptUnownedActors(takerId: string): Promise<string[]> {
    return this.call('adoptUnownedActors', () => this.statements.actorsAdoptUnowned.all(takerId).map(rows.rowToId));
  }

  enqueueNotifications(notifications: readonly NotificationWrite[]): Promise<number> {
    return this.call('enqueueNotifications', () =>
      this.db.transaction(() => notifications.reduce((added, n) => added + this.statements.notificationInsert.run(n).changes, 0)).immediate(),
    );
  }

  claimNotifications(request: { runtimeId: string; now: number; claimMs: number; limit: number }): Promise<NotificationRecord[]> {
    return this.call('claimNotifications', () =>
      this.statements.notificationsClaim
        .all({ runtimeId: request.runtimeId, now: request.now, until: request.now + request.claimMs, limit: request.limit })
        .map(rows.rowToNotification)
        .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id),
    );
  }

  recordNotificationAttempt(
    id: number,
    runtimeId: string,
    outcome: { readonly delivered: true; readonly at: number } | { readonly delivered: false; readonly error: string; readonly retryAt: number | null },
  ): Promise<boolean> {
    return this.call('recordNotificationAttempt', () =>
      outcome.delivered
        ? this.statements.notificationDelivered.run({ id, runtimeId, at: outcome.at }).changes === 1
        : this.statements.notificationFailed.run({ id, runtimeId, error: outcome.error, retryAt: outcome.retryAt }).changes === 1,
    );
  }

  saveTraceContext(subject: string, traceparent: string, now: number): Promise<string> {
    return this.call('saveTraceContext', () =>
      this.db
        .transaction(() => {
          this.statements.traceContextInsert.run(subject, traceparent, now);
          return rows.rowToTraceparent(this.statements.traceContextGet.get(subject));
        })
        .immediate(),
    );
  }

  loadTraceContext(subject: string): Promise<string | undefined> {
    return this.call('loadTraceContext', () => {
      const row = this.statements.traceContextGet.get(subject);
      return row === undefined ? undefined : rows.rowToTraceparent(row);
    });
  }

  listNotifications(): Promise<NotificationRecord[]> {
    return this.call('listNotifications', () => this.statements.notificationsAll.all().map(rows.rowToNotification));
  }

  enqueueCommand(command: { kind: CommandRecord['kind']; target: string | null; now: number }): Promise<number> {
    return this.call('enqueueCommand', () => rows.rowToNumericId('commands', this.statements.commandInsert.get(command.kind, command.target, command.now)));
  }

  listPendingCommands(): Promise<CommandRecord[]> {
    return this.call('listPendingCommands', () => this.statements.commandsPending.all().map(rows.rowToCommand));
  }

  getCommand(id: number): Promise<CommandRecord | undefined> {
    return this.call('getCommand', () => {
      const row = this.statements.commandGet.get(id);
      return row === undefined ? undefined : rows.rowToCommand(row);
    });
  }

  takeCommand(id: number, runtimeId: string): Promise<boolean> {
    return this.call('takeCommand', () => this.statements.commandTake.run(runtimeId, id).changes === 1);
  }

  completeCommand(id: number, outcome: 'done' | 'not-found' | 'nothing-running', message: string, now: number): Promise<void> {
    return this.call('completeCommand', () => void this.statements.commandComplete.run(now, outcome, message, id));
  }

  setControl(key: string, value: string | null, now: number): Promise<void> {
    return this.call('setControl', () => void (value === null ? this.statements.controlDelete.run(key) : this.statements.controlSet.run(key, value, now)));
  }

  getControl(key: string): Promise<{ value: string; updatedAt: number } | undefined> {
    return this.call('getControl', () => {
      const row = this.statements.controlGet.get(key);
      if (row === undefined) return undefined;
      const control = rows.rowToControl(row);
      return { value: control.value, updatedAt: control.updatedAt };
    });
  }

  cancelUnit(unitId: string, reason: string, now: number): Promise<boolean> {
    return this.call('cancelUnit', () => this.statements.unitCancel.run(unitId, reason, now).changes === 1);
  }

  listCanceledUnits(): Promise<{ unitId: string; reason: string; canceledAt: number }[]> {
    return this.call('listCanceledUnits', () => this.statements.unitCancellations.all().map(rows.rowToCancellation));
  }

  enqueueMessage(unitId: string, text: string, now: number): Promise<number> {
    return this.call('enqueueMessage', () => rows.rowToNumericId('messages', this.statements.messageInsert.get(unitId, text, now)));
  }

  listMessages(unitId?: string): Promise<MessageRecord[]> {
    return this.call('listMessages', () =>
      (unitId === undefined ? this.statements.messagesAll.all() : this.statements.messagesOfUnit.all(unitId)).map(rows.rowToMessage),
    );
  }

  recordTurnEvents(events: readonly TurnEventRecord[]): Promise<void> {
    return this.call('recordTurnEvents', () =>
      this.db
        .transaction(() => {
          for (const e of events) this.statements.turnEventInsert.run(e.dispatchId, e.line, e.type, e.subtype, e.body);
        })
        .immediate(),
    );
  }

  turnEvents(dispatchId: string): Promise<TurnEventRecord[]> {
    return this.call('turnEvents', () => this.statements.turnEventsOf.all(dispatchId).map(rows.rowToTurnEvent));
  }

  appendTurnOutput(chunk: TurnOutputChunk, capBytes: number): Promise<void> {
    return this.call('appendTurnOutput', () =>
      this.db
        .transaction(() => {
          this.statements.turnOutputInsert.run(chunk.dispatchId, chunk.offset, Buffer.from(chunk.bytes));
          this.statements.turnOutputTrim.run({ dispatchId: chunk.dispatchId, cap: capBytes });
        })
        .immediate(),
    );
  }

  readTurnOutput(dispatchId: string, fromOffset = 0): Promise<TurnOutputChunk[]> {
    return this.call('readTurnOutput', () => this.statements.turnOutputOf.all(dispatchId, fromOffset).map(rows.rowToTurnOutput));
  }

  savePlan(record: PlanRecord): Promise<void> {
    return this.call('savePlan', () => void this.statements.planUpsert.run(record.file, record.fingerprint, record.body, record.savedAt));
  }

  loadPlan(): Promise<PlanRecord | undefined> {
    return this.call('loadPlan', () => {
      const row = this.statements.planGet.get();
      return row === undefined ? undefined : rows.rowToPlan(row);
    });
  }

  readSchedulerView(request: SchedulerViewRequest): Promise<SchedulerView> {
    const s = this.statements;
    return this.call('readSchedulerView', () =>
      // One read transaction: every part of the view is from the same committed state.
      this.db.transaction((): SchedulerView => {
        const version = rows.rowToCounters(s.changeCounter.get()).other;
        const full = request.knownVersion !== version;
        const dispatches = full
          ? s.dispatchesAll.all().map(rows.rowToDispatch)
          : request.units.flatMap((unitId) => s.dispatchesOfUnit.all(unitId).map(rows.rowToDispatch));
        return {
          version,
          full,
          dispatches,
          leases: s.leasesAll.all().map(rows.rowToLease),
          ledger: s.ledgerAll.all().map(rows.rowToLedger),
          controls: new Map(s.controlsAll.all().map((row) => {
            const control = rows.rowToControl(row);
            return [control.key, { value: control.value, updatedAt: control.updatedAt }] as const;
          })),
          canceled: s.unitCancellations.all().map(rows.rowToCancellation),
          messages: s.messagesAll.all().map(rows.rowToMessage),
          commands: s.commandsPending.all().map(rows.rowToCommand),
          workspaces: s.workspacesAll.all().map(rows.rowToWorkspace),
        };
      }).deferred(),
    );
  }

  reserveSequence(name: string, count: number): Promise<number> {
    if (!Number.isInteger(count) || count < 1) return Promise.reject(new RangeError(`reserveSequence(${name}): count must be a whole number of at least 1, got ${count}`));
    return this.call('reserveSequence', () => Number(rows.rowToValue('sequences', this.statements.sequenceReserve.get(name, count))) - count + 1);
  }

  /** `null`: a SQLite file is used from the host it is on, whose clock is the runtime's own. */
  readClock(): Promise<number | null> {
    return this.call('readClock', () => null);
  }

  storeId(): Promise<string> {
    return this.call('storeId', () => {
      const row = this.statements.storeId.get();
      if (row === undefined) throw new StoreCorruptError('the store has no store_id in its meta table');
      return String(rows.rowToValue('meta', row));
    });
  }

  /** SQLite: `PRAGMA data_version` (commits of other connections) plus `total_changes()` (this connection's). */
  changeCounter(): Promise<number> {
    return this.call('changeCounter', () => {
      const counters = rows.rowToCounters(this.statements.changeCounter.get());
      return counters.other + counters.own;
    });
  }

  externalChangeCounter(): Promise<number> {
    return this.call('externalChangeCounter', () => rows.rowToCounters(this.statements.changeCounter.get()).other);
  }

  checkIntegrity(): Promise<string[]> {
    return this.call('checkIntegrity', () => {
      const lines = (this.db.pragma('integrity_check') as unknown[]).map(rows.rowToIntegrityLine);
      return lines.length === 1 && lines[0] === 'ok' ? [] : lines;
    });
  }

  /** @throws RangeError (before any I/O) for a `limit` that is not a positive integer. */
  async compact(request: CompactRequest): Promise<CompactResult> {
    compactLimit(request);
    return this.call('compact', () => this.compaction.compact(request));
  }

  compactionState(): Promise<CompactionState> {
    return this.call('compactionState', () => this.compaction.state());
  }

  vacuum(): Promise<void> {
    return this.call('vacuum', () => {
      this.db.exec('VACUUM');
      // VACUUM in WAL mode writes the new file through the WAL: fold it back and truncate it.
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    });
  }

  /** Opened and migrated by the constructor: resolves at once. */
  ready(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return this.call('close', () => {
      if (this.db.open) this.db.close();
    });
  }
}
