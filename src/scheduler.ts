import path from 'node:path';
import type { DispatchInput } from '../machines/dispatch.js';
import { leaseMachine, type LeaseInput } from '../machines/lease.js';
import type { TurnAssignment } from '../machines/turn.js';
import type { SchedulerView, SchedulerViewRequest } from '../persistence/store.js';
import type { DispatchProjection, LeaseLedgerEntry, LeaseProjection, TransitionWrite } from '../persistence/types.js';
import type { ActorHost } from './actorHost.js';
import { handleOf, handlesOf, type ActorHandle } from './actorHandles.js';
import type { Clock } from '../core/clock.js';
import { operatorInput } from './operatorInput.js';
import { resolveSessionCommand } from './sessionCommand.js';
import type { MilestoneSpec, Plan, UnitSpec } from './plan/types.js';
import { DispatchRows } from './dispatchRows.js';
import { isTerminalMilestone, ProgressDeriver, type MilestoneProgress, type Progress, type UnitProgress } from './progress.js';
import { nextAttemptAt, transientRetryAt } from './unitRules.js';
import { agentOf, rateLimitedAgents } from './rateLimits.js';
import { topState } from './projections.js';
import { isMergeLeaseKey, WorkspaceDriver } from './workspaceDriver.js';
import { unitOf } from './plan/lookup.js';
import { forwardTurnEvents, type TurnForwarding } from './turnForwarding.js';

/** What the scheduler needs; owned by the runtime. */
export interface SchedulerDeps {
  readonly host: ActorHost;
  readonly clock: Clock;
  readonly plan: Plan;
  readonly logsDir: string;
  /** The store's id: part of every turn key. */
  readonly storeId: string;
  /** Lease time to live in ms. */
  readonly leaseTtlMs: number;
  /** Creates a new worker actor with a reserved id; `false` when no id is reserved (the next pass reserves one). */
  readonly startWorker: () => boolean;
  /** A reserved lease sequence number; `undefined` when none is left (the next pass reserves more). */
  readonly nextLeaseNumber: () => number | undefined;
  /** Asks for another pass at `at` (ms since epoch), e.g. when a lease held elsewhere expires. */
  readonly wakeAt: (at: number) => void;
  /**
   * Whether an actor of this runtime is detached and being restored from its committed row (after
   * a refused job): absent for a moment, not gone. @default never
   */
  readonly restoring?: (actorId: string) => boolean;
}

const LIVE_LEASE = new Set(['claiming', 'held', 'releasing']);
const FINAL_LEASE_STATES = new Set(
  Object.entries(leaseMachine.config.states ?? {}).flatMap(([name, state]) => (state?.type === 'final' ? [name] : [])),
);

/**
 * One level-triggered scheduling pass: reads the store in one call ({@link Scheduler.viewRequest}
 * → `Store.readSchedulerView`), then decides synchronously from that view and the live actors,
 * sending the events that move the run forward; their transitions form one job. Every pass is
 * idempotent, so it also reconciles whatever a crash left half-done (a claimed dispatch whose
 * worker never got the turn, a turn result not yet recorded by its dispatch, a lease whose
 * holder ended).
 */
export class Scheduler {
  private plan: Plan;
  private readonly dispatchRows = new DispatchRows();
  private readonly deriver = new ProgressDeriver();
  /** This pass's milestones by id (from the progress the pass started with). */
  private milestoneIndex = new Map<string, MilestoneProgress>();
  /** This pass's claiming, held and releasing leases, computed at first use. */
  private liveLeases: ActorHandle<'lease'>[] | null = null;
  /** The last view read; progress is derived from it and the dispatch rows. */
  private view: SchedulerView | undefined;
  private ledger = new Map<string, LeaseLedgerEntry>();
  /**
   * This pass's rate-limited agents, computed at its first use (after the pass forwarded turn
   * results, which record new limits) and kept for the pass: once per pass, not per worker
   * (with 256 workers, per worker it was a sixth of the runtime's CPU).
   */
  private heldAgents: Map<string, number> | null = null;
  private readonly workspaces: WorkspaceDriver;

