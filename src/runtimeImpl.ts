import { z } from 'zod';
import type { Emitter } from 'mitt';
import type { SupervisorEvent } from '../machines/supervisor.js';
import { localHostIdentity, isLocalHost, type HostIdentity } from '../actors/hostIdentity.js';
import { TurnKeepAlive } from '../actors/keepAlive.js';
import { killProcessGroup, processStartTime } from '../actors/processes.js';
import type { SchedulerView, Store } from '../persistence/store.js';
import type { ActorKind, ActorSummary } from '../persistence/types.js';
import { ActorHost, type HostedActor, type PersistedTransition } from './actorHost.js';
import { handleOf, handlesOf } from './actorHandles.js';
import { systemClock } from '../core/clock.js';
import { AlignedClock } from './storeClock.js';
import { createEmitter } from './emitter.js';
import { ensureError, OwnershipLostError, recoveryOf, RuntimeStoppedError, StoreFailedError, UsageError } from '../core/errors.js';
import type { RuntimeEvents } from './events.js';
import { checkMachineOverrides, machineDefinitions, type EffectContext } from './implementations.js';
import { markLiveInThisProcess } from './liveness.js';
import { recordPlan } from './planRecord.js';
import { takeOverDeadRuntimes } from './takeover.js';
import { recordedTurnStart } from './turnEvidence.js';
import type { ActorView, Runtime, RunResult, RuntimeOptions } from './runtime.js';
import { listActorSummaries, readActorView } from './actorViews.js';
import { attachLogger } from './logger.js';
import { emptyPlan, externalEvent, openStore } from './hostInput.js';
import { defaultLogsDir, resolveStoreLocation } from '../persistence/openStore.js';
import { extendPlan, type PlanAddition } from './plan/extend.js';
import type { Plan } from './plan/types.js';
import type { Progress } from './progress.js';
import { OperatorCommands } from './operatorCommands.js';
import { PassLoop } from './passLoop.js';
import { Scheduler } from './scheduler.js';
import { SequenceBlocks } from './sequenceBlocks.js';
import { guardStore, StorePolicy } from './storePolicy.js';
import { readStoredPlan } from './storedPlan.js';
import { resolveWorkspaces } from './plan/workspaces.js';
import { describeTransition } from './transitionEvents.js';
import { RestoreJob } from './restoreJob.js';
import { NotificationJob, NOTIFY_DRAIN_MS } from './notifications/notificationJob.js';
import { RetentionJob } from './retention.js';
import { RuntimeTelemetry } from './telemetry/runtimeTelemetry.js';
import { PassTimers } from './passTimers.js';
import { ProgressReports } from './progressReports.js';

const EMPTY_PROGRESS: Progress = { milestones: [], units: new Map(), finished: false, succeeded: false, budgets: [] };

/** How a run ends: the supervisor event that ends it, and the failure that caused it, if any. */
type Ending = { readonly event: Extract<SupervisorEvent, { type: 'DRAINED' | 'FENCED' | 'STORE_FAILED' }>; readonly error?: Error };

/**
 * The runtime: see {@link Runtime} for the contract. Its lifecycle is its supervisor
 * statechart (`starting → restoring → running → draining → stopped`, or `fenced`, or `failed`):
 * no flag here says whether it runs. Every store call goes through one {@link StorePolicy};
 * every store fault ends in {@link RuntimeImpl.onStoreFault} or a refused job's restore.
 * @internal
 */
