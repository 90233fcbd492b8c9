import path from 'node:path';
import type { DispatchContext, DispatchInput } from '../machines/dispatch.js';
import type { LeaseContext, LeaseInput } from '../machines/lease.js';
import { isTurnSuccess, type TurnAssignment, type TurnResult } from '../machines/turn.js';
import type { WorkerContext } from '../machines/worker.js';
import type { Store } from '../persistence/store.js';
import type { ActorHost, HostedActor } from './actorHost.js';
import type { Clock } from '../core/clock.js';
import { ensureError } from '../core/errors.js';
import { readOperatorInput } from './operatorInput.js';
import { resolveSessionCommand } from './sessionCommand.js';
import type { MilestoneSpec, Plan, UnitSpec } from './plan/types.js';
import { DispatchRows } from './dispatchRows.js';
import { countsAsFailure, deriveProgress, failureSignature, isTerminalMilestone, nextAttemptAt, type Progress, type UnitProgress } from './progress.js';
import { topState } from './projections.js';

/** What the scheduler needs; owned by the runtime. */
export interface SchedulerDeps {
  readonly host: ActorHost;
  readonly store: Store;
  readonly clock: Clock;
  readonly plan: Plan;
  readonly logsDir: string;
  /** Lease time to live in ms. */
  readonly leaseTtlMs: number;
  /** Creates a new worker actor (id from the store's sequence). */
  readonly startWorker: () => void;
  /** Reports a failure the scheduler cannot turn into a transition (for example a refused create). */
  readonly report: (error: Error) => void;
  /** Asks for another pass at `at` (ms since epoch), e.g. when a lease held elsewhere expires. */
  readonly wakeAt: (at: number) => void;
}

const LIVE_LEASE = new Set(['claiming', 'held', 'releasing']);

/**
 * One level-triggered scheduling pass: looks at the store's projections and the live
 * actors, and sends the events that move the run forward. Every pass is idempotent, so it
 * also reconciles whatever a crash left half-done (a claimed dispatch whose worker never
 * got the turn, a turn result not yet recorded by its dispatch, a lease whose holder ended).
 */
export class Scheduler {
  private readonly storeId: string;
  /** `statecrew pause`: no new turn starts (running ones finish). Read from the store every pass. */
  private paused = false;

  private plan: Plan;
  private readonly dispatchRows: DispatchRows;

  constructor(private readonly deps: SchedulerDeps) {
    this.plan = deps.plan;
    this.dispatchRows = new DispatchRows(deps.store);
    this.storeId = deps.store.storeId();
  }

  /** Replaces the plan (units were submitted); the next tick schedules what it added. */
  setPlan(plan: Plan): void {
    this.plan = plan;
  }

  /** Current derived progress of the plan. */
  progress(): Progress {
    const { store } = this.deps;
    return deriveProgress(this.plan, this.dispatchRows.all(), store.listLeases(), readOperatorInput(store));
  }

  /** This runtime wrote a dispatch row of `unitId`: the next pass re-reads that unit's rows. */
  noteDispatchWritten(unitId: string): void {
    this.dispatchRows.touched(unitId);
  }

  /** A dispatch row changed outside the actor host (quarantine): the next pass reads them all. */
  invalidateDispatches(): void {
    this.dispatchRows.invalidate();
  }

  /** Runs one pass while the runtime is `running`. */
  tick(): Progress {
    this.forwardTurnEvents(false);
    this.reconcileLeases();
    const progress = this.progress();
    this.paused = this.deps.store.getControl('paused') !== undefined;
    this.cancelUnrunnableDispatches(progress);
    this.applyCancellations(progress);
    for (const worker of this.liveWorkers()) this.driveWorker(worker, progress);
    this.keepPoolSize(progress);
    return this.progress();
  }

