import type Database from 'better-sqlite3';
import type { Emitter } from 'mitt';
import type { InspectionEvent, Observer } from 'xstate';
import type { Durability } from '../persistence/sqliteStore.js';
import type { Store } from '../persistence/store.js';
import type pg from 'pg';
import type { ActorKind, ActorStatus, ActorSummary } from '../persistence/types.js';
import type { SnapshotMigration } from './actorHost.js';
import type { Clock } from '../core/clock.js';
import type { RuntimeEvents } from './events.js';
import type { PlanAddition } from './plan/extend.js';
import type { Plan, RetentionPolicy } from './plan/types.js';
import type { MachineOverrides } from './implementations.js';
import type { Progress } from './progress.js';
import { RuntimeImpl } from './runtimeImpl.js';

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  /**
   * The store: a path of a SQLite file (created with its folder when missing), a
   * `postgres://` URL (its schema created and migrated; the password never shown), an open
   * better-sqlite3 `Database` (wrapped in a `SqliteStore` and migrated), a `pg.Pool` of the
   * host's (wrapped in a `PostgresStore`, schema `statecrew`), or any {@link Store}. The runtime does not close it when the run ends (only `detach()`, the
   * simulated crash, does): results stay readable through `runtime.store`; close it with
   * `runtime.store.close()`.
   * @default '.statecrew/statecrew.db'
   */
  readonly store?: string | Store | Database.Database | pg.Pool;
  /** SQLite `synchronous`: `normal` (a commit survives a crash of the process) or `full` (also a power cut). Not with a {@link Store}. @default 'normal' */
  readonly durability?: Durability;
  /** Source of time for every deadline. @default systemClock */
  readonly clock?: Clock;
  /** Folder of per-turn log files. @default `<folder of the store file>/logs` (`.statecrew/logs` for a non-SQLite store) */
  readonly logsDir?: string;
  /** Time to live of milestone leases in ms; holders renew every third of it. @default 30_000 */
  readonly leaseTtlMs?: number;
  /**
   * Time to live of this runtime's heartbeat in ms; it beats every third of it. Another
   * runtime may take this one's actors over once its process is gone, or stopped with its
   * heartbeat lapsed. Keep it below `leaseTtlMs`. @default 10_000
   */
  readonly heartbeatTtlMs?: number;
  /**
   * Keep-alive grace of this runtime's turns, in ms: each turn's shim kills it once no runtime
   * has renewed its keep-alive for this long (the runtime died or lost its store, and no
   * runtime on its host adopted the turn). The runtime renews while its last recorded
   * heartbeat is under half a TTL old. Another host takes this runtime's actors over only once
   * its heartbeat lapsed by `heartbeatTtlMs / 2 + turnGraceMs + 1.25 s + min(5 s,
   * turnGraceMs / 2)` (the shim's poll and drain, its capped kill grace), plus a 2 s margin, and by two TTLs, so a retried unit never runs beside the old
   * turn. @default 30_000
   */
  readonly turnGraceMs?: number;
  /** How often the runtime looks at the store for work and dead runtimes, in ms. @default 500 */
  readonly pollMs?: number;
  /**
   * XState inspection observer attached to every actor the runtime creates or restores, e.g.
   * `createWebSocketInspector().inspect` from `@statelyai/inspect`.
   */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Receives the runtime's notable events as log lines (see {@link Logger}). @default none: the runtime prints nothing */
  readonly logger?: Logger;
  /**
   * A host's implementations: `workerMachine.provide({ actors: { runTurn } })` and the like
   * (see {@link MachineOverrides}).
   * @throws UsageError from `createRuntime` when a machine is not made from the exported one.
   */
  readonly machines?: MachineOverrides;
  /** Size of the worker pool; overrides the plan's `workers`. @default the plan's, else 2 */
  readonly workers?: number;
  /**
   * Keep running when every unit has finished, waiting for work from {@link Runtime.submit},
   * until {@link Runtime.stop}: for servers. @default false: the run ends when the plan is done
   */
  readonly keepAlive?: boolean;
  /** Folder against which submitted units' `cwd` resolve. @default process.cwd() */
  readonly cwd?: string;
  /**
   * What of finished work to drop, and how often (docs/retention.md); replaces the plan's
   * `retention`. @default the plan's, else nothing is dropped
   */
  readonly retention?: RetentionPolicy;
  /**
   * Jobs: the transitions of one job (a scheduler pass, a restore, the cascade one event
   * causes) are staged together and committed all or nothing, and reported (`actor.transition`)
   * once committed; effects start their I/O only after it. `false`: every transition is a job
   * of its own — slower, but a crash can then fall between any two transitions, which recovery
   * tests use. @default true
   */
  readonly groupCommit?: boolean;
  /**
   * How long a store call keeps retrying transient faults (SQLite: the write lock held by
   * another process past the store's `busyTimeoutMs`, 5 s) before the runtime stops with exit code 4, in ms.
   * While it waits, `runtime.store-waiting` is emitted before each retry. @default 60_000
   */
  readonly storeRetryMs?: number;
  /**
   * Upgrades persisted snapshots of older machine versions, per actor kind (see
   * {@link SnapshotMigration}). Without one, an actor of another version is quarantined.
   */
  readonly migrations?: Partial<Record<ActorKind, SnapshotMigration>>;
}