  constructor(private readonly deps: SchedulerDeps) {
    this.plan = deps.plan;
    this.workspaces = new WorkspaceDriver({
      host: deps.host,
      leaseTtlMs: deps.leaseTtlMs,
      now: () => deps.clock.now(),
      nextLeaseNumber: () => deps.nextLeaseNumber(),
      wakeAt: (at) => deps.wakeAt(at),
    });
  }

  /** Replaces the plan (units were submitted); the next pass schedules what it added. */
  setPlan(plan: Plan): void {
    this.plan = plan;
  }

  /** What the next pass reads from the store. */
  viewRequest(): SchedulerViewRequest {
    return this.dispatchRows.request();
  }

  /** How many new workers the next pass may start (ids to reserve before it). */
  workersWanted(): number {
    return Math.max(0, this.plan.workers - this.liveWorkers().length);
  }

  /** How many leases the next pass may claim (lease numbers to reserve before it). */
  leasesWanted(): number {
    return this.plan.workers;
  }

  /** Derived progress of the plan as of the last pass and this runtime's own commits since. */
  progress(): Progress {
    const view = this.view;
    const leases = view?.leases ?? [];
    return this.deriver.derive({
      plan: this.plan,
      dispatchesOf: (unitId) => this.dispatchRows.of(unitId),
      changed: this.dispatchRows.takeChanged(),
      leases,
      operator: operatorInput(view?.canceled ?? [], view?.messages ?? []),
      workspaces: this.workspaces.current(),
      allDispatches: () => this.dispatchRows.all(),
    });
  }

  /** Derived progress from a view read just now (does not change what the next pass reads). */
  progressFrom(view: SchedulerView): Progress {
    this.absorb(view);
    return this.progress();
  }

  /**
   * This runtime staged a transition: its dispatch row is known without reading it back (the
   * pass that staged it sees it at once). If its job does not commit, the runtime calls
   * {@link Scheduler.invalidateDispatches}.
   */
  noteStaged(write: TransitionWrite): void {
    if (write.projection.kind === 'dispatch') this.dispatchRows.write(write.projection.row);
  }

  /** Dispatch rows changed outside this runtime's jobs (a quarantine, a refused job): the next pass reads them all. */
  invalidateDispatches(): void {
    this.dispatchRows.invalidate();
  }

  /** The dispatch rows of one unit as this runtime knows them, in creation order. */
  dispatchesOf(unitId: string): readonly DispatchProjection[] {
    return this.dispatchRows.of(unitId);
  }

  /** Runs one pass while the runtime is `running`. */
  tick(view: SchedulerView): Progress {
    this.absorb(view);
    this.heldAgents = null;
    this.liveLeases = null;
    forwardTurnEvents(this.forwarding(), false);
    this.reconcileLeases(view.leases);
    this.workspaces.drive(this.ledger);
    const progress = this.progress();
    this.milestoneIndex = new Map(progress.milestones.map((milestone) => [milestone.spec.id, milestone]));
    const paused = view.controls.has('paused');
    this.cancelUnrunnableDispatches();
    this.yieldPendingDispatches();
    this.applyCancellations();
    for (const worker of this.liveWorkers()) this.driveWorker(worker, progress, paused);
    this.keepPoolSize(progress);
    return this.progress();
  }

  /** Runs one pass while `draining`: stop workers, cancel pending work, release leases. */
  drain(view: SchedulerView, reason: string): void {
    this.absorb(view);
    const { host, clock } = this.deps;
    forwardTurnEvents(this.forwarding(), true);
    for (const worker of this.liveWorkers()) {
      if (worker.state !== 'stopping') host.send(worker.id, { type: 'STOP', reason });
    }
    for (const dispatch of handlesOf(host, 'dispatch')) {
      if (dispatch.ended) continue;
      const holder = dispatch.context.workerId === null ? undefined : handleOf(host.get(dispatch.context.workerId), 'worker');
      const holderRuns = holder !== undefined && !holder.ended && holder.context.turn?.dispatchId === dispatch.id;
      if (!holderRuns) host.send(dispatch.id, { type: 'CANCEL', reason, at: clock.now() });
    }
    this.workspaces.releaseAll(reason);
    for (const lease of handlesOf(host, 'lease')) {
      if (!lease.ended && topState(lease.state) === 'held') host.send(lease.id, { type: 'RELEASE', reason });
    }
  }