export class RuntimeImpl implements Runtime {
  readonly events: Emitter<RuntimeEvents> = createEmitter<RuntimeEvents>();
  readonly finished: Promise<RunResult>;
  readonly store: Store;
  id = '';
  private readonly guarded: Store;
  /** The host's clock aligned to the store's (`storeClock.ts`): the one time line of every host sharing the store. */
  private readonly clock: AlignedClock;
  private readonly logsDir: string;
  private readonly leaseTtlMs: number;
  private readonly heartbeatTtlMs: number;
  /** The keep-alive files of the turns this runtime watches, renewed while its heartbeat is recorded. */
  private readonly turnKeepAlive: TurnKeepAlive;
  /** Clock time of the last heartbeat the store recorded (registration counts as the first). */
  private lastHeartbeatAt = Number.NEGATIVE_INFINITY;
  /** Where this runtime's pids mean something; set by `begin` (which fails the start when it cannot be known). */
  private hostIdentity: HostIdentity | undefined;
  private readonly host: ActorHost;
  private readonly ids: SequenceBlocks;
  private readonly passes: PassLoop;
  private readonly restorer: RestoreJob;
  private scheduler: Scheduler | undefined;
  private commands: OperatorCommands | undefined;
  private retention: RetentionJob | undefined;
  /** The plan's notifications (`notify:`); absent when it has none. */
  private notifications: NotificationJob | undefined;
  private supervisor: HostedActor | undefined;
  private plan: Plan | undefined;
  private starting: Promise<void> | undefined;
  private resolveFinished: (result: RunResult) => void = () => undefined;
  private readonly timers: PassTimers;
  private readonly reports: ProgressReports;
  /** The store fault that ends the run, for `runtime.store-failed` (the supervisor's context keeps only its message). */
  private failure: Error | undefined;

  constructor(private readonly options: RuntimeOptions) {
    checkMachineOverrides(options.machines ?? {});
    this.clock = new AlignedClock(options.clock ?? systemClock);
    this.store = openStore(options.store ?? '.statecrew/statecrew.db', options.durability);
    const policy = new StorePolicy({
      clock: this.clock,
      ...(options.storeRetryMs === undefined ? {} : { retryForMs: options.storeRetryMs }),
      onWaiting: (wait) => this.events.emit('runtime.store-waiting', wait),
      onRecovered: (recovered) => this.events.emit('runtime.store-recovered', recovered),
      onFatal: (operation, error) => this.onStoreFault(operation, error),
    });
    this.guarded = guardStore(this.store, policy);
    this.ids = new SequenceBlocks(this.guarded);
    this.logsDir = options.logsDir ?? defaultLogsDir(resolveStoreLocation(this.store.location, process.cwd()), process.cwd());
    this.leaseTtlMs = options.leaseTtlMs ?? 30_000;
    this.heartbeatTtlMs = options.heartbeatTtlMs ?? 10_000;
    this.turnKeepAlive = new TurnKeepAlive({
      graceMs: options.turnGraceMs ?? 30_000,
      renewEveryMs: Math.max(50, Math.min(1_000, this.heartbeatTtlMs / 6)),
      // Half a TTL without a recorded heartbeat: other hosts will soon take this runtime for dead.
      mayRenew: () => this.active() && this.clock.now() - this.lastHeartbeatAt <= this.heartbeatTtlMs / 2,
      onError: (path, error) => this.events.emit('runtime.keep-alive-failed', { path, error }),
    });
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
    const effects: EffectContext = {
      store: this.guarded,
      clock: this.clock,
      logsDir: this.logsDir,
      recordedStart: (turn) => recordedTurnStart(this.guarded, turn),
      committed: () => this.host.committed(),
      flush: () => this.host.flush(),
      turnKeepAlive: this.turnKeepAlive,
      heartbeatRecorded: async (at) => {
        this.lastHeartbeatAt = Math.max(this.lastHeartbeatAt, at);
        await this.clock.sync(() => this.guarded.readClock());
      },
    };
    this.host = new ActorHost(
      this.guarded,
      this.clock,
      machineDefinitions(effects, Math.max(1, Math.floor(this.heartbeatTtlMs / 3)), options.migrations, options.machines),
      {
        onTransition: (transition) => this.onTransition(transition),
        onJobFailed: (error, detached) => this.onJobFailed(error, detached),
        onStaged: (write) => this.scheduler?.noteStaged(write),
        notificationsFor: (write, report) => this.notifications?.forTransition(write, report),
        onJobCommitted: (transitions, durationMs) => this.events.emit('job.committed', { transitions, durationMs }),
        onActorError: (actorId, kind, error) => {
          this.events.emit('actor.failed', { actorId, kind, error });
          this.passes.request();
        },
        ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
      },
      { groupCommit: options.groupCommit !== false },
    );
    this.restorer = new RestoreJob({
      host: this.host,
      store: this.guarded,
      clock: this.clock,
      events: this.events,
      supervisorId: () => this.supervisor?.id,
      runtimeId: () => this.id,
      invalidateDispatches: () => this.scheduler?.invalidateDispatches(),
      active: () => this.active(),
    });
    this.passes = new PassLoop(() => this.pass(), (error) => this.onStoreFault('scheduler pass', error));
    this.timers = new PassTimers({
      clock: this.clock,
      pollMs: options.pollMs ?? 500,
      active: () => this.active(),
      requestPass: () => this.passes.request(),
      onPoll: () => this.takeOver(),
    });
    this.reports = new ProgressReports(this.events);
    if (options.logger !== undefined) attachLogger(this.events, options.logger);
  }

