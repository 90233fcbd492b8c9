import { createActor, type Actor, type AnyEventObject, type AnyStateMachine, type InspectionEvent, type Observer } from 'xstate';
import { z } from 'zod';
import { ensureError, StoreCorruptError } from '../core/errors.js';
import { eventToJson } from './eventJson.js';
import type { Clock } from '../core/clock.js';
import { actorStatus, deriveRows, stateToString, type MachineSnapshotLike } from './projections.js';
import type { Store } from '../persistence/store.js';
import type { ActorKind, ActorRecord, TransitionWrite } from '../persistence/types.js';

/**
 * Upgrades a persisted snapshot written by an older version of a machine to the current
 * one: receives the parsed snapshot and the version it was written with, returns the
 * snapshot to restore. Throwing quarantines the actor.
 */
export type SnapshotMigration = (snapshot: unknown, fromVersion: number) => unknown;

/** A machine the host can run, with the id and version recorded beside its snapshots. */
export interface MachineDefinition {
  readonly kind: ActorKind;
  readonly machine: AnyStateMachine;
  readonly machineId: string;
  readonly machineVersion: number;
  /** Upgrades snapshots of older versions; without it they are quarantined. */
  readonly migrate?: SnapshotMigration;
}

/** The shape every persisted machine snapshot must have before XState sees it. */
const persistedSnapshotShape = z
  .object({
    status: z.literal('active'),
    value: z.union([z.string(), z.record(z.string(), z.unknown())]),
    context: z.record(z.string(), z.unknown()),
  })
  .loose();

/** One transition, reported after it was committed to the store. */
export interface PersistedTransition {
  readonly actorId: string;
  readonly kind: ActorKind;
  readonly from: string | null;
  readonly to: string;
  readonly event: AnyEventObject;
  readonly seq: number;
  readonly done: boolean;
  readonly context: unknown;
}

/** Options of {@link ActorHost}. */
export interface ActorHostOptions {
  /**
   * Group commit ({@link Store.deferCommit}): the transitions of one job (one synchronous
   * burst: a scheduler pass, a restore, the cascade one event causes) share one commit and are
   * reported after it. Effects must then wait for {@link Store.committed} before any I/O.
   * @default false: one commit per transition, reported at once
   */
  readonly groupCommit?: boolean;
}

export interface ActorHostHooks {
  /** Called after each committed transition (at once, or after the job's group commit), in order. Must not throw. */
  readonly onTransition: (transition: PersistedTransition) => void;
  /** Called when a transition could not be written; the actor has been stopped. Must not throw. */
  readonly onPersistError: (actorId: string, kind: ActorKind, error: Error) => void;
  /**
   * Called synchronously right after each write was accepted, before its (group) commit: for
   * caches of this runtime's own writes. Must not throw. @default none
   */
  readonly onWritten?: (write: TransitionWrite) => void;
  /**
   * Called when an actor failed inside XState (an action, guard or input threw): it is stopped,
   * nothing of the failed step was written, and its row keeps its last persisted state.
   * Must not throw. @default ignored
   */
  readonly onActorError?: (actorId: string, kind: ActorKind, error: Error) => void;
  /** Extra XState inspection observer attached to every actor. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** A root actor run by the host: one row in the store, routed by id. */
export interface HostedActor {
  readonly id: string;
  readonly kind: ActorKind;
  readonly actor: Actor<AnyStateMachine>;
  /** Current state as a dotted path (the last persisted one). */
  state: string;
  /** True once the actor reached a final state, was stopped, or failed to persist. */
  ended: boolean;
  /** Last persisted snapshot JSON, to skip writes when nothing changed. */
  lastJson: string;
  /**
   * The snapshot object last persisted or restored. XState snapshots are immutable, and
   * `actor.start()` re-emits the current one: the same object means no transition, skipped
   * without serialising it (a restore of 10,000 actors spent ~15 % of its time on that).
   */
  lastSnapshot: unknown;
}

/**
 * Runs every worker, lease, dispatch and supervisor as its own root XState actor and
 * persists each of its transitions — snapshot, journal row and projection in one
 * transaction (invariant 5) — synchronously, before any effect of the new state does I/O
 * (effects start with an `await`, so they run after the commit).
 */
export class ActorHost {
  private readonly actors = new Map<string, HostedActor>();
  /** Runtime id written as the owner of every actor this host creates, and checked on every write. */
  owner: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly definitions: Readonly<Record<ActorKind, MachineDefinition>>,
    private readonly hooks: ActorHostHooks,
    private readonly options: ActorHostOptions = {},
  ) {}

  /** Transitions written into the open group commit, reported once it committed. */
  private pending: PersistedTransition[] = [];