  /** True when no worker, lease or dispatch actor is still live. */
  quiescent(): boolean {
    return this.deps.host.list().every((hosted) => hosted.kind === 'supervisor' || hosted.ended);
  }

  private absorb(view: SchedulerView): void {
    this.dispatchRows.apply(view);
    this.workspaces.absorb(view.workspaces);
    this.view = view;
    this.ledger = new Map(view.ledger.map((entry) => [entry.milestoneId, entry]));
  }

  /** What turn forwarding reads: this pass's host, plan, ledger and dispatch rows. */
  private forwarding(): TurnForwarding {
    return {
      host: this.deps.host,
      clock: this.deps.clock,
      ...(this.deps.restoring === undefined ? {} : { restoring: this.deps.restoring }),
      workspaces: this.workspaces,
      plan: this.plan,
      ledger: this.ledger,
      dispatchesOf: (unitId) => this.dispatchRows.of(unitId),
    };
  }

  private liveWorkers(): ActorHandle<'worker'>[] {
    return handlesOf(this.deps.host, 'worker').filter((worker) => !worker.ended);
  }

  /**
   * Lease ↔ ledger ↔ worker: a held lease whose milestone the ledger shows under a newer fencing
   * token is lost (tokens only grow: another holder took it over, and every write under the old
   * token would be refused); tell holders about grants and ends; release leases of ended holders.
   */
  private reconcileLeases(leaseRows: readonly LeaseProjection[]): void {
    const { host } = this.deps;
    for (const lease of handlesOf(host, 'lease')) {
      const token = lease.context.fencingToken;
      const current = this.ledger.get(lease.context.milestoneId)?.fencingToken;
      if (!lease.ended && topState(lease.state) === 'held' && token !== null && current !== undefined && current > token) {
        host.send(lease.id, { type: 'LOST', currentToken: current });
      }
    }
    for (const lease of handlesOf(host, 'lease')) {
      if (isMergeLeaseKey(lease.context.milestoneId)) continue;
      const worker = handleOf(host.get(lease.context.workerId), 'worker');
      const state = topState(lease.state);
      const workerGone = worker === undefined || worker.ended;
      if (state === 'held') {
        if (workerGone) {
          host.send(lease.id, { type: 'RELEASE', reason: `holder ${lease.context.workerId} ended` });
        } else if (worker.context.leaseId === null && worker.state === 'between_turns') {
          host.send(worker.id, {
            type: 'LEASE_GRANTED',
            milestoneId: lease.context.milestoneId,
            leaseId: lease.id,
            fencingToken: lease.context.fencingToken ?? 0,
          });
        }
      } else if (lease.ended && worker !== undefined && !worker.ended && worker.context.leaseId === lease.id) {
        host.send(worker.id, { type: 'LEASE_ENDED', leaseId: lease.id });
      }
    }
    // A worker taken over from a dead runtime may point at a lease that ended there: ended
    // actors are not taken over, so look at the lease's projection row instead.
    const rows = new Map(leaseRows.map((row) => [row.id, row]));
    for (const worker of this.liveWorkers()) {
      const leaseId = worker.context.leaseId;
      if (leaseId === null || host.get(leaseId) !== undefined) continue;
      const row = rows.get(leaseId);
      if (row === undefined || FINAL_LEASE_STATES.has(topState(row.state))) host.send(worker.id, { type: 'LEASE_ENDED', leaseId });
    }
  }

