import os from 'node:os';
import { z } from 'zod';
import path from 'node:path';
import type { Emitter } from 'mitt';
import type { LeaseContext } from '../machines/lease.js';
import type { WorkerContext } from '../machines/worker.js';
import { killProcessGroup, processStartTime } from '../actors/processes.js';
import { SqliteStore } from '../persistence/sqliteStore.js';
import type { Store } from '../persistence/store.js';
import type { ActorKind, ActorRecord, ActorSummary } from '../persistence/types.js';
import { ActorHost, type HostedActor, type PersistedTransition } from './actorHost.js';
import { systemClock, type Clock } from '../core/clock.js';
import { createEmitter } from './emitter.js';
import { ensureError, OwnershipLostError, PersistError, RuntimeStoppedError, StaleFencingTokenError, UsageError } from '../core/errors.js';
import type { RuntimeEvents } from './events.js';
import { checkMachineOverrides, machineDefinitions, type EffectContext } from './implementations.js';
import { markLiveInThisProcess } from './liveness.js';
import { recordPlan } from './planRecord.js';
import { takeOverDeadRuntimes } from './takeover.js';
import { recordedTurnStart } from './turnEvidence.js';
import type { ActorView, Runtime, RunResult, RuntimeOptions } from './runtime.js';
import { listActorSummaries, readActorView } from './actorViews.js';
import { attachLogger } from './logger.js';
import { emptyPlan, externalEvent, openStore, storedPlan } from './hostInput.js';
import { extendPlan, type PlanAddition } from './plan/extend.js';
import type { Plan } from './plan/types.js';
import type { Progress } from './progress.js';
import { OperatorCommands } from './operatorCommands.js';
import { contextOf, Scheduler } from './scheduler.js';
import { describeTransition } from './transitionEvents.js';

/** The runtime: see {@link Runtime} for the contract. @internal */
export class RuntimeImpl implements Runtime {
  readonly events: Emitter<RuntimeEvents> = createEmitter<RuntimeEvents>();
  readonly finished: Promise<RunResult>;
  readonly store: Store;
  id = '';
  private readonly clock: Clock;
  private readonly logsDir: string;
  private readonly leaseTtlMs: number;
  private readonly heartbeatTtlMs: number;
  private readonly pollMs: number;
  private readonly hostName = os.hostname();
  private readonly host: ActorHost;
  private scheduler: Scheduler | undefined;
  private commands: OperatorCommands | undefined;
  private supervisor: HostedActor | undefined;
  private plan: Plan | undefined;
  private resolveFinished: (result: RunResult) => void = () => undefined;
  private tickQueued = false;
  private drainExitCode: number | null = null;
  private drainReason = '';
  private readonly wakeTimers = new Map<number, unknown>();
  private pollTimer: unknown;
  private done = false;
  private started = false;
  private readonly milestoneStates = new Map<string, string>();

  constructor(private readonly options: RuntimeOptions) {
    checkMachineOverrides(options.machines ?? {});
    this.clock = options.clock ?? systemClock;
    const storePath = typeof options.store === 'string' ? options.store : '.statecrew/statecrew.db';
    this.store = openStore(options.store ?? storePath, options.durability);
    const storeFile = this.store instanceof SqliteStore ? this.store.db.name : storePath;
    this.logsDir = options.logsDir ?? path.join(path.dirname(path.resolve(storeFile)), 'logs');
    this.leaseTtlMs = options.leaseTtlMs ?? 30_000;
    this.heartbeatTtlMs = options.heartbeatTtlMs ?? 10_000;
    this.pollMs = options.pollMs ?? 500;
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
    const effects: EffectContext = {
      store: this.store,
      clock: this.clock,
      logsDir: this.logsDir,
      recordedStart: (turn) => recordedTurnStart(this.store, turn),
      committed: () => this.store.committed(),
    };
    this.host = new ActorHost(
      this.store,
      this.clock,
      machineDefinitions(effects, Math.max(1, Math.floor(this.heartbeatTtlMs / 3)), options.migrations, options.machines),
      {
        onTransition: (transition) => this.onTransition(transition),
        onPersistError: (actorId, kind, error) => this.onPersistError(actorId, kind, error),
        onWritten: (write) => {
          if (write.projection.kind === 'dispatch') this.scheduler?.noteDispatchWritten(write.projection.row.unitId);
        },
        onActorError: (actorId, kind, error) => {
          this.events.emit('actor.failed', { actorId, kind, error });
          this.queueTick();
        },
        ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
      },
      { groupCommit: options.groupCommit !== false },
    );
    if (options.logger !== undefined) attachLogger(this.events, options.logger);
  }

