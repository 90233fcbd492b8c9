import path from 'node:path';
import type { Emitter } from 'mitt';
import { createEmitter } from './emitter.js';
import type { InspectionEvent, Observer } from 'xstate';
import { DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION } from '../machines/dispatch.js';
import { LEASE_MACHINE_ID, LEASE_MACHINE_VERSION } from '../machines/lease.js';
import { SUPERVISOR_MACHINE_ID, SUPERVISOR_MACHINE_VERSION, supervisorMachine, type SupervisorContext } from '../machines/supervisor.js';
import type { TurnStarted } from '../machines/turn.js';
import { WORKER_MACHINE_ID, WORKER_MACHINE_VERSION, type WorkerContext } from '../machines/worker.js';
import { isProcessAlive, processStartTime } from '../actors/processes.js';
import { SqliteStore, type Durability } from '../persistence/sqliteStore.js';
import type { Store } from '../persistence/store.js';
import type { ActorKind } from '../persistence/types.js';
import { ActorHost, type HostedActor, type PersistedTransition } from './actorHost.js';
import { systemClock, type Clock } from './clock.js';
import { ensureError, RuntimeConflictError, RuntimeStoppedError, StaleFencingTokenError } from './errors.js';
import type { RuntimeEvents } from './events.js';
import { provideDispatch, provideLease, provideWorker, type EffectContext } from './implementations.js';
import { planFingerprint } from './plan/load.js';
import type { Plan } from './plan/types.js';
import type { Progress } from './progress.js';
import { Scheduler } from './scheduler.js';
import { describeTransition } from './transitionEvents.js';

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  /** Path of the SQLite store, or an open {@link Store}. @default '.statecrew/statecrew.db' */
  readonly store?: string | Store;
  /** Only with a store path. @default 'normal' */
  readonly durability?: Durability;
  /** Source of time for every deadline. @default systemClock */
  readonly clock?: Clock;
  /** Folder of per-turn log files. @default `<folder of the store>/logs` */
  readonly logsDir?: string;
  /** Time to live of milestone leases in ms; holders renew every third of it. @default 30_000 */
  readonly leaseTtlMs?: number;
  /** XState inspection observer attached to every actor the runtime creates or restores. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** How a run ended. Exit codes: 0 all units completed, 1 a unit failed or was blocked, 130 SIGINT, 143 SIGTERM. */
export interface RunResult {
  readonly exitCode: number;
  readonly reason: string;
  readonly progress: Progress;
}

/** A runtime: one process hosting actors for one plan on one store. */
export interface Runtime {
  /** Id of this runtime (`runtime-N`, unique in the store). */
  readonly id: string;
  readonly store: Store;
  readonly events: Emitter<RuntimeEvents>;
  /**
   * Records `plan`, restores every unfinished actor of the store, reconciles it, and starts
   * scheduling. Resolves once scheduling has started.
   * @throws RuntimeConflictError when another live runtime is running on the store.
   */
  start(plan: Plan): Promise<void>;
  /** Resolves when the run has ended (all work done, or stopped) and every actor is persisted. */
  readonly finished: Promise<RunResult>;
  /**
   * Drains: stops every worker (kill, verify, record), cancels pending dispatches, releases
   * leases. Resolves with the run's result, using `exitCode` unless the run already ended.
   */
  stop(reason: string, exitCode: number): Promise<RunResult>;
  /** Derived progress of the plan. @throws RuntimeStoppedError before `start`. */
  progress(): Progress;
  /** Live (in-memory) actors with their current state. */
  actors(): { id: string; kind: ActorKind; state: string }[];
  /** Stops actors in memory and closes the store, writing nothing more. Tests use it to simulate a crash. */
  detach(): void;
}

/** Creates a runtime; nothing is opened until {@link Runtime.start}. */
export function createRuntime(options: RuntimeOptions = {}): Runtime {
  return new RuntimeImpl(options);
}

class RuntimeImpl implements Runtime {
  readonly events: Emitter<RuntimeEvents> = createEmitter<RuntimeEvents>();
  readonly finished: Promise<RunResult>;
  readonly store: Store;
  id = '';
  private readonly clock: Clock;
  private readonly logsDir: string;
  private readonly leaseTtlMs: number;
  private readonly host: ActorHost;
  private scheduler: Scheduler | undefined;
  private supervisor: HostedActor | undefined;
  private resolveFinished: (result: RunResult) => void = () => undefined;
  private tickQueued = false;
  private drainExitCode: number | null = null;
  private drainReason = '';
  private wakeTimers = new Map<number, unknown>();
  private done = false;
  private plan: Plan | undefined;

