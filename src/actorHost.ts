import { createActor, type Actor, type AnyEventObject, type AnyStateMachine, type InspectionEvent, type Observer } from 'xstate';
import { z } from 'zod';
import { ensureError, StoreCorruptError } from '../core/errors.js';
import { eventToJson } from './eventJson.js';
import type { Clock } from '../core/clock.js';
import { JobQueue } from './jobQueue.js';
import { actorStatus, deriveRows, stateToString, type MachineSnapshotLike } from './projections.js';
import type { Store } from '../persistence/store.js';
import type { ActorKind, ActorRecord, NotificationWrite, TransitionWrite } from '../persistence/types.js';

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

/** A JSON object (not an array, not null): what a state value or a context must be. */
const jsonObject = z.custom<Record<string, unknown>>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), {
  message: 'expected an object',
});

/**
 * The shape every persisted machine snapshot must have before XState sees it; whether its
 * states and context fit the machine is XState's check, after it. `value` and `context` are
 * checked as objects without walking their keys: `z.record` did, and took 5–6 µs of a
 * restored actor's ~100 µs (measured on 10,000 worker snapshots); this takes 0.5–2 µs.
 */
const persistedSnapshotShape = z
  .object({
    status: z.literal('active'),
    value: z.union([z.string(), jsonObject]),
    context: jsonObject,
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

export interface ActorHostHooks {
  /** Called after each committed transition, in order, once its job committed. Must not throw. */
  readonly onTransition: (transition: PersistedTransition) => void;
  /**
   * Called once per job that did not commit: refused (a `fenced` error: stale fencing token,
   * second active dispatch, ownership lost, concurrent write) or failed (`stop`). Every actor
   * of that job and of the jobs staged after it (`detached`) has been stopped without writing;
   * the store holds their last committed rows, from which the caller restores them. Must not throw.
   */
  readonly onJobFailed: (error: Error, detached: readonly { id: string; kind: ActorKind }[]) => void;
  /**
   * Called synchronously as each transition is staged, before its commit: for a view of this
   * runtime's own rows that includes what it decided but has not committed yet (dropped by the
   * caller when a job fails: `onJobFailed`). Must not throw. @default none
   */
  readonly onStaged?: (write: TransitionWrite) => void;
  /**
   * Called synchronously as each transition is staged: the notifications it causes, written
   * into the outbox in the same job (`TransitionWrite.notifications`), so that the transition
   * and its notifications are durable together. Must not throw. @default none
   */
  readonly notificationsFor?: (write: TransitionWrite, report: PersistedTransition) => readonly NotificationWrite[] | undefined;
  /**
   * Called when an actor failed inside XState (an action, guard or input threw): it is stopped,
   * nothing of the failed step was written, and its row keeps its last persisted state.
   * Must not throw. @default ignored
   */
  readonly onActorError?: (actorId: string, kind: ActorKind, error: Error) => void;
  /** Called after each job committed, with its size and how long the store's commit took (ms, wall clock). Must not throw. @default none */
  readonly onJobCommitted?: (transitions: number, durationMs: number) => void;
  /** Extra XState inspection observer attached to every actor. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** A root actor run by the host: one row in the store, routed by id. */
export interface HostedActor {
  readonly id: string;
  readonly kind: ActorKind;
  readonly actor: Actor<AnyStateMachine>;
  /** Current state as a dotted path (the last staged one). */
  state: string;
  /** True once the actor reached a final state, was stopped, or its job was refused. */
  ended: boolean;
  /** Journal sequence number of the last staged transition (the committed row's, after a restore). */
  seq: number;
  /**
   * Last staged snapshot JSON, to skip writes when nothing changed. `undefined` after a
   * restore: the row's JSON is not kept (it was most of what 10,000 restored actors held,
   * ~0.6 KiB each), and the first transition serialises the restored snapshot to compare.
   */
  lastJson: string | undefined;
  /**
   * The snapshot object last staged or restored. XState snapshots are immutable, and
   * `actor.start()` re-emits the current one: the same object means no transition, skipped
   * without serialising it (a restore of 10,000 actors spent ~15 % of its time on that).
   */
  lastSnapshot: unknown;
}

/** Kinds whose actors leave the host once their final transition has committed ({@link ActorHost.evictEnded}). */
const EVICTED_WHEN_DONE: ReadonlySet<ActorKind> = new Set<ActorKind>(['dispatch', 'lease']);

/** Options of {@link ActorHost}. */
export interface ActorHostOptions {
  /**
   * `false`: every transition is a job of its own, committed alone — slower, but a crash can
   * then fall between any two transitions, which recovery tests use. @default true: a job is
   * one synchronous burst (a scheduler pass, a restore, the cascade one event causes)
   */
  readonly groupCommit?: boolean;
}

/** The transitions of one job: staged synchronously, committed together. */
interface Job {
  readonly writes: TransitionWrite[];
  readonly reports: PersistedTransition[];
  readonly waiters: { resolve: () => void; reject: (error: Error) => void }[];
}

/**
 * Runs every worker, lease, dispatch and supervisor as its own root XState actor and persists
 * each of its transitions. A transition is staged synchronously into the open job (from
 * XState's inspection hook, inside `send`); the job — one synchronous burst: a scheduler pass,
 * a restore, the cascade one event causes — closes at the end of the microtask and is
 * committed with {@link Store.commitJob}, all or nothing (through the runtime's store policy,
 * which retries transient faults). Jobs commit one at a time, in order. Nothing of a job is reported before
 * its commit, and effects wait for {@link ActorHost.committed} before any I/O. A job that does
 * not commit detaches every actor it (or a later job) touched, for the runtime to restore from
 * their committed rows: the restart path.
 */
export class ActorHost {
  private readonly actors = new Map<string, HostedActor>();
  /** Runtime id written as the owner of every actor this host creates, and checked on every write. */
  owner: string | undefined;
  /** The job transitions are staged into now; closed at the end of the microtask. */
  private open: Job | undefined;
  /** Closed jobs waiting for their commit, oldest first. */
  private readonly queue = new JobQueue<Job>();
  /** The job being committed now. */
  private inFlight: Job | undefined;
  private committing = false;
  private sealedAt = false;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly definitions: Readonly<Record<ActorKind, MachineDefinition>>,
    private readonly hooks: ActorHostHooks,
    private readonly options: ActorHostOptions = {},
  ) {}

  /**
   * Resolves once every transition staged so far is committed; rejects with the job's error
   * when one of them was not (its actor has been detached then). At once when nothing waits.
   */
  committed(): Promise<void> {
    // An effect calls this while XState is still processing the transition that invoked it,
    // before that transition is staged (XState reports the snapshot after starting invoked
    // actors): look for the newest job one microtask later, when it is staged.
    return Promise.resolve().then(() => {
      const last = this.open ?? this.queue.last() ?? this.inFlight;
      if (last === undefined) return undefined;
      return new Promise<void>((resolve, reject) => last.waiters.push({ resolve, reject }));
    });
  }

  /**
   * Stops writing for good: transitions of hosted actors still happen in memory (the
   * supervisor moving to `fenced` or `failed`), but none is staged, committed or reported, and
   * jobs not committed yet are dropped. For a runtime that is fenced, whose store failed, or
   * that is detached.
   */
  seal(): void {
    this.sealedAt = true;
    this.open = undefined;
    // The job committing now (if any) finishes, unreported; those behind it are never written.
    this.queue.drain();
  }

  /** True once {@link ActorHost.seal} was called. */
  get sealed(): boolean {
    return this.sealedAt;
  }

  /**
   * Closes the open job now instead of at the end of the microtask, and starts its commit:
   * for a fact that must be durable before anything else happens, such as the pid of a
   * process just spawned.
   */
  flush(): void {
    if (this.open !== undefined) this.close(this.open);
  }

  private stage(write: TransitionWrite, report: PersistedTransition): void {
    if (this.sealedAt) return;
    let job = this.open;
    if (job === undefined) {
      const opened: Job = { writes: [], reports: [], waiters: [] };
      job = opened;
      this.open = opened;
      // Without group commit the job is closed below, before the microtask would run.
      if (this.options.groupCommit !== false) queueMicrotask(() => this.close(opened));
    }
    const notifications = this.hooks.notificationsFor?.(write, report);
    job.writes.push(notifications === undefined || notifications.length === 0 ? write : { ...write, notifications });
    job.reports.push(report);
    this.hooks.onStaged?.(write);
    if (this.options.groupCommit === false) this.close(job);
  }

  private close(job: Job): void {
    if (this.open !== job) return;
    this.open = undefined;
    this.queue.push(job);
    if (!this.committing) void this.commitQueue();
  }

  /** Commits the queued jobs one at a time. Never rejects: a failed job goes to {@link ActorHost.fail}. */
  private async commitQueue(): Promise<void> {
    this.committing = true;
    for (let job = this.queue.shift(); job !== undefined; job = this.queue.shift()) {
      this.inFlight = job;
      const writes = job.writes;
      const started = performance.now();
      try {
        await this.store.commitJob(writes);
        this.hooks.onJobCommitted?.(writes.length, performance.now() - started);
      } catch (error) {
        this.inFlight = undefined;
        this.fail(job, ensureError(error));
        continue;
      }
      this.inFlight = undefined;
      if (!this.sealedAt) {
        // A report may seal the host (a test's crash): the rest of the job goes unreported too.
        for (const report of job.reports) {
          if (this.sealedAt) break;
          this.hooks.onTransition(report);
        }
      }
      this.evictEnded(writes);
      for (const waiter of job.waiters) waiter.resolve();
    }
    this.committing = false;
  }

  /**
   * Drops dispatches and leases whose final transition just committed: nothing sends them
   * events any more, and kept, they made every scheduler pass walk the run's finished work (a
   * fleet's 5,000 dispatches). Callers treat an actor that is not hosted like an ended one,
   * reading its row when they need more. Workers, workspaces and supervisors stay until detached.
   */
  private evictEnded(writes: readonly TransitionWrite[]): void {
    for (const write of writes) {
      if (write.status === 'active' || !EVICTED_WHEN_DONE.has(write.kind)) continue;
      const hosted = this.actors.get(write.actorId);
      if (hosted !== undefined && hosted.ended && hosted.seq === write.seq) this.actors.delete(write.actorId);
    }
  }

  /**
   * The first queued job did not commit. It and every job staged after it were decided on its
   * unrecorded state: detach every actor they touched (nothing of them is reported), fail
   * their waiters, and hand the runtime the list to restore.
   */
  private fail(failed: Job, error: Error): void {
    const jobs = [failed, ...this.queue.drain(), ...(this.open === undefined ? [] : [this.open])];
    this.open = undefined;
    const detached = new Map<string, ActorKind>();
    for (const job of jobs) for (const write of job.writes) detached.set(write.actorId, write.kind);
    for (const id of detached.keys()) this.detach(id);
    for (const job of jobs) for (const waiter of job.waiters) waiter.reject(error);
    this.hooks.onJobFailed(error, [...detached].map(([id, kind]) => ({ id, kind })));
  }

  /**
   * Creates and starts a new actor; its first row is staged into the open job. A refused job
   * (a second active dispatch of a unit) leaves nothing of it behind.
   */
  create(kind: ActorKind, id: string, input: unknown): HostedActor {
    const definition = this.definitions[kind];
    const hosted = this.instantiate(definition, id, { input });
    const snapshot = hosted.actor.getSnapshot() as MachineSnapshotLike;
    const json = JSON.stringify(hosted.actor.getPersistedSnapshot());
    const state = stateToString(snapshot.value);
    this.stage(
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
        seq: 1,
        ...(this.owner === undefined ? {} : { owner: this.owner }),
        ...deriveRows(kind, id, snapshot),
      },
      { actorId: id, kind, from: null, to: state, event: { type: 'xstate.init' }, seq: 1, done: false, context: snapshot.context },
    );
    hosted.seq = 1;
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
    hosted.seq = record.seq;
    hosted.lastJson = undefined;
    hosted.lastSnapshot = hosted.actor.getSnapshot();
    this.actors.set(record.id, hosted);
    hosted.actor.start();
    return hosted;
  }

  get(id: string): HostedActor | undefined {
    return this.actors.get(id);
  }

  /**
   * Hosted actors of one kind (or all), in creation order; ended ones included, except
   * dispatches and leases once their final transition has committed (they are dropped then).
   */
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
    // Staged or committing but never reported: a crashed runtime reports nothing.
    this.open = undefined;
    for (const job of [...this.queue.toArray(), ...(this.inFlight === undefined ? [] : [this.inFlight])]) job.reports.length = 0;
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
    const hosted: HostedActor = { id, kind: definition.kind, actor, state: '', ended: false, seq: 0, lastJson: '', lastSnapshot: undefined };
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
    const lastJson = hosted.lastJson ?? JSON.stringify(definition.machine.getPersistedSnapshot(hosted.lastSnapshot as never));
    if (json === lastJson && status === 'active') {
      hosted.lastSnapshot = snapshot;
      hosted.lastJson = json;
      return;
    }
    const from = hosted.state;
    const to = stateToString(snapshot.value);
    const done = status !== 'active';
    const seq = hosted.seq + 1;
    let write: TransitionWrite;
    try {
      write = {
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
        seq,
        ...(this.owner === undefined ? {} : { owner: this.owner }),
        ...deriveRows(hosted.kind, hosted.id, snapshot),
      };
    } catch (error) {
      // A snapshot the projection cannot read: stop the actor before any effect of the
      // unrecorded state can act; its row keeps the last committed state.
      hosted.ended = true;
      hosted.actor.stop();
      this.hooks.onActorError?.(hosted.id, hosted.kind, ensureError(error));
      return;
    }
    this.stage(write, { actorId: hosted.id, kind: hosted.kind, from, to, event, seq, done, context: snapshot.context });
    hosted.seq = seq;
    hosted.lastJson = json;
    hosted.lastSnapshot = snapshot;
    hosted.state = to;
    if (done) hosted.ended = true;
  }
}