  /** Runs one pass while `draining`: stop workers, cancel pending work, release leases. */
  drain(reason: string): void {
    this.forwardTurnEvents(true);
    for (const worker of this.liveWorkers()) {
      if (worker.state !== 'stopping') this.deps.host.send(worker.id, { type: 'STOP', reason });
    }
    for (const dispatch of this.deps.host.list('dispatch')) {
      if (dispatch.ended) continue;
      const context = contextOf<DispatchContext>(dispatch);
      const holder = context.workerId === null ? undefined : this.deps.host.get(context.workerId);
      const holderRuns = holder !== undefined && !holder.ended && contextOf<WorkerContext>(holder).turn?.dispatchId === dispatch.id;
      if (!holderRuns) this.deps.host.send(dispatch.id, { type: 'CANCEL', reason, at: this.deps.clock.now() });
    }
    for (const lease of this.deps.host.list('lease')) {
      if (!lease.ended && topState(lease.state) === 'held') this.deps.host.send(lease.id, { type: 'RELEASE', reason });
    }
  }

  /** True when no worker, lease or dispatch actor is still live. */
  quiescent(): boolean {
    return this.deps.host.list().every((hosted) => hosted.kind === 'supervisor' || hosted.ended);
  }

  private liveWorkers(): HostedActor[] {
    return this.deps.host.list('worker').filter((worker) => !worker.ended);
  }

  /** Worker → dispatch: record turn starts and results (idempotent; repeats after a crash). */
  private forwardTurnEvents(draining: boolean): void {
    const { host, clock } = this.deps;
    for (const worker of host.list('worker')) {
      const context = contextOf<WorkerContext>(worker);
      if (context.turn !== null && context.started !== null) {
        const dispatch = host.get(context.turn.dispatchId);
        if (dispatch !== undefined && topState(dispatch.state) === 'claimed') {
          host.send(dispatch.id, { type: 'START', started: context.started });
        }
      }
      if (context.lastTurn !== null) {
        const dispatch = host.get(context.lastTurn.dispatchId);
        if (dispatch !== undefined && !dispatch.ended && topState(dispatch.state) !== 'pending') {
          const result = context.lastTurn.result;
          const signature = this.stuckSignature(context.lastTurn.unitId, dispatch.id, result);
          if (result.kind === 'stopped' || (draining && result.kind === 'lost')) {
            host.send(dispatch.id, { type: 'CANCEL', reason: result.reason, at: result.endedAt });
          } else if (signature !== null && topState(dispatch.state) === 'running') {
            host.send(dispatch.id, { type: 'STUCK', signature, result });
          } else {
            host.send(dispatch.id, { type: 'FINISH', result });
          }
        }
      }
    }
    for (const dispatch of host.list('dispatch')) {
      if (dispatch.ended) continue;
      const state = topState(dispatch.state);
      if (state !== 'claimed' && state !== 'running') continue;
      const context = contextOf<DispatchContext>(dispatch);
      const worker = context.workerId === null ? undefined : host.get(context.workerId);
      if (worker === undefined || worker.ended) {
        const why = worker === undefined ? 'its worker is not running' : `its worker ended (${worker.state})`;
        host.send(dispatch.id, { type: 'ABANDON', reason: `abandoned: ${why}`, at: clock.now() });
      }
    }
  }

  /**
   * Stuck detection: the failure signature of `result` when the unit's previous
   * `stuckAfter - 1` counted failures, in a row, had the same one; else `null`. The
   * counters are the dispatch rows themselves, so they survive restarts.
   */
  private stuckSignature(unitId: string, dispatchId: string, result: TurnResult): string | null {
    if (isTurnSuccess(result) || result.kind === 'lost' || result.kind === 'stopped') return null;
    const spec = this.plan.milestones.flatMap((m) => m.units).find((unit) => unit.id === unitId);
    if (spec === undefined) return null;
    const signature = failureSignature({ outcome: result.kind, exitCode: result.exitCode, signal: result.signal, lastStderrLine: result.lastStderrLine });
    const previous = this.deps.store.listDispatches(unitId).filter((d) => d.id !== dispatchId && countsAsFailure(d));
    const recent = previous.slice(-(spec.stuckAfter - 1));
    if (recent.length < spec.stuckAfter - 1) return null;
    return recent.every((d) => failureSignature(d) === signature) ? signature : null;
  }