  async start(given?: Plan): Promise<void> {
    if (this.started) throw new UsageError('start() was called twice; create another runtime instead');
    this.started = true;
    await Promise.resolve();
    const base = given ?? storedPlan(this.store) ?? emptyPlan(this.store);
    const plan = this.options.workers === undefined ? base : { ...base, workers: this.options.workers };
    const now = this.clock.now();
    const procStartTime = processStartTime(process.pid);
    this.id = `runtime-${this.store.nextSequence('runtime')}`;
    this.store.registerRuntime({ id: this.id, host: this.hostName, pid: process.pid, procStartTime, now, ttlMs: this.heartbeatTtlMs });
    markLiveInThisProcess(this.id, true);
    this.host.owner = this.id;
    this.supervisor = this.host.create('supervisor', `supervisor-${this.id}`, {
      runtimeId: this.id,
      pid: process.pid,
      procStartTime,
      startedAt: now,
    });
    this.plan = plan;
    recordPlan(this.store, plan, this.clock.now(), this.events);
    this.host.send(this.supervisor.id, { type: 'STORE_READY' });
    takeOverDeadRuntimes(this.store, this.id, this.hostName, this.clock.now(), this.events);
    const byKind = this.restore(this.store.listOwnedActors(this.id));
    this.commands = new OperatorCommands({
      store: this.store,
      host: this.host,
      runtimeId: this.id,
      startedAt: now,
      now: () => this.clock.now(),
      stopRuntime: (reason) => void this.stop(reason, 130),
    });
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
    const count = byKind.worker + byKind.lease + byKind.dispatch;
    this.host.send(this.supervisor.id, { type: 'RESTORED', count });
    this.events.emit('runtime.restored', { count, byKind });
    this.schedulePoll();
    this.queueTick();
  }

  submit(addition: PlanAddition): string[] {
    if (this.plan === undefined || this.scheduler === undefined || this.done) throw new RuntimeStoppedError();
    const { plan, added } = extendPlan(this.plan, addition, { cwd: this.options.cwd ?? process.cwd(), file: this.plan.file });
    recordPlan(this.store, plan, this.clock.now(), this.events);
    this.plan = plan;
    this.scheduler.setPlan(plan);
    this.queueTick();
    return added;
  }

  get(id: string): ActorView | undefined {
    return readActorView(this.store, id, (actorId) => this.host.get(actorId)?.ended === false);
  }

  list(filter?: Parameters<Runtime['list']>[0]): ActorSummary[] {
    return listActorSummaries(this.store, filter);
  }

  send(id: string, event: { readonly type: string; readonly [key: string]: unknown }): boolean {
    if (this.supervisor === undefined) throw new RuntimeStoppedError();
    const parsed = externalEvent.safeParse(event);
    if (!parsed.success) throw new UsageError(`cannot send to ${id}: ${z.prettifyError(parsed.error)}`);
    if (this.done) return false;
    return this.host.send(id, parsed.data);
  }

  stop(reason = 'stopped by the host', exitCode = 130): Promise<RunResult> {
    if (this.drainExitCode === null && !this.done) {
      this.drainExitCode = exitCode;
      this.drainReason = reason;
      if (this.supervisor !== undefined) this.host.send(this.supervisor.id, { type: 'DRAIN', reason });
      this.events.emit('runtime.draining', { reason });
      this.queueTick();
    }
    return this.finished;
  }