  private driveWorker(worker: ActorHandle<'worker'>, progress: Progress, paused: boolean): void {
    if (worker.state !== 'between_turns') return;
    const context = worker.context;
    if (context.milestoneId === null || context.leaseId === null || context.fencingToken === null) {
      this.findMilestoneFor(worker, progress);
      return;
    }
    const milestone = this.milestoneIndex.get(context.milestoneId);
    if (milestone === undefined || isTerminalMilestone(milestone.state)) {
      const lease = this.deps.host.get(context.leaseId);
      const reason = milestone === undefined ? 'milestone removed from the plan' : (milestone.failure ?? `milestone ${milestone.state}`);
      // A dispatch still waiting to be claimed (a retry in backoff) will never run: end it with the reason.
      for (const unit of milestone?.units ?? []) {
        const pending = unit.active?.state === 'pending' ? handleOf(this.deps.host.get(unit.active.id), 'dispatch') : undefined;
        if (pending !== undefined && !pending.ended) {
          this.deps.host.send(pending.id, { type: 'CANCEL', reason: unit.failure ?? reason, at: this.deps.clock.now() });
        }
      }
      if (lease !== undefined && topState(lease.state) === 'held') this.deps.host.send(lease.id, { type: 'RELEASE', reason });
      return;
    }
    // Act as the milestone's holder only while the ledger says so: a worker whose lease
    // expired (or whose runtime was taken over) must not create, claim or abandon anything.
    const ledger = this.ledger.get(context.milestoneId);
    if (ledger?.fencingToken !== context.fencingToken || ledger.holderId !== worker.id) return;
    if (milestone.spec.workspace !== undefined && !this.workspaces.ready(worker, milestone, (unitId) => this.dispatchRows.of(unitId))) return;
    const unit = milestone.units.find((entry) => entry.state !== 'completed');
    if (unit === undefined) return;
    if (!paused) this.driveUnit(worker, context.fencingToken, unit);
  }

  private driveUnit(worker: ActorHandle<'worker'>, token: number, unit: UnitProgress): void {
    const { host, clock } = this.deps;
    const active = unit.active;
    if (active === null) {
      if (unit.state !== 'failed') this.createDispatch(unit);
      return;
    }
    const dispatch = handleOf(host.get(active.id), 'dispatch');
    if (dispatch === undefined || dispatch.ended) return;
    if (dispatch.state === 'pending.ready') {
      // Another unit's turn found this agent rate limited, with a reset time: wait for it.
      this.heldAgents ??= rateLimitedAgents(this.plan, this.dispatchRows.rateLimitedRows(), clock.now());
      const heldUntil = this.heldAgents.get(agentOf(unit.spec));
      if (heldUntil !== undefined) {
        this.deps.wakeAt(heldUntil);
        return;
      }
      host.send(dispatch.id, { type: 'CLAIM', workerId: worker.id, fencingToken: token });
    } else if (topState(dispatch.state) !== 'claimed' && topState(dispatch.state) !== 'running') {
      return;
    } else if (dispatch.context.workerId !== worker.id || dispatch.context.fencingToken !== token) {
      // Its turn may still run under the old lease (a holder whose lease expired while its
      // runtime was stalled or dead): stop it first — kill, verify, record — and record the
      // dispatch only then, so a unit never runs twice at the same time.
      const runner = dispatch.context.workerId === null ? undefined : handleOf(host.get(dispatch.context.workerId), 'worker');
      if (runner !== undefined && !runner.ended && runner.context.turn?.dispatchId === dispatch.id) {
        if (runner.state === 'in_turn') {
          host.send(runner.id, { type: 'STOP', reason: `its lease ended: ${unit.spec.milestoneId} is held by ${worker.id} under fencing token ${token}` });
        }
        return;
      }
      host.send(dispatch.id, {
        type: 'ABANDON',
        reason: `abandoned: claimed by ${dispatch.context.workerId ?? 'nobody'} under fencing token ${dispatch.context.fencingToken ?? 'none'}, now held by ${worker.id} under ${token}`,
        at: clock.now(),
      });
      return;
    }
    const claimed = handleOf(host.get(dispatch.id), 'dispatch');
    if (claimed === undefined || topState(claimed.state) !== 'claimed') return;
    if (worker.context.lastTurn?.dispatchId === claimed.id) return;
    host.send(worker.id, { type: 'ASSIGN', turn: this.assignment(worker.id, token, unit.spec, claimed) });
  }