  /** Lease ↔ worker: tell holders about grants and ends; release leases of ended holders. */
  private reconcileLeases(): void {
    const { host } = this.deps;
    for (const lease of host.list('lease')) {
      const context = contextOf<LeaseContext>(lease);
      const worker = host.get(context.workerId);
      const state = topState(lease.state);
      const workerGone = worker === undefined || worker.ended;
      if (state === 'held') {
        if (workerGone) {
          host.send(lease.id, { type: 'RELEASE', reason: `holder ${context.workerId} ended` });
        } else if (worker !== undefined && contextOf<WorkerContext>(worker).leaseId === null && worker.state === 'between_turns') {
          host.send(worker.id, {
            type: 'LEASE_GRANTED',
            milestoneId: context.milestoneId,
            leaseId: lease.id,
            fencingToken: context.fencingToken ?? 0,
          });
        }
      } else if (lease.ended && worker !== undefined && !worker.ended && contextOf<WorkerContext>(worker).leaseId === lease.id) {
        host.send(worker.id, { type: 'LEASE_ENDED', leaseId: lease.id });
      }
    }
    // A worker taken over from a dead runtime may point at a lease that ended there: ended
    // actors are not taken over, so look at the lease's row instead.
    for (const worker of this.liveWorkers()) {
      const leaseId = contextOf<WorkerContext>(worker).leaseId;
      if (leaseId === null || host.get(leaseId) !== undefined) continue;
      const row = this.deps.store.getActor(leaseId);
      if (row === undefined || row.status !== 'active') host.send(worker.id, { type: 'LEASE_ENDED', leaseId });
    }
  }

  private driveWorker(worker: HostedActor, progress: Progress): void {
    if (worker.state !== 'between_turns') return;
    const context = contextOf<WorkerContext>(worker);
    if (context.milestoneId === null || context.leaseId === null || context.fencingToken === null) {
      this.findMilestoneFor(worker, progress);
      return;
    }
    const milestone = progress.milestones.find((entry) => entry.spec.id === context.milestoneId);
    if (milestone === undefined || isTerminalMilestone(milestone.state)) {
      const lease = this.deps.host.get(context.leaseId);
      const reason = milestone === undefined ? 'milestone removed from the plan' : `milestone ${milestone.state}`;
      if (lease !== undefined && topState(lease.state) === 'held') this.deps.host.send(lease.id, { type: 'RELEASE', reason });
      return;
    }
    const unit = milestone.units.find((entry) => entry.state !== 'completed');
    if (unit === undefined) return;
    // Act as the milestone's holder only while the ledger says so: a worker whose lease
    // expired (or whose runtime was taken over) must not create, claim or abandon anything.
    const ledger = this.deps.store.getLease(context.milestoneId);
    if (ledger?.fencingToken !== context.fencingToken || ledger.holderId !== worker.id) return;
    this.driveUnit(worker, context, unit);
  }