  constructor(options: RuntimeOptions) {
    this.clock = options.clock ?? systemClock;
    const storePath = typeof options.store === 'string' ? options.store : '.statecrew/statecrew.db';
    this.store =
      typeof options.store === 'object'
        ? options.store
        : SqliteStore.fromPath(storePath, options.durability === undefined ? {} : { durability: options.durability });
    this.logsDir = options.logsDir ?? path.join(path.dirname(path.resolve(storePath)), 'logs');
    this.leaseTtlMs = options.leaseTtlMs ?? 30_000;
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
    const effects: EffectContext = {
      store: this.store,
      clock: this.clock,
      logsDir: this.logsDir,
      recordedStart: (workerId, dispatchId) => this.recordedStart(workerId, dispatchId),
    };
    this.host = new ActorHost(
      this.store,
      this.clock,
      {
        supervisor: { kind: 'supervisor', machine: supervisorMachine, machineId: SUPERVISOR_MACHINE_ID, machineVersion: SUPERVISOR_MACHINE_VERSION },
        worker: { kind: 'worker', machine: provideWorker(effects), machineId: WORKER_MACHINE_ID, machineVersion: WORKER_MACHINE_VERSION },
        lease: { kind: 'lease', machine: provideLease(effects), machineId: LEASE_MACHINE_ID, machineVersion: LEASE_MACHINE_VERSION },
        dispatch: { kind: 'dispatch', machine: provideDispatch(effects), machineId: DISPATCH_MACHINE_ID, machineVersion: DISPATCH_MACHINE_VERSION },
      },
      {
        onTransition: (transition) => this.onTransition(transition),
        onPersistError: (actorId, kind, error) => this.onPersistError(actorId, kind, error),
        ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
      },
    );
  }

  async start(plan: Plan): Promise<void> {
    await Promise.resolve();
    this.closeAbandonedSupervisors();
    this.id = `runtime-${this.store.nextSequence('runtime')}`;
    this.supervisor = this.host.create('supervisor', `supervisor-${this.id}`, {
      runtimeId: this.id,
      pid: process.pid,
      procStartTime: processStartTime(process.pid),
      startedAt: this.clock.now(),
    });
    this.plan = plan;
    this.recordPlan(plan);
    this.host.send(this.supervisor.id, { type: 'STORE_READY' });
    const byKind: Record<ActorKind, number> = { supervisor: 0, worker: 0, lease: 0, dispatch: 0 };
    for (const record of this.store.listActiveActors()) {
      if (record.kind === 'supervisor') continue;
      try {
        this.host.restore(record);
        byKind[record.kind]++;
      } catch (error) {
        const failure = ensureError(error);
        this.store.quarantineActor(record.id, failure.message);
        this.events.emit('actor.quarantined', { actorId: record.id, kind: record.kind, error: failure });
      }
    }
    const count = byKind.worker + byKind.lease + byKind.dispatch;
    this.scheduler = new Scheduler({
      host: this.host,
      store: this.store,
      clock: this.clock,
      plan,
      logsDir: this.logsDir,
      leaseTtlMs: this.leaseTtlMs,
      startWorker: () => this.startWorker(),
      report: (error) => this.onSchedulerError(error),
      wakeAt: (at) => this.wakeAt(at),
    });
    this.host.send(this.supervisor.id, { type: 'RESTORED', count });
    this.events.emit('runtime.restored', { count, byKind });
    this.queueTick();
  }

  stop(reason: string, exitCode: number): Promise<RunResult> {
    if (this.drainExitCode === null && !this.done) {
      this.drainExitCode = exitCode;
      this.drainReason = reason;
      if (this.supervisor !== undefined) this.host.send(this.supervisor.id, { type: 'DRAIN', reason });
      this.events.emit('runtime.draining', { reason });
      this.queueTick();
    }
    return this.finished;
  }

  progress(): Progress {
    if (this.scheduler === undefined) throw new RuntimeStoppedError();
    return this.scheduler.progress();
  }

  actors(): { id: string; kind: ActorKind; state: string }[] {
    return this.host.list().map((hosted) => ({ id: hosted.id, kind: hosted.kind, state: hosted.state }));
  }

  detach(): void {
    this.done = true;
    for (const timer of this.wakeTimers.values()) this.clock.clearTimeout(timer);
    this.host.detachAll();
    this.store.close();
  }

  private startWorker(): void {
    const id = `worker-${this.store.nextSequence('worker')}`;
    this.host.create('worker', id, { workerId: id });
    this.events.emit('worker.started', { workerId: id });
  }

  /** Closes the record of supervisors whose runtime died without draining; refuses to share the store with a live one. */
  private closeAbandonedSupervisors(): void {
    for (const record of this.store.listActiveActors('supervisor')) {
      const snapshot = JSON.parse(record.snapshot) as { context?: SupervisorContext };
      const context = snapshot.context;
      if (context !== undefined && context.pid !== process.pid && isProcessAlive(context.pid, context.procStartTime)) {
        throw new RuntimeConflictError(context.runtimeId, context.pid);
      }
      const hosted = this.host.restore(record);
      this.host.send(hosted.id, { type: 'RUNTIME_GONE', reason: `process ${context?.pid ?? '?'} is gone` });
    }
  }