  /**
   * Writes a transition; with group commit it joins the job's transaction and is reported
   * (`onTransition`) once that committed, without it it is reported at once.
   */
  private write(write: TransitionWrite, report: Omit<PersistedTransition, 'seq'>): number {
    if (this.options.groupCommit !== true) {
      const seq = this.store.persistTransition(write);
      this.hooks.onWritten?.(write);
      this.hooks.onTransition({ ...report, seq });
      return seq;
    }
    // The rejection is handled by `settled`; effects awaiting `committed()` see it too.
    this.store.deferCommit(this.settled).catch(() => undefined);
    const seq = this.store.persistTransition(write);
    this.hooks.onWritten?.(write);
    this.pending.push({ ...report, seq });
    return seq;
  }

  /** Called right after each group commit: reports its transitions, or their loss. */
  private readonly settled = (error?: Error): void => {
    const transitions = this.pending;
    this.pending = [];
    if (error === undefined) {
      for (const transition of transitions) this.hooks.onTransition(transition);
    } else {
      this.commitFailed(transitions, error);
    }
  };

  /** The job's commit failed: none of its transitions is in the store. Stop their actors; report the failure once. */
  private commitFailed(lost: readonly PersistedTransition[], error: Error): void {
    for (const transition of lost) {
      const hosted = this.actors.get(transition.actorId);
      if (hosted !== undefined && !hosted.ended) {
        hosted.ended = true;
        hosted.actor.stop();
      }
    }
    const first = lost[0];
    if (first !== undefined) this.hooks.onPersistError(first.actorId, first.kind, error);
  }

  /**
   * Creates, persists and starts a new actor. The first row is written before the actor
   * starts, so a refused write (a second active dispatch of a unit) leaves nothing behind.
   * @throws DispatchConflictError, StaleFencingTokenError or PersistError from the store.
   */
  create(kind: ActorKind, id: string, input: unknown): HostedActor {
    const definition = this.definitions[kind];
    const hosted = this.instantiate(definition, id, { input });
    const snapshot = hosted.actor.getSnapshot() as MachineSnapshotLike;
    const json = JSON.stringify(hosted.actor.getPersistedSnapshot());
    const state = stateToString(snapshot.value);
    this.write(
      {
        actorId: id,
        kind,
        machineId: definition.machineId,
        machineVersion: definition.machineVersion,
        state,
        status: actorStatus(snapshot),
        snapshot: json,
        eventType: 'xstate.init',
        event: eventToJson({ type: 'xstate.init', input }),
        fromState: null,
        at: this.clock.now(),
        create: true,
        ...(this.owner === undefined ? {} : { owner: this.owner }),
        ...deriveRows(kind, id, snapshot),
      },
      { actorId: id, kind, from: null, to: state, event: { type: 'xstate.init' }, done: false, context: snapshot.context },
    );
    hosted.state = state;
    hosted.lastJson = json;
    hosted.lastSnapshot = snapshot;
    this.actors.set(id, hosted);
    hosted.actor.start();
    return hosted;
  }

  /**
   * Restores an actor from its row and starts it: invoked effects restart with their saved
   * input and must consult recorded evidence (DESIGN.md §4). A snapshot of an older machine
   * version goes through the definition's `migrate` first.
   * @throws StoreCorruptError when the row cannot be used — corrupt JSON, another machine, an
   *   unknown version (or a failed migration), a state the machine no longer has — so the
   *   caller quarantines it. Nothing is started then.
   */
  restore(record: ActorRecord): HostedActor {
    const definition = this.definitions[record.kind];
    const where = `actor ${record.id} (${record.machineId}@${record.machineVersion})`;
    if (record.machineId !== definition.machineId) {
      throw new StoreCorruptError(`${where}: machine is not ${definition.machineId}`);
    }
    let snapshot: unknown;
    try {
      snapshot = JSON.parse(record.snapshot);
    } catch (error) {
      throw new StoreCorruptError(`${where}: snapshot is not JSON`, { cause: error });
    }
    if (record.machineVersion !== definition.machineVersion) {
      if (record.machineVersion > definition.machineVersion || definition.migrate === undefined) {
        throw new StoreCorruptError(`${where}: no migration to version ${definition.machineVersion}`);
      }
      try {
        snapshot = definition.migrate(snapshot, record.machineVersion);
      } catch (error) {
        throw new StoreCorruptError(`${where}: migration to version ${definition.machineVersion} failed`, { cause: error });
      }
    }
    const shape = persistedSnapshotShape.safeParse(snapshot);
    if (!shape.success) {
      throw new StoreCorruptError(`${where}: not a persisted snapshot: ${z.prettifyError(shape.error)}`, { cause: shape.error });
    }
    const hosted = this.instantiate(definition, record.id, { snapshot });
    const restored = hosted.actor.getSnapshot() as { status: string; error?: unknown };
    if (restored.status === 'error') {
      throw new StoreCorruptError(`${where}: snapshot does not fit the machine: ${ensureError(restored.error).message}`, {
        cause: restored.error,
      });
    }
    hosted.state = record.state;
    hosted.lastJson = record.snapshot;
    hosted.lastSnapshot = hosted.actor.getSnapshot();
    this.actors.set(record.id, hosted);
    hosted.actor.start();
    return hosted;
  }