  private driveUnit(worker: HostedActor, context: WorkerContext, unit: UnitProgress): void {
    const { host, clock } = this.deps;
    if (this.paused) return;
    const token = context.fencingToken ?? 0;
    const active = unit.active;
    if (active === null) {
      if (unit.state === 'failed') return;
      this.createDispatch(unit);
      return;
    }
    const dispatch = host.get(active.id);
    if (dispatch === undefined || dispatch.ended) return;
    const state = dispatch.state;
    const dispatchContext = contextOf<DispatchContext>(dispatch);
    if (state === 'pending.ready') {
      host.send(dispatch.id, { type: 'CLAIM', workerId: worker.id, fencingToken: token });
    } else if (topState(state) !== 'claimed' && topState(state) !== 'running') {
      return;
    } else if (dispatchContext.workerId !== worker.id || dispatchContext.fencingToken !== token) {
      host.send(dispatch.id, {
        type: 'ABANDON',
        reason: `abandoned: claimed by ${dispatchContext.workerId ?? 'nobody'} under fencing token ${dispatchContext.fencingToken ?? 'none'}, now held by ${worker.id} under ${token}`,
        at: clock.now(),
      });
      return;
    }
    const claimed = host.get(dispatch.id);
    if (claimed === undefined || topState(claimed.state) !== 'claimed') return;
    if (context.lastTurn?.dispatchId === dispatch.id) return;
    host.send(worker.id, { type: 'ASSIGN', turn: this.assignment(worker.id, token, unit.spec, contextOf<DispatchContext>(claimed)) });
  }

  private createDispatch(unit: UnitProgress): void {
    const sequence = unit.created + 1;
    const id = `${unit.spec.id}#${sequence}`;
    const input: DispatchInput = {
      dispatchId: id,
      unitId: unit.spec.id,
      milestoneId: unit.spec.milestoneId,
      attempt: unit.nextAttempt,
      notBefore: nextAttemptAt(unit.spec, unit.failures, unit.last?.endedAt ?? null),
      messageId: unit.nextMessageId,
    };
    try {
      this.deps.host.create('dispatch', id, input);
    } catch (error) {
      this.deps.report(ensureError(error));
    }
  }

  private findMilestoneFor(worker: HostedActor, progress: Progress): void {
    const { host } = this.deps;
    const leases = host.list('lease').filter((lease) => !lease.ended && LIVE_LEASE.has(topState(lease.state)));
    if (leases.some((lease) => contextOf<LeaseContext>(lease).workerId === worker.id)) return;
    const taken = new Set(leases.map((lease) => contextOf<LeaseContext>(lease).milestoneId));
    const now = this.deps.clock.now();
    const heldElsewhere = (milestoneId: string): boolean => {
      const ledger = this.deps.store.getLease(milestoneId);
      if (ledger === undefined || ledger.holderId === null || ledger.expiresAt === null || ledger.expiresAt <= now) return false;
      this.deps.wakeAt(ledger.expiresAt);
      return true;
    };
    const ready = progress.milestones.find(
      (milestone) =>
        !isTerminalMilestone(milestone.state) &&
        !taken.has(milestone.spec.id) &&
        !heldElsewhere(milestone.spec.id) &&
        milestone.spec.dependsOn.every((dep) => progress.milestones.find((m) => m.spec.id === dep)?.state === 'completed'),
    );
    if (ready !== undefined) {
      this.claimMilestone(worker, ready.spec);
      return;
    }
    if (progress.finished) host.send(worker.id, { type: 'FINISH' });
  }

  private claimMilestone(worker: HostedActor, milestone: MilestoneSpec): void {
    const sequence = this.deps.store.nextSequence(`lease:${milestone.id}`);
    const id = `${milestone.id}@lease-${sequence}`;
    const input: LeaseInput = { leaseId: id, milestoneId: milestone.id, workerId: worker.id, ttlMs: this.deps.leaseTtlMs };
    try {
      this.deps.host.create('lease', id, input);
    } catch (error) {
      this.deps.report(ensureError(error));
    }
  }