  private createDispatch(unit: UnitProgress): void {
    const id = `${unit.spec.id}#${unit.created + 1}`;
    const input: DispatchInput = {
      dispatchId: id,
      unitId: unit.spec.id,
      milestoneId: unit.spec.milestoneId,
      attempt: unit.nextAttempt,
      notBefore: unit.transient === null ? nextAttemptAt(unit.spec, unit.failures, unit.last?.endedAt ?? null) : transientRetryAt(unit.spec, unit.transient, id),
      messageId: unit.nextMessageId,
    };
    this.deps.host.create('dispatch', id, input);
  }

  private findMilestoneFor(worker: ActorHandle<'worker'>, progress: Progress): void {
    const { host } = this.deps;
    // Leases created earlier in this pass are live too: computed once, then kept up to date by claimMilestone.
    this.liveLeases ??= handlesOf(host, 'lease').filter((lease) => !lease.ended && LIVE_LEASE.has(topState(lease.state)));
    const leases = this.liveLeases;
    if (leases.some((lease) => lease.context.workerId === worker.id)) return;
    const taken = new Set(leases.map((lease) => lease.context.milestoneId));
    const now = this.deps.clock.now();
    const heldElsewhere = (milestoneId: string): boolean => {
      const ledger = this.ledger.get(milestoneId);
      if (ledger === undefined || ledger.holderId === null || ledger.expiresAt === null || ledger.expiresAt <= now) return false;
      this.deps.wakeAt(ledger.expiresAt);
      return true;
    };
    const ready = progress.milestones.find(
      (milestone) =>
        !isTerminalMilestone(milestone.state) &&
        !taken.has(milestone.spec.id) &&
        !heldElsewhere(milestone.spec.id) &&
        milestone.spec.dependsOn.every((dep) => this.milestoneIndex.get(dep)?.state === 'completed'),
    );
    if (ready !== undefined) {
      this.claimMilestone(worker, ready.spec);
      return;
    }
    if (progress.finished) host.send(worker.id, { type: 'FINISH' });
  }

  private claimMilestone(worker: ActorHandle<'worker'>, milestone: MilestoneSpec): void {
    const number = this.deps.nextLeaseNumber();
    if (number === undefined) return;
    const id = `${milestone.id}@lease-${number}`;
    const input: LeaseInput = { leaseId: id, milestoneId: milestone.id, workerId: worker.id, ttlMs: this.deps.leaseTtlMs };
    const lease = handleOf(this.deps.host.create('lease', id, input), 'lease');
    if (lease !== undefined && !lease.ended && LIVE_LEASE.has(topState(lease.state))) this.liveLeases?.push(lease);
  }

  /**
   * Cancels pending dispatches that can no longer run: their unit was removed from the plan,
   * or their milestone is completed, failed or blocked (for example after a plan change).
   * Left alone they would keep the run from ever finishing.
   */
  private cancelUnrunnableDispatches(): void {
    for (const dispatch of handlesOf(this.deps.host, 'dispatch')) {
      if (dispatch.ended || topState(dispatch.state) !== 'pending') continue;
      const { milestoneId, unitId } = dispatch.context;
      const milestone = this.milestoneIndex.get(milestoneId);
      const inPlan = milestone !== undefined && unitOf(this.plan, unitId)?.milestoneId === milestoneId;
      if (inPlan && milestone !== undefined && !isTerminalMilestone(milestone.state)) continue;
      const reason = inPlan ? `milestone ${milestoneId} is ${milestone?.state ?? 'gone'}` : 'unit removed from the plan';
      this.deps.host.send(dispatch.id, { type: 'CANCEL', reason, at: this.deps.clock.now() });
    }
  }