  get(id: string): HostedActor | undefined {
    return this.actors.get(id);
  }

  /** Hosted actors of one kind (or all), in creation order; ended ones included. */
  list(kind?: ActorKind): HostedActor[] {
    const all = [...this.actors.values()];
    return kind === undefined ? all : all.filter((hosted) => hosted.kind === kind);
  }

  /** Sends an event to a live actor; returns false when the actor is unknown or ended. */
  send(id: string, event: AnyEventObject): boolean {
    const hosted = this.actors.get(id);
    if (hosted === undefined || hosted.ended) return false;
    hosted.actor.send(event);
    return true;
  }

  /**
   * Stops every actor in memory without writing anything: what the store holds is what a
   * later runtime restores. Effects are stopped without being undone (a running turn's
   * process keeps running, for whoever restores its worker). Used after draining, when
   * fenced, and by tests to simulate a crash.
   */
  detachAll(): void {
    for (const hosted of this.actors.values()) this.detach(hosted.id);
    this.actors.clear();
    // Written into the open group commit but never reported: a crashed runtime reports nothing.
    this.pending = [];
  }

  /** Stops one actor in memory without writing anything (see {@link ActorHost.detachAll}). */
  detach(id: string): void {
    const hosted = this.actors.get(id);
    if (hosted === undefined) return;
    hosted.ended = true;
    hosted.actor.stop();
    this.actors.delete(id);
  }

  private instantiate(definition: MachineDefinition, id: string, from: { input?: unknown; snapshot?: unknown }): HostedActor {
    const holder: { hosted?: HostedActor } = {};
    const userInspect = this.hooks.inspect;
    const actor = createActor(definition.machine, {
      id,
      ...(from.snapshot !== undefined ? { snapshot: from.snapshot as never } : { input: from.input }),
      inspect: (event: InspectionEvent) => {
        const hosted = holder.hosted;
        if (event.type === '@xstate.snapshot' && hosted !== undefined && event.actorRef === hosted.actor) {
          this.persist(hosted, event.event);
        }
        if (userInspect !== undefined) {
          if (typeof userInspect === 'function') userInspect(event);
          else userInspect.next?.(event);
        }
      },
    });
    const hosted: HostedActor = { id, kind: definition.kind, actor, state: '', ended: false, lastJson: '', lastSnapshot: undefined };
    holder.hosted = hosted;
    // An action, guard or input that throws puts the actor in XState's `error` status with no
    // snapshot event to persist; unobserved, XState would rethrow it and end the process.
    actor.subscribe({
      error: (error: unknown) => {
        if (hosted.ended) return;
        hosted.ended = true;
        this.hooks.onActorError?.(id, definition.kind, ensureError(error));
      },
    });
    return hosted;
  }

  private persist(hosted: HostedActor, event: AnyEventObject): void {
    if (hosted.ended) return;
    const definition = this.definitions[hosted.kind];
    const snapshot = hosted.actor.getSnapshot() as MachineSnapshotLike;
    if (snapshot === hosted.lastSnapshot) return;
    const json = JSON.stringify(hosted.actor.getPersistedSnapshot());
    const status = actorStatus(snapshot);
    if (json === hosted.lastJson && status === 'active') {
      hosted.lastSnapshot = snapshot;
      return;
    }
    const from = hosted.state;
    const to = stateToString(snapshot.value);
    const done = status !== 'active';
    try {
      this.write({
        actorId: hosted.id,
        kind: hosted.kind,
        machineId: definition.machineId,
        machineVersion: definition.machineVersion,
        state: to,
        status,
        snapshot: json,
        eventType: event.type,
        event: eventToJson(event),
        fromState: from,
        at: this.clock.now(),
        ...(this.owner === undefined ? {} : { owner: this.owner }),
        ...deriveRows(hosted.kind, hosted.id, snapshot),
      }, { actorId: hosted.id, kind: hosted.kind, from, to, event, done, context: snapshot.context });
    } catch (error) {
      // The store still holds the previous snapshot; stop the actor before any effect of
      // the unrecorded state can act, and report the typed error to the runtime.
      hosted.ended = true;
      hosted.actor.stop();
      this.hooks.onPersistError(hosted.id, hosted.kind, ensureError(error));
      return;
    }
    hosted.lastJson = json;
    hosted.lastSnapshot = snapshot;
    hosted.state = to;
    if (done) hosted.ended = true;
  }
}