  start(given?: Plan): Promise<void> {
    if (this.starting !== undefined) throw new UsageError('start() was called twice; create another runtime instead');
    this.starting = this.begin(given).catch((error: unknown) => {
      const failure = ensureError(error);
      this.startFailed(failure);
      throw failure;
    });
    return this.starting;
  }

  /**
   * `start` failed (the store could not be read or written, or the stored plan is unreadable):
   * the run is over. With a supervisor, its one shutdown sequence runs; before one exists,
   * nothing was started: only the outcome is reported (exit code 4 for a store fault, else 1).
   */
  private startFailed(error: Error): void {
    if (this.supervisor !== undefined) {
      this.onStoreFault('start', error);
      return;
    }
    markLiveInThisProcess(this.id, false);
    this.host.seal();
    const storeFault = recoveryOf(error) === 'stop' || recoveryOf(error) === 'retry';
    const exitCode = storeFault ? 4 : 1;
    const reason = storeFault ? `store failure: ${error.message}` : `start failed: ${error.message}`;
    if (storeFault) this.events.emit('runtime.store-failed', { error, survivors: [] });
    this.events.emit('run.finished', { exitCode, reason });
    this.resolveFinished({ exitCode, reason, fenced: false, progress: EMPTY_PROGRESS });
  }

  /**
   * Longest time after this runtime's last recorded heartbeat that any turn it watches may
   * still run, in ms: renewals go on for half a TTL without a recorded heartbeat, and a turn
   * outlives its last renewal by at most the keep-alive's bound (`TurnKeepAlive.boundMs`).
   * Recorded at registration; another host takes this runtime over only after it.
   */
  private turnGraceBoundMs(): number {
    return Math.ceil(this.heartbeatTtlMs / 2 + this.turnKeepAlive.boundMs());
  }

  /** The supervisor's state: the runtime's lifecycle (`created` before it exists). */
  private phase(): string {
    const value: unknown = this.supervisor?.actor.getSnapshot().value;
    return typeof value === 'string' ? value : 'created';
  }

  /** True while the runtime may act: started, not ending, not detached. */
  private active(): boolean {
    const phase = this.phase();
    return !this.host.sealed && (phase === 'starting' || phase === 'restoring' || phase === 'running' || phase === 'draining');
  }