  /**
   * Cancels pending dispatches that can no longer run: their unit was removed from the plan,
   * or their milestone is completed, failed or blocked (for example after a plan change).
   * Left alone they would keep the run from ever finishing.
   */
  private cancelUnrunnableDispatches(progress: Progress): void {
    for (const dispatch of this.deps.host.list('dispatch')) {
      if (dispatch.ended || topState(dispatch.state) !== 'pending') continue;
      const context = contextOf<DispatchContext>(dispatch);
      const milestone = progress.milestones.find((m) => m.spec.id === context.milestoneId);
      const inPlan = milestone?.units.some((unit) => unit.spec.id === context.unitId) ?? false;
      if (inPlan && milestone !== undefined && !isTerminalMilestone(milestone.state)) continue;
      const reason = inPlan ? `milestone ${context.milestoneId} is ${milestone?.state ?? 'gone'}` : 'unit removed from the plan';
      this.deps.host.send(dispatch.id, { type: 'CANCEL', reason, at: this.deps.clock.now() });
    }
  }

  /**
   * `statecrew cancel`: a canceled unit's pending or claimed dispatch is canceled; a turn it
   * is running is stopped with its worker (kill, verify, record), whose dispatch is then
   * canceled. The unit stays canceled; its milestone fails and dependents are blocked.
   */
  private applyCancellations(progress: Progress): void {
    const { host, clock } = this.deps;
    for (const unit of progress.units.values()) {
      if (unit.canceled === null || unit.active === null) continue;
      const dispatch = host.get(unit.active.id);
      if (dispatch === undefined || dispatch.ended) continue;
      const runner = this.liveWorkers().find((worker) => contextOf<WorkerContext>(worker).turn?.dispatchId === dispatch.id);
      if (runner !== undefined) {
        if (runner.state === 'in_turn') host.send(runner.id, { type: 'STOP', reason: `unit ${unit.spec.id} canceled: ${unit.canceled}` });
      } else {
        host.send(dispatch.id, { type: 'CANCEL', reason: `canceled: ${unit.canceled}`, at: clock.now() });
      }
    }
  }

  /** Keeps the pool at the plan's size while work remains (replaces zombies). */
  private keepPoolSize(progress: Progress): void {
    if (progress.finished) return;
    let live = this.liveWorkers().length;
    while (live < this.plan.workers) {
      try {
        this.deps.startWorker();
      } catch (error) {
        this.deps.report(ensureError(error));
        return;
      }
      live++;
    }
  }

  /** The agent session the unit's last stream-json turn reported: the next turn resumes it. */
  private lastSessionId(unitId: string): string | null {
    return this.deps.store.listDispatches(unitId).filter((d) => d.sessionId !== null).at(-1)?.sessionId ?? null;
  }

  private messageText(id: number): string | undefined {
    return this.deps.store.listMessages().find((message) => message.id === id)?.text;
  }

  private assignment(workerId: string, fencingToken: number, unit: UnitSpec, dispatch: DispatchContext): TurnAssignment {
    const sequence = dispatch.dispatchId.slice(dispatch.dispatchId.lastIndexOf('#') + 1);
    const session = unit.protocol === 'stream-json' ? this.lastSessionId(unit.id) : null;
    return {
      dispatchId: dispatch.dispatchId,
      unitId: unit.id,
      milestoneId: unit.milestoneId,
      workerId,
      attempt: dispatch.attempt,
      fencingToken,
      command: resolveSessionCommand(unit.command, unit.initialCommand, session),
      protocol: unit.protocol,
      resumeSessionId: session,
      cwd: unit.cwd,
      env: unit.env,
      input: dispatch.messageId == null ? unit.input : (this.messageText(dispatch.messageId) ?? unit.input),
      timeoutMs: unit.timeoutMs,
      stallTimeoutMs: unit.stallTimeoutMs,
      killGraceMs: unit.killGraceMs,
      logPath: path.join(this.deps.logsDir, safeFileName(unit.id), `attempt-${dispatch.attempt}-${sequence}.log`),
      turnKey: `${this.storeId}:${dispatch.dispatchId}`,
    };
  }
}

/** Turns a unit id into one path segment. */
export function safeFileName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_');
}

export function contextOf<T>(hosted: HostedActor): T {
  return hosted.actor.getSnapshot().context as T;
}