/**
 * How a run ended. Exit codes: 0 all units completed, 1 a unit failed or was blocked (or the
 * runtime was fenced), 4 the store failed (disk full, I/O error, corrupt, or unavailable for
 * longer than `storeRetryMs`), 130 SIGINT, 143 SIGTERM. `fenced`: this runtime was declared dead and
 * its actors were taken over by another runtime; it stopped driving them (a CLI rejoins).
 */
export interface RunResult {
  readonly exitCode: number;
  readonly reason: string;
  readonly fenced: boolean;
  readonly progress: Progress;
}

/** A runtime: one process hosting actors for one plan on one store (which other runtimes may share). */
export interface Runtime {
  /** Id of this runtime (`runtime-N`, unique in the store); set by `start`. */
  readonly id: string;
  readonly store: Store;
  readonly events: Emitter<RuntimeEvents>;
  /**
   * Registers the runtime, records `plan`, takes over the actors of dead runtimes, restores
   * and reconciles every actor it owns, and starts scheduling. Resolves once scheduling has
   * started. Without `plan`, runs the plan recorded in the store (a restarted host resumes
   * what was submitted before), or an empty one to {@link Runtime.submit} to.
   * @throws UsageError when called twice.
   */
  start(plan?: Plan): Promise<void>;
  /**
   * Adds milestones and units to the running plan (validated with the plan file's schema;
   * see {@link PlanAddition}), records the plan in the store, and schedules them at once.
   * @returns (a Promise of) the ids of the units added, once the plan is recorded.
   * @throws PlanError when the addition is invalid (nothing is added).
   * @throws RuntimeStoppedError before `start` or after the run ended.
   * @throws StoreFailedError when the store cannot record the plan (the run then stops, exit code 4).
   */
  submit(addition: PlanAddition): Promise<string[]>;
  /**
   * One actor of the store with its current state, context and persisted snapshot, or
   * `undefined` when there is none with this id.
   * @throws StoreCorruptError when its row cannot be read; StoreFailedError when the store cannot be read.
   */
  get(id: string): Promise<ActorView | undefined>;
  /** Actors of the store (active, done and quarantined), oldest first; `state` matches the whole state or its top-level state. */
  list(filter?: { readonly kind?: ActorKind; readonly state?: string; readonly status?: ActorStatus }): Promise<ActorSummary[]>;
  /**
   * Sends an event to a live actor of this runtime (e.g. `{ type: 'STOP', reason }` to a
   * worker). The event is the same as any other: persisted with the transition it causes.
   * @returns `false` when this runtime does not drive an actor with this id.
   * @throws UsageError when `event` is not an object with a string `type`, or is an XState
   *   internal event (`xstate.*`).
   * @throws RuntimeStoppedError before `start`.
   */
  send(id: string, event: { readonly type: string; readonly [key: string]: unknown }): boolean;
  /** Resolves when the run has ended (all work done, stopped, or fenced) and every actor is persisted. */
  readonly finished: Promise<RunResult>;
  /**
   * Drains: stops every worker (kill, verify, record), cancels pending dispatches, releases
   * leases. Resolves with the run's result, using `exitCode` unless the run already ended.
   * @param reason recorded with the supervisor's `DRAIN` event. @default 'stopped by the host'
   * @param exitCode @default 130 (as for SIGINT: stopped before the plan was done)
   */
  stop(reason?: string, exitCode?: number): Promise<RunResult>;
  /**
   * Queues a message for a unit (durably, in order): after the unit's own turn, each message
   * becomes the input of one more turn of it, exactly once. Returns the message id.
   * @throws RuntimeStoppedError before `start` or after the run ended; UsageError when `unitId` is not in the plan.
   */
  sendMessage(unitId: string, text: string): Promise<number>;
  /**
   * Derived progress of the plan, read from the store now (after the run ended: as it ended).
   * @throws RuntimeStoppedError before `start`.
   */
  progress(): Promise<Progress>;
  /** Live (in-memory) actors with their current state. */
  actors(): { id: string; kind: ActorKind; state: string }[];
  /**
   * Stops actors in memory and closes the store (on the next event-loop turn), writing
   * nothing more — transitions not committed yet are dropped — and leaving turn processes
   * running. Tests use it to simulate a crash.
   */
  detach(): void;
}

/** An actor as {@link Runtime.get} reads it. */
export interface ActorView extends ActorSummary {
  /** Active state paths, outermost first: `['pending', 'pending.backoff']`. */
  readonly activePaths: readonly string[];
  /** The machine's context. */
  readonly context: unknown;
  /** The persisted snapshot (`actor.getPersistedSnapshot()`), parsed. */
  readonly snapshot: unknown;
  /** `true` when this runtime drives the actor in memory now. */
  readonly live: boolean;
}

/**
 * Where the runtime's log lines go: `console` fits, as do pino and winston loggers. Levels:
 * `debug` every persisted transition; `info` units started and completed, leases acquired,
 * workers started, restore and takeover; `warn` units failed or stuck, leases lost, workers
 * died, quarantined rows, draining; `error` refused writes and store failures.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Creates a runtime; nothing is registered until {@link Runtime.start}.
 * @throws UsageError when `options.machines` holds a machine not made from the exported one.
 * @throws StoreCorruptError / StoreVersionError when the store cannot be opened.
 */
export function createRuntime(options: RuntimeOptions = {}): Runtime {
  return new RuntimeImpl(options);
}