  private async begin(given?: Plan): Promise<void> {
    await Promise.resolve();
    const store = this.guarded;
    // A networked store connects and migrates first: its faults go through the store policy like any call's.
    await store.ready();
    await this.clock.sync(() => store.readClock());
    const base = given ?? (await readStoredPlan(store)) ?? emptyPlan(store.location);
    const plan = await resolveWorkspaces(this.options.workers === undefined ? base : { ...base, workers: this.options.workers }, store.location);
    const now = this.clock.now();
    const identity = localHostIdentity();
    this.hostIdentity = identity;
    const procStartTime = processStartTime(process.pid);
    this.id = `runtime-${await store.reserveSequence('runtime', 1)}`;
    await store.registerRuntime({
      id: this.id, host: identity.name, hostId: identity.id, pid: process.pid, procStartTime, now, ttlMs: this.heartbeatTtlMs, turnGraceMs: this.turnGraceBoundMs(),
    });
    this.lastHeartbeatAt = now;
    markLiveInThisProcess(this.id, true);
    this.host.owner = this.id;
    this.supervisor = this.host.create('supervisor', `supervisor-${this.id}`, { runtimeId: this.id, pid: process.pid, procStartTime, startedAt: now });
    this.watchSupervisor(this.supervisor);
    this.plan = plan;
    if (plan.notify !== undefined) {
      this.notifications = new NotificationJob({
        plan: () => this.plan,
        dispatchesOf: (unitId) => this.scheduler?.dispatchesOf(unitId) ?? [],
        store,
        runtimeId: this.id,
        clock: this.clock,
        events: this.events,
        background: (operation, call) => this.background(operation, call),
      });
    }
    await recordPlan(store, plan, this.clock.now(), this.events);
    const storeId = await store.storeId();
    this.toSupervisor({ type: 'STORE_READY' });
    await takeOverDeadRuntimes(store, this.id, identity, this.clock.now(), this.events);
    const byKind = await this.restorer.restore(await store.listOwnedActors(this.id));
    this.commands = new OperatorCommands({
      store,
      host: this.host,
      runtimeId: this.id,
      startedAt: now,
      now: () => this.clock.now(),
      stopRuntime: (reason) => void this.stop(reason, 130),
      background: (operation, call) => this.background(operation, call),
    });
    this.scheduler = new Scheduler({
      host: this.host,
      clock: this.clock,
      plan,
      logsDir: this.logsDir,
      storeId,
      leaseTtlMs: this.leaseTtlMs,
      startWorker: () => this.startWorker(),
      nextLeaseNumber: () => this.ids.take('lease'),
      wakeAt: (at) => this.timers.wakeAt(at),
      restoring: (actorId) => this.restorer.restoring(actorId),
    });
    // Spans and metrics through @opentelemetry/api: no-ops unless the host installed an SDK.
    new RuntimeTelemetry({
      events: this.events,
      runtimeId: this.id,
      plan: () => this.plan,
      store,
      clock: this.clock,
      dispatch: (unitId, dispatchId) => this.scheduler?.dispatchesOf(unitId).find((d) => d.id === dispatchId),
      gauges: () => ({
        activeWorkers: this.host.list().filter((hosted) => hosted.kind === 'worker' && !hosted.ended).length,
        waitingUnits: [...(this.scheduler?.progress().units.values() ?? [])].filter((unit) => unit.state === 'pending').length,
      }),
      background: (operation, call) => this.background(operation, call),
    });
    const count = byKind.worker + byKind.lease + byKind.dispatch;
    this.toSupervisor({ type: 'RESTORED', count });
    this.events.emit('runtime.restored', { count, byKind });
    const retention = this.options.retention ?? plan.retention;
    if (RetentionJob.drops(retention)) {
      this.retention = new RetentionJob(retention, {
        store: this.guarded,
        clock: this.clock,
        active: () => this.active(),
        background: (operation, call) => this.background(operation, call),
        onCompacted: (total) => this.events.emit('retention.compacted', total),
      });
      this.retention.start();
    }
    this.notifications?.start();
    // Another host's commit (an operator command, a submission, a released lease) wakes a pass at once; the poll stays as the fallback.
    this.timers.start(this.store.watchChanges?.bind(this.store));
    this.passes.request();
  }

  async submit(addition: PlanAddition): Promise<string[]> {
    if (this.plan === undefined || this.scheduler === undefined || !this.active()) throw new RuntimeStoppedError();
    const extended = extendPlan(this.plan, addition, { cwd: this.options.cwd ?? process.cwd(), file: this.plan.file });
    const added = extended.added;
    const plan = await resolveWorkspaces(extended.plan, this.store.location);
    await recordPlan(this.guarded, plan, this.clock.now(), this.events);
    this.plan = plan;
    this.scheduler.setPlan(plan);
    this.passes.request();
    return added;
  }

  get(id: string): Promise<ActorView | undefined> {
    return readActorView(this.guarded, id, (actorId) => this.host.get(actorId)?.ended === false);
  }

  list(filter?: Parameters<Runtime['list']>[0]): Promise<ActorSummary[]> {
    return listActorSummaries(this.guarded, filter);
  }

  send(id: string, event: { readonly type: string; readonly [key: string]: unknown }): boolean {
    if (this.supervisor === undefined) throw new RuntimeStoppedError();
    const parsed = externalEvent.safeParse(event);
    if (!parsed.success) throw new UsageError(`cannot send to ${id}: ${z.prettifyError(parsed.error)}`);
    if (!this.active()) return false;
    return this.host.send(id, parsed.data);
  }

