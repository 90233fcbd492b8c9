import type { ActorKind } from '../persistence/types.js';
import type { MilestoneState } from './progress.js';

/**
 * Events on `runtime.events` (a `mitt` emitter). Times are ms since epoch.
 * Handlers run synchronously after the transition was committed; they must not throw.
 */
export type RuntimeEvents = {
  /** Every persisted transition of every actor. */
  'actor.transition': { actorId: string; kind: ActorKind; from: string | null; to: string; event: string; seq: number };
  /**
   * A job could not be committed: refused (a stale fencing token, a second active dispatch, a
   * concurrent write; its actors are restored from their committed rows) or failed (the run
   * stops). `actorId` is the first actor of the job.
   */
  'actor.persist-failed': { actorId: string; kind: ActorKind; error: Error };
  /**
   * An actor failed inside XState — one of its actions, guards or inputs threw (a bug in the
   * machine or in a host's implementation) — and was stopped. Nothing of the failed step was
   * written: its row keeps its last persisted state, restored at the next start.
   */
  'actor.failed': { actorId: string; kind: ActorKind; error: Error };
  /** An actor row could not be restored and was quarantined. */
  'actor.quarantined': { actorId: string; kind: ActorKind; error: Error };
  /** Restore finished: `count` unfinished actors were restored. */
  'runtime.restored': { count: number; byKind: Record<ActorKind, number> };
  'plan.changed': { added: string[]; removed: string[]; changed: string[] };
  'milestone.state': { milestoneId: string; state: MilestoneState };
  /**
   * A turn's reported cost took a budget (`maxCostUsd`) over: no new turn starts under it, and
   * the unit or milestone (every milestone, for the plan's budget) fails once no turn of it runs.
   * `id`: the unit's or milestone's id, the plan file for the plan. Amounts in USD. Emitted once
   * per budget by each runtime process that sees it exceeded.
   */
  'budget.exceeded': { scope: 'plan' | 'milestone' | 'unit'; id: string; spentUsd: number; maxCostUsd: number; reason: string };
  /**
   * Retention dropped details of finished work (docs/retention.md): counts of one background
   * compaction (its batches together). Not emitted when nothing was dropped.
   */
  'retention.compacted': { journalRows: number; journalActors: number; turnOutputRows: number; turnOutputDispatches: number; actors: number };
  'unit.started': { unitId: string; dispatchId: string; attempt: number; workerId: string; pid: number; logPath: string };
  'unit.completed': { unitId: string; dispatchId: string; attempt: number; workerId: string | null; durationMs: number | null };
  'unit.failed': {
    unitId: string;
    dispatchId: string;
    attempt: number;
    workerId: string | null;
    reason: string;
    /**
     * ms until the retry may start, or `null` when the unit is out of attempts. For a turn the
     * API failed (rate limited, overloaded), at most this long: the API's reset time, or the
     * backoff before its jitter.
     */
    retryInMs: number | null;
  };
  /**
   * The unit failed the same way (exit code and last stderr line) `stuckAfter` times in a
   * row and gets no more attempts; emitted after its `unit.failed`.
   */
  'unit.stuck': { unitId: string; dispatchId: string; attempt: number; reason: string };
  'unit.canceled': { unitId: string; dispatchId: string; reason: string };
  'lease.acquired': { milestoneId: string; workerId: string; fencingToken: number };
  /** Every end of a lease: `released`, `refused`, `expired` or `lost`. */
  'lease.ended': { milestoneId: string; workerId: string; fencingToken: number | null; state: string; reason: string | null };
  /**
   * The holder lost the lease without releasing it: `lost` (a newer fencing token exists,
   * the store refused a renewal) or `expired` (its TTL passed unrenewed); emitted after `lease.ended`.
   */
  'lease.lost': { milestoneId: string; workerId: string; fencingToken: number | null; state: 'lost' | 'expired'; reason: string | null };
  /** A milestone's work landed on its base (`already`: an interrupted merge had landed it; it was not merged again). Commits are hex ids. */
  'workspace.merged': { milestoneId: string; branch: string; base: string; commit: string; already: boolean };
  /** A milestone's merge conflicted and no fix turn is left: the milestone failed; its branch is kept. */
  'workspace.conflict': { milestoneId: string; branch: string; reason: string };
  /** A milestone's check failed and no fix turn is left: the milestone failed; its branch is kept. */
  'workspace.check_failed': { milestoneId: string; branch: string; reason: string };
  'worker.started': { workerId: string };
  /** `lastActivityAt`: the last output of its turn the runtime saw (else when the turn ended), ms since epoch. */
  'worker.died': { workerId: string; unitId: string | null; reason: string; lastActivityAt: number | null };
  'runtime.draining': { reason: string };
  /** This runtime took over the actors of a dead runtime. */
  'runtime.took-over': { runtimeId: string; actors: number; reason: string };
  /**
   * A store call met a transient fault (the write lock held by another process, a dropped
   * connection) and is tried again after `delayMs` ms (attempt `attempt` just failed).
   */
  'runtime.store-waiting': { operation: string; attempt: number; delayMs: number; error: Error };
  /**
   * A turn's keep-alive file could not be renewed (`actors/keepAlive.ts`): unless a later
   * renewal succeeds, the turn's shim kills the turn when its grace runs out.
   */
  'runtime.keep-alive-failed': { path: string; error: Error };
  /** A store call succeeded after waiting for a transient fault. */
  'runtime.store-recovered': { operation: string; attempts: number; waitedMs: number };
  /** The store cannot be used; the runtime killed its turns and stopped without writing (exit code 4); `run.finished` follows. */
  'runtime.store-failed': { error: Error; survivors: string[] };
  /** This runtime was declared dead by another and stopped driving its actors. */
  'runtime.fenced': { reason: string };
  'run.finished': { exitCode: number; reason: string };
  /** A job of `transitions` transitions committed; `durationMs` is the store's commit call, wall clock. */
  'job.committed': { transitions: number; durationMs: number };
  /** A notification (`notify:` in the plan) reached its webhook or command; `attempts` counts this one. */
  'notification.delivered': { key: string; event: string; attempts: number };
  /** An attempt at a notification failed; `retryAt` (ms since epoch) is `null` when it was given up on. */
  'notification.failed': { key: string; event: string; attempts: number; error: string; retryAt: number | null };
};