  sendMessage(unitId: string, text: string): number {
    if (this.plan === undefined || this.done) throw new RuntimeStoppedError();
    if (!this.plan.milestones.some((m) => m.units.some((u) => u.id === unitId))) throw new UsageError(`no unit ${unitId} in the plan`);
    const id = this.store.enqueueMessage(unitId, text, this.clock.now());
    this.queueTick();
    return id;
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
    markLiveInThisProcess(this.id, false);
    this.clearTimers();
    this.host.detachAll();
    // Closed on the next turn of the event loop: detach may be called from inside a
    // scheduling pass (a test crashing the runtime at a transition), which still reads.
    setImmediate(() => this.store.close());
  }

  /** Restores actor rows (quarantining unreadable ones); closes the supervisors of dead runtimes. */
  private restore(records: readonly ActorRecord[]): Record<ActorKind, number> {
    const byKind: Record<ActorKind, number> = { supervisor: 0, worker: 0, lease: 0, dispatch: 0 };
    for (const record of records) {
      if (record.id === this.supervisor?.id || this.host.get(record.id) !== undefined) continue;
      try {
        const hosted = this.host.restore(record);
        if (record.kind === 'supervisor') {
          this.host.send(hosted.id, { type: 'RUNTIME_GONE', reason: `taken over by ${this.id}` });
        } else {
          byKind[record.kind]++;
        }
      } catch (error) {
        const failure = ensureError(error);
        this.store.quarantineActor(record.id, failure.message, this.clock.now());
        this.scheduler?.invalidateDispatches();
        this.events.emit('actor.quarantined', { actorId: record.id, kind: record.kind, error: failure });
      }
    }
    return byKind;
  }

  private startWorker(): void {
    const id = `worker-${this.store.nextSequence('worker')}`;
    this.host.create('worker', id, { workerId: id });
    this.events.emit('worker.started', { workerId: id });
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
    this.commands?.onTransition(transition);
    if (transition.actorId === this.supervisor?.id && transition.to === 'fenced') {
      const reason = (transition.event as { reason?: unknown }).reason;
      this.fence(typeof reason === 'string' ? reason : 'supervisor fenced');
      return;
    }
    this.queueTick();
  }

  /**
   * A refused write. Ownership lost: another runtime took this one over — stop driving every
   * actor. A stale fencing token on a dispatch: its lease went to a newer holder — record the
   * dispatch `failed` (that write is not fenced) so it cannot block the unit. Anything else
   * is a store failure: drain and stop.
   */
  private onPersistError(actorId: string, kind: ActorKind, error: Error): void {
    this.events.emit('actor.persist-failed', { actorId, kind, error });
    if (error instanceof OwnershipLostError) {
      this.fence(error.message);
      return;
    }
    if (error instanceof StaleFencingTokenError && kind === 'dispatch') {
      // The store has just proven the lease stale: its holder must stop relying on it now.
      for (const lease of this.host.list('lease')) {
        const context = contextOf<LeaseContext>(lease);
        if (!lease.ended && context.milestoneId === error.milestoneId && context.fencingToken === error.token) {
          this.host.send(lease.id, { type: 'LOST', currentToken: error.currentToken });
        }
      }
      setImmediate(() => this.recordFencedDispatch(actorId, error));
      return;
    }
    if (error instanceof StaleFencingTokenError) {
      this.queueTick();
      return;
    }
    void this.abortOnStoreFailure(error);
  }

  /**
   * The store cannot take writes (disk full, I/O error, a lock that never came free):
   * draining would need writes too, so stop without writing. Kill every running turn and
   * verify it gone (kill-verify; the record of it stays `running` and is reconciled as lost
   * on the next start), stop every actor in memory, and end with exit code 4. Every
   * transaction that failed was rolled back, so the store is intact.
   */
  private async abortOnStoreFailure(error: Error): Promise<void> {
    if (this.done) return;
    this.done = true;
    markLiveInThisProcess(this.id, false);
    this.clearTimers();
    const turns = this.host
      .list('worker')
      .map((worker) => contextOf<WorkerContext>(worker))
      .flatMap((context) => (context.started === null ? [] : [{ started: context.started, graceMs: context.turn?.killGraceMs ?? 5_000 }]));
    this.host.detachAll();
    const reason = `store failure: ${error.message}`;
    const survivors: string[] = [];
    for (const turn of turns) {
      try {
        await killProcessGroup(turn.started.pgid, { graceMs: turn.graceMs, clock: this.clock });
      } catch (killError) {
        survivors.push(ensureError(killError).message);
      }
    }
    this.events.emit('runtime.store-failed', { error, survivors });
    this.resolveFinished({
      exitCode: 4,
      reason: survivors.length === 0 ? reason : `${reason}; ${survivors.join('; ')}`,
      fenced: false,
      progress: this.safeProgress(),
    });
  }