  stop(reason = 'stopped by the host', exitCode = 130): Promise<RunResult> {
    if (this.starting === undefined) {
      // Never started: nothing to drain, nothing was written.
      this.starting = Promise.reject(new RuntimeStoppedError());
      this.starting.catch(() => this.events.emit('run.finished', { exitCode, reason }));
      this.resolveFinished({ exitCode, reason, fenced: false, progress: EMPTY_PROGRESS });
      return this.finished;
    }
    this.starting.then(
      () => {
        if (!this.active() || this.phase() === 'draining') return;
        this.toSupervisor({ type: 'DRAIN', reason, exitCode });
        this.events.emit('runtime.draining', { reason });
        this.passes.request();
      },
      (error: unknown) => this.onStoreFault('start', ensureError(error)),
    );
    return this.finished;
  }

  async sendMessage(unitId: string, text: string): Promise<number> {
    if (this.plan === undefined || !this.active()) throw new RuntimeStoppedError();
    if (!this.plan.milestones.some((m) => m.units.some((u) => u.id === unitId))) throw new UsageError(`no unit ${unitId} in the plan`);
    const id = await this.guarded.enqueueMessage(unitId, text, this.clock.now());
    this.passes.request();
    return id;
  }

  async progress(): Promise<Progress> {
    const scheduler = this.scheduler;
    if (scheduler === undefined) throw new RuntimeStoppedError();
    if (!this.active()) return scheduler.progress();
    return scheduler.progressFrom(await this.guarded.readSchedulerView(scheduler.viewRequest()));
  }

  actors(): { id: string; kind: ActorKind; state: string }[] {
    return this.host.list().map((hosted) => ({ id: hosted.id, kind: hosted.kind, state: hosted.state }));
  }

  detach(): void {
    this.host.seal();
    markLiveInThisProcess(this.id, false);
    this.timers.stop();
    this.host.detachAll();
    // Closed on the next turn of the event loop: detach may be called from inside a pass.
    setImmediate(() => this.background('close', this.store.close()));
  }

  /** Sends the supervisor an event as a job of its own, so no refusal of other actors' writes can take it along. */
  private toSupervisor(event: SupervisorEvent): void {
    if (this.supervisor === undefined) return;
    this.host.flush();
    this.host.send(this.supervisor.id, event);
    this.host.flush();
  }

  private startWorker(): boolean {
    const number = this.ids.take('worker');
    if (number === undefined) return false;
    const id = `worker-${number}`;
    this.host.create('worker', id, { workerId: id });
    this.events.emit('worker.started', { workerId: id });
    return true;
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
    describeTransition(transition, (unitId) => this.scheduler?.dispatchesOf(unitId) ?? [], this.clock, this.events, this.plan);
    this.commands?.onTransition(transition);
    if (transition.kind === 'dispatch' && transition.done) this.notifications?.committed();
    this.passes.request();
  }

  /**
   * A job did not commit. Refused (`fenced`) because of this runtime's own standing —
   * ownership lost — or a store that cannot be used (`stop`): the run ends. Refused for one
   * decision (a stale fencing token, a second active dispatch, a concurrent write): its actors
   * are restored from their committed rows, the restart path, and the next pass decides again.
   */
  private onJobFailed(error: Error, detached: readonly { id: string; kind: ActorKind }[]): void {
    if (!this.active()) return;
    // The rows it staged were never written: read them all again.
    this.scheduler?.invalidateDispatches();
    const first = detached[0];
    if (first !== undefined) this.events.emit('actor.persist-failed', { actorId: first.id, kind: first.kind, error });
    if (error instanceof OwnershipLostError) {
      this.end({ event: { type: 'FENCED', reason: error.message } });
    } else if (recoveryOf(error) === 'fenced') {
      const draining = handleOf(this.supervisor, 'supervisor')?.context;
      this.background(
        'restore',
        this.restorer.restoreRefused(detached, error).then((restored) => {
          if (restored.supervisor !== undefined) {
            this.supervisor = restored.supervisor;
            this.watchSupervisor(restored.supervisor);
            // A drain whose transition was refused with the job is asked again.
            if (draining?.drainReason != null && this.phase() !== 'draining') {
              this.toSupervisor({ type: 'DRAIN', reason: draining.drainReason, exitCode: draining.exitCode ?? 130 });
            }
          }
          this.passes.request();
        }),
      );
    } else {
      this.onStoreFault('commitJob', error);
    }
  }

