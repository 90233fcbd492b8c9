import type { Emitter } from 'mitt';
import type { InspectionEvent, Observer } from 'xstate';
import type { Durability } from '../persistence/sqliteStore.js';
import type { Store } from '../persistence/store.js';
import type { ActorKind } from '../persistence/types.js';
import type { SnapshotMigration } from './actorHost.js';
import type { Clock } from './clock.js';
import type { RuntimeEvents } from './events.js';
import type { Plan } from './plan/types.js';
import type { Progress } from './progress.js';
import { RuntimeImpl } from './runtimeImpl.js';

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  /** Path of the SQLite store, or an open {@link Store}. @default '.statecrew/statecrew.db' */
  readonly store?: string | Store;
  /** Only with a store path. @default 'normal' */
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
  /** How often the runtime looks at the store for work and dead runtimes, in ms. @default 500 */
  readonly pollMs?: number;
  /** XState inspection observer attached to every actor the runtime creates or restores. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /**
   * Upgrades persisted snapshots of older machine versions, per actor kind (see
   * {@link SnapshotMigration}). Without one, an actor of another version is quarantined.
   */
  readonly migrations?: Partial<Record<ActorKind, SnapshotMigration>>;
}

/**
 * How a run ended. Exit codes: 0 all units completed, 1 a unit failed or was blocked, 4 the
 * store failed (disk full, I/O error), 130 SIGINT, 143 SIGTERM. `fenced`: this runtime was declared dead and
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
   * started.
   */
  start(plan: Plan): Promise<void>;
  /** Resolves when the run has ended (all work done, stopped, or fenced) and every actor is persisted. */
  readonly finished: Promise<RunResult>;
  /**
   * Drains: stops every worker (kill, verify, record), cancels pending dispatches, releases
   * leases. Resolves with the run's result, using `exitCode` unless the run already ended.
   */
  stop(reason: string, exitCode: number): Promise<RunResult>;
  /**
   * Queues a message for a unit (durably, in order): after the unit's own turn, each message
   * becomes the input of one more turn of it, exactly once. Returns the message id.
   * @throws RuntimeStoppedError before `start`, or when `unitId` is not in the plan (`UsageError`).
   */
  sendMessage(unitId: string, text: string): number;
  /** Derived progress of the plan. @throws RuntimeStoppedError before `start`. */
  progress(): Progress;
  /** Live (in-memory) actors with their current state. */
  actors(): { id: string; kind: ActorKind; state: string }[];
  /**
   * Stops actors in memory and closes the store (on the next event-loop turn), writing
   * nothing more and leaving turn processes running. Tests use it to simulate a crash.
   */
  detach(): void;
}

/** Creates a runtime; nothing is registered until {@link Runtime.start}. */
export function createRuntime(options: RuntimeOptions = {}): Runtime {
  return new RuntimeImpl(options);
}