  private safeProgress(): Progress {
    const empty: Progress = { milestones: [], units: new Map(), finished: false, succeeded: false };
    if (this.scheduler === undefined) return empty;
    try {
      return this.scheduler.progress();
    } catch (error) {
      this.events.emit('actor.persist-failed', { actorId: '(progress)', kind: 'supervisor', error: ensureError(error) });
      return empty;
    }
  }

  private recordFencedDispatch(actorId: string, error: StaleFencingTokenError): void {
    if (this.done) return;
    const record = this.store.getActor(actorId);
    if (record === undefined || record.status !== 'active') return;
    this.host.restore(record);
    this.host.send(actorId, { type: 'ABANDON', reason: `fenced: ${error.message}`, at: this.clock.now() });
  }

  /** A create refused by the store: a conflict is reported; lost ownership fences; anything else is a store failure. */
  private onSchedulerError(error: Error): void {
    this.events.emit('actor.persist-failed', { actorId: '(scheduler)', kind: 'supervisor', error });
    if (error instanceof OwnershipLostError) this.fence(error.message);
    else if (error instanceof PersistError) void this.abortOnStoreFailure(error);
  }

  /** Stops driving every actor, touching neither the store nor any process: they belong to another runtime now. */
  private fence(reason: string): void {
    if (this.done) return;
    this.done = true;
    markLiveInThisProcess(this.id, false);
    this.clearTimers();
    this.host.detachAll();
    this.events.emit('runtime.fenced', { reason });
    this.resolveFinished({
      exitCode: 1,
      reason,
      fenced: true,
      progress: this.safeProgress(),
    });
  }

  private schedulePoll(): void {
    if (this.done) return;
    this.pollTimer = this.clock.setTimeout(() => {
      if (this.done) return;
      if (this.drainExitCode === null) {
        this.restore(takeOverDeadRuntimes(this.store, this.id, this.hostName, this.clock.now(), this.events));
        this.commands?.poll();
      }
      this.queueTick();
      this.schedulePoll();
    }, this.pollMs);
  }

  private wakeAt(at: number): void {
    if (this.wakeTimers.has(at) || this.done) return;
    const timer = this.clock.setTimeout(() => {
      this.wakeTimers.delete(at);
      this.queueTick();
    }, Math.max(0, at - this.clock.now()));
    this.wakeTimers.set(at, timer);
  }

  private clearTimers(): void {
    for (const timer of this.wakeTimers.values()) this.clock.clearTimeout(timer);
    this.wakeTimers.clear();
    this.clock.clearTimeout(this.pollTimer);
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
      if (progress.finished && scheduler.quiescent() && this.options.keepAlive !== true) {
        void this.stop(progress.succeeded ? 'completed' : 'finished with failures', progress.succeeded ? 0 : 1);
      }
      return;
    }
    scheduler.drain(this.drainReason);
    if (scheduler.quiescent()) this.finish(scheduler.progress());
  }

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
    markLiveInThisProcess(this.id, false);
    this.clearTimers();
    // The last transitions are reported (and durable) once the job's group commit is done.
    this.store.committed().then(
      () => {
        this.host.detachAll();
        this.store.stopRuntime(this.id, this.clock.now(), this.drainReason);
        const result: RunResult = { exitCode, reason: this.drainReason, fenced: false, progress };
        this.events.emit('run.finished', { exitCode, reason: this.drainReason });
        this.resolveFinished(result);
      },
      (error: unknown) => {
        this.host.detachAll();
        const reason = `store failure: ${ensureError(error).message}`;
        this.events.emit('runtime.store-failed', { error: ensureError(error), survivors: [] });
        this.resolveFinished({ exitCode: 4, reason, fenced: false, progress });
      },
    );
  }
}