  /**
   * The one failure path of store faults that are not a refusal: the store cannot be used
   * (disk full, I/O error, corrupt database, a lock that never came free, a schema from the
   * future). Ownership lost fences instead.
   */
  private onStoreFault(operation: string, error: Error): void {
    if (error instanceof OwnershipLostError) {
      this.end({ event: { type: 'FENCED', reason: error.message } });
      return;
    }
    this.end({ event: { type: 'STORE_FAILED', reason: `store failure in ${operation}: ${error.message}` }, error });
  }

  /**
   * Runs a store call nobody awaits; its failure takes the one failure path. Once the run is
   * ending, the failure is that path's own (the fault that ended it, reported once by
   * `runtime.store-failed`) or concerns work that is being dropped: nothing more to do.
   */
  private background(operation: string, call: Promise<unknown>): void {
    call.catch((error: unknown) => {
      if (this.active()) this.onStoreFault(operation, ensureError(error));
    });
  }

  /**
   * Ends the run by sending the supervisor the event that ends it; the supervisor's final state
   * then runs {@link RuntimeImpl.shutdown}. `FENCED` and `STORE_FAILED` seal the host first:
   * nothing more is written (the store refuses or cannot take it).
   */
  private end(ending: Ending): void {
    const supervisor = this.supervisor;
    if (supervisor === undefined || !this.active()) return;
    if (ending.error !== undefined) this.failure = ending.error;
    if (ending.event.type !== 'DRAINED') this.host.seal();
    // The supervisor's final state starts the shutdown (watchSupervisor); one that cannot take
    // the event (detached by a refused job, its restore pending) ends the run all the same.
    if (!this.host.send(supervisor.id, ending.event)) {
      void this.shutdown(ending.event.type === 'DRAINED' ? 'stopped' : ending.event.type === 'FENCED' ? 'fenced' : 'failed');
    }
  }

  /** Runs the shutdown sequence when this runtime's supervisor reaches a final state, whoever sent the event. */
  private watchSupervisor(supervisor: HostedActor): void {
    let seen = false;
    supervisor.actor.subscribe((snapshot: { value: unknown }) => {
      const state = snapshot.value;
      if (seen || this.supervisor !== supervisor || (state !== 'stopped' && state !== 'fenced' && state !== 'failed')) return;
      seen = true;
      void this.shutdown(state);
    });
  }

  /**
   * The one shutdown sequence, run once the supervisor is final. `stopped` (drained): the last
   * transitions are committed, the runtime's registry row is closed, then `run.finished`.
   * `fenced`: nothing more is written and no process is touched (they belong to the runtime
   * that took over). `failed` (the store cannot be used): nothing more is written; every
   * running turn is killed and verified gone (its record stays `running` and is reconciled as
   * lost at the next start); `runtime.store-failed`, then `run.finished`, exit code 4.
   */
  private async shutdown(state: 'stopped' | 'fenced' | 'failed'): Promise<void> {
    const supervisor = this.supervisor;
    if (supervisor === undefined) return;
    if (state !== 'stopped') this.host.seal();
    const turns = state === 'failed' ? this.runningTurns() : [];
    markLiveInThisProcess(this.id, false);
    this.timers.stop();
    this.retention?.stop();
    this.turnKeepAlive.stop();
    let failure = this.failure ?? (state === 'failed' ? new StoreFailedError('heartbeat', { cause: new Error(this.reason()) }) : undefined);
    if (state === 'stopped') {
      this.host.flush();
      failure = await this.host.committed().then(
        () => undefined,
        (error: unknown) => ensureError(error),
      );
      if (failure === undefined) {
        failure = await this.guarded.stopRuntime(this.id, this.clock.now(), this.reason()).then(
          () => undefined,
          (error: unknown) => ensureError(error),
        );
      }
    }
    const progress = this.scheduler?.progress() ?? EMPTY_PROGRESS;
    this.host.seal();
    this.host.detachAll();
    const survivors: string[] = [];
    for (const turn of turns) {
      try {
        await killProcessGroup(turn.pgid, { graceMs: turn.graceMs, clock: this.clock });
      } catch (killError) {
        survivors.push(ensureError(killError).message);
      }
    }
    const fenced = state === 'fenced' || failure instanceof OwnershipLostError;
    let exitCode = handleOf(supervisor, 'supervisor')?.context.exitCode ?? 1;
    let reason = this.reason();
    if (fenced) {
      exitCode = 1;
      this.events.emit('runtime.fenced', { reason });
    } else if (failure !== undefined) {
      exitCode = 4;
      reason = `store failure: ${failure.message}${survivors.length === 0 ? '' : `; ${survivors.join('; ')}`}`;
      this.events.emit('runtime.store-failed', { error: failure, survivors });
    }
    if (state === 'stopped' && failure === undefined) {
      // `run.finished` is queued and what is due delivered before the run is reported finished;
      // the store failing meanwhile is a store failure like any other (exit 4). A delivery that
      // fails is recorded in the outbox, not thrown.
      const outboxFailure = await this.notifications?.finish({ exitCode, reason }, progress, NOTIFY_DRAIN_MS).then(
        () => undefined,
        (error: unknown) => ensureError(error),
      );
      if (outboxFailure !== undefined) {
        exitCode = 4;
        reason = `store failure: ${outboxFailure.message}`;
        this.events.emit('runtime.store-failed', { error: outboxFailure, survivors: [] });
      }
    } else this.notifications?.stop();
    this.events.emit('run.finished', { exitCode, reason });
    this.resolveFinished({ exitCode, reason, fenced, progress });
  }