  /**
   * Cancels pending dispatches of this runtime whose milestone is now held, per the ledger, by
   * a worker this runtime does not drive (its own worker's lease expired, and a worker of
   * another runtime took the milestone). Only the holder may claim, and it cannot claim an
   * actor it does not host: left pending, the dispatch would block the unit for as long as
   * this runtime lives (crash fuzzing found two runtimes waiting on each other so). Canceled,
   * it uses no attempt, and the holder creates the unit's next dispatch.
   */
  private yieldPendingDispatches(): void {
    const { host, clock } = this.deps;
    const now = clock.now();
    for (const dispatch of handlesOf(host, 'dispatch')) {
      if (dispatch.ended || topState(dispatch.state) !== 'pending') continue;
      const ledger = this.ledger.get(dispatch.context.milestoneId);
      if (ledger === undefined || ledger.holderId === null || ledger.expiresAt === null || ledger.expiresAt <= now) continue;
      const holder = handleOf(host.get(ledger.holderId), 'worker');
      if (holder !== undefined && !holder.ended) continue;
      host.send(dispatch.id, {
        type: 'CANCEL',
        reason: `milestone ${dispatch.context.milestoneId} is held by ${ledger.holderId} (fencing token ${ledger.fencingToken}) of another runtime`,
        at: now,
      });
    }
  }

  /**
   * `statecrew cancel`: a canceled unit's pending or claimed dispatch is canceled; a turn it
   * is running is stopped with its worker (kill, verify, record), whose dispatch is then
   * canceled. The unit stays canceled; its milestone fails and dependents are blocked.
   */
  private applyCancellations(): void {
    const { host, clock } = this.deps;
    for (const { unitId } of this.view?.canceled ?? []) {
      // Through the unit's milestone: progress.units would build a map of every unit, each pass.
      const spec = unitOf(this.plan, unitId);
      const unit = spec === undefined ? undefined : this.milestoneIndex.get(spec.milestoneId)?.units[spec.position];
      if (unit === undefined || unit.spec.id !== unitId || unit.canceled === null || unit.active === null) continue;
      const dispatch = host.get(unit.active.id);
      if (dispatch === undefined || dispatch.ended) continue;
      const runner = this.liveWorkers().find((worker) => worker.context.turn?.dispatchId === dispatch.id);
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
    for (let live = this.liveWorkers().length; live < this.plan.workers; live++) {
      if (!this.deps.startWorker()) return;
    }
  }

  /** The unit's last agent turn that reported a session (a Claude session, a Codex thread): the next turn resumes it. */
  private lastSession(unitId: string): { sessionId: string; dispatchId: string } | null {
    const last = this.dispatchRows.of(unitId).filter((d) => d.sessionId !== null).at(-1);
    return last === undefined || last.sessionId === null ? null : { sessionId: last.sessionId, dispatchId: last.id };
  }

  private messageText(id: number): string | undefined {
    return this.view?.messages.find((message) => message.id === id)?.text;
  }

  private assignment(workerId: string, fencingToken: number, unit: UnitSpec, dispatch: ActorHandle<'dispatch'>): TurnAssignment {
    const context = dispatch.context;
    const sequence = context.dispatchId.slice(context.dispatchId.lastIndexOf('#') + 1);
    const last = unit.protocol === 'text' ? null : this.lastSession(unit.id);
    const session = last?.sessionId ?? null;
    // Only a command with the `{sessionId}` placeholder resumes the session; another one starts anew (not a mismatch).
    const resumes = session !== null && unit.command.some((arg) => arg.includes('{sessionId}'));
    return {
      dispatchId: context.dispatchId,
      unitId: unit.id,
      milestoneId: unit.milestoneId,
      workerId,
      attempt: context.attempt,
      fencingToken,
      command: resolveSessionCommand(unit.command, unit.initialCommand, session),
      protocol: unit.protocol,
      resumeSessionId: resumes ? session : null,
      resumeDispatchId: resumes ? (last?.dispatchId ?? null) : null,
      toolTimeoutMs: unit.toolTimeoutMs,
      permissionDenials: unit.permissionDenials,
      cwd: unit.cwd,
      env: unit.env,
      input: this.workspaces.fixInput(unit, fencingToken) ?? (context.messageId == null ? unit.input : (this.messageText(context.messageId) ?? unit.input)),
      timeoutMs: unit.timeoutMs,
      stallTimeoutMs: unit.stallTimeoutMs,
      killGraceMs: unit.killGraceMs,
      logPath: path.join(this.deps.logsDir, safeFileName(unit.id), `attempt-${context.attempt}-${sequence}.log`),
      turnKey: `${this.deps.storeId}:${context.dispatchId}`,
    };
  }
}

/** Turns a unit id into one path segment. */
export function safeFileName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_');
}