  private recordPlan(plan: Plan): void {
    const previous = this.store.loadPlan();
    const fingerprint = planFingerprint(plan);
    if (previous !== undefined && previous.fingerprint !== fingerprint) {
      const before = JSON.parse(previous.body) as Plan;
      const units = (p: Plan) => new Map(p.milestones.flatMap((m) => m.units.map((u) => [u.id, JSON.stringify(u)] as const)));
      const old = units(before);
      const now = units(plan);
      this.events.emit('plan.changed', {
        added: [...now.keys()].filter((id) => !old.has(id)),
        removed: [...old.keys()].filter((id) => !now.has(id)),
        changed: [...now.keys()].filter((id) => old.has(id) && old.get(id) !== now.get(id)),
      });
    }
    this.store.savePlan({ file: plan.file, fingerprint, body: JSON.stringify(plan), savedAt: this.clock.now() });
  }

  /** Evidence of a turn's process: the worker's persisted `started`, else the dispatch's projection. */
  private recordedStart(workerId: string, dispatchId: string): TurnStarted | null {
    const worker = this.store.getActor(workerId);
    if (worker !== undefined) {
      const context = (JSON.parse(worker.snapshot) as { context?: WorkerContext }).context;
      if (context?.turn?.dispatchId === dispatchId && context.started !== null) return context.started;
    }
    const dispatch = this.store.listDispatches().find((row) => row.id === dispatchId);
    if (dispatch?.pid != null && dispatch.pgid !== null && dispatch.startedAt !== null && dispatch.logPath !== null) {
      return { pid: dispatch.pid, pgid: dispatch.pgid, procStartTime: dispatch.procStartTime, startedAt: dispatch.startedAt, logPath: dispatch.logPath };
    }
    return null;
  }

  private onTransition(transition: PersistedTransition): void {
    this.events.emit('actor.transition', {
      actorId: transition.actorId,
      kind: transition.kind,
      from: transition.from,
      to: transition.to,
      event: transition.event.type,
      seq: transition.seq,
    });
    describeTransition(transition, this.store, this.clock, this.events, this.plan);
    this.queueTick();
  }

  private onPersistError(actorId: string, kind: ActorKind, error: Error): void {
    this.events.emit('actor.persist-failed', { actorId, kind, error });
    if (!(error instanceof StaleFencingTokenError)) void this.stop(`store failure: ${error.message}`, 1);
    this.queueTick();
  }

  private onSchedulerError(error: Error): void {
    this.events.emit('actor.persist-failed', { actorId: '(scheduler)', kind: 'supervisor', error });
  }

  private wakeAt(at: number): void {
    if (this.wakeTimers.has(at) || this.done) return;
    const timer = this.clock.setTimeout(() => {
      this.wakeTimers.delete(at);
      this.queueTick();
    }, Math.max(0, at - this.clock.now()));
    this.wakeTimers.set(at, timer);
  }

  private queueTick(): void {
    if (this.tickQueued || this.done) return;
    this.tickQueued = true;
    setImmediate(() => {
      this.tickQueued = false;
      this.tick();
    });
  }

  private tick(): void {
    const scheduler = this.scheduler;
    if (scheduler === undefined || this.done) return;
    if (this.drainExitCode === null) {
      const progress = scheduler.tick();
      this.reportMilestones(progress);
      if (progress.finished && scheduler.quiescent()) {
        void this.stop(progress.succeeded ? 'completed' : 'finished with failures', progress.succeeded ? 0 : 1);
      }
      return;
    }
    scheduler.drain(this.drainReason);
    if (scheduler.quiescent()) this.finish(scheduler.progress());
  }

  private milestoneStates = new Map<string, string>();

  private reportMilestones(progress: Progress): void {
    for (const milestone of progress.milestones) {
      if (this.milestoneStates.get(milestone.spec.id) === milestone.state) continue;
      this.milestoneStates.set(milestone.spec.id, milestone.state);
      this.events.emit('milestone.state', { milestoneId: milestone.spec.id, state: milestone.state });
    }
  }

  private finish(progress: Progress): void {
    if (this.done) return;
    const exitCode = this.drainExitCode ?? 1;
    if (this.supervisor !== undefined) this.host.send(this.supervisor.id, { type: 'DRAINED', exitCode });
    this.done = true;
    for (const timer of this.wakeTimers.values()) this.clock.clearTimeout(timer);
    this.host.detachAll();
    const result: RunResult = { exitCode, reason: this.drainReason, progress };
    this.events.emit('run.finished', { exitCode, reason: this.drainReason });
    this.resolveFinished(result);
  }
}