  private reason(): string {
    return handleOf(this.supervisor, 'supervisor')?.context.drainReason ?? 'stopped';
  }

  /**
   * Process groups of the turns this runtime's workers run now. A turn recorded under another
   * host identity (a worker taken over from a runtime in another PID namespace) is not among
   * them: its process group id names nothing here, or someone else's group.
   */
  private runningTurns(): { pgid: number; graceMs: number }[] {
    return handlesOf(this.host, 'worker').flatMap((worker) => {
      const { started } = worker.context;
      return started === null || !isLocalHost(started.hostId) ? [] : [{ pgid: started.pgid, graceMs: worker.context.turn?.killGraceMs ?? 5_000 }];
    });
  }

  /** One scheduler pass: wait for the last job's commit, read the store once, decide, stage one job. */
  private async pass(): Promise<void> {
    const scheduler = this.scheduler;
    if (scheduler === undefined || !this.active()) return;
    const settled = await this.host.committed().then(
      () => true,
      () => false,
    );
    // A job that did not commit is handled by onJobFailed; the pass it requested runs next.
    if (!settled || !this.active()) return;
    await this.ids.ensure('worker', scheduler.workersWanted());
    await this.ids.ensure('lease', scheduler.leasesWanted());
    const view = await this.guarded.readSchedulerView(scheduler.viewRequest());
    if (!this.active()) return;
    if (this.phase() === 'running') {
      await this.commands?.poll(view);
      if (this.phase() === 'running') this.run(scheduler, view);
    }
    if (this.phase() === 'draining') {
      scheduler.drain(view, this.reason());
      if (scheduler.quiescent()) this.end({ event: { type: 'DRAINED' } });
    }
  }

  private run(scheduler: Scheduler, view: SchedulerView): void {
    const progress = scheduler.tick(view);
    this.reports.report(progress);
    this.notifications?.onProgress(progress);
    if (progress.finished && scheduler.quiescent() && this.options.keepAlive !== true) {
      // Decided from this pass's job, staged but not committed yet: a refused job (a completion
      // under a stale fencing token) restores its actors and the run goes on, so the run ends
      // only once the job committed. A refusal is handled by onJobFailed, not here.
      const [reason, exitCode] = progress.succeeded ? ['completed', 0] : ['finished with failures', 1];
      this.host.committed().then(
        () => void this.stop(reason, exitCode),
        () => undefined,
      );
    }
  }

  /** At each poll: dead runtimes' actors are taken over, and restored here. */
  private takeOver(): void {
    const identity = this.hostIdentity;
    if (this.phase() !== 'running' || identity === undefined) return;
    this.background(
      'takeover',
      takeOverDeadRuntimes(this.guarded, this.id, identity, this.clock.now(), this.events).then((moved) => this.restorer.restore(moved)),
    );
  }
}
