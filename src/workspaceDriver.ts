import { isTurnSuccess, type TurnResult } from '../machines/turn.js';
import type { LeaseInput } from '../machines/lease.js';
import type { WorkspaceInput, WorkspaceRecord } from '../machines/workspace.js';
import { mergeLeaseKey } from '../actors/workspaceEffects.js';
import type { DispatchProjection, LeaseLedgerEntry, WorkspaceProjection } from '../persistence/types.js';
import type { ActorHost } from './actorHost.js';
import { handleOf, handlesOf, type ActorHandle } from './actorHandles.js';
import { deriveRows, topState, type MachineSnapshotLike } from './projections.js';
import { worktreePath } from './plan/workspaces.js';
import { currentWorkspaces, fixTurnUnit, type MilestoneProgress } from './progress.js';
import type { MilestoneSpec, UnitSpec } from './plan/types.js';

/** What the workspace driver needs from the scheduler that owns it. */
export interface WorkspaceDriverDeps {
  readonly host: ActorHost;
  /** Lease time to live in ms (merge leases too). */
  readonly leaseTtlMs: number;
  readonly now: () => number;
  /** A reserved lease sequence number; `undefined` when none is left (the next pass reserves more). */
  readonly nextLeaseNumber: () => number | undefined;
  /** Asks for another pass at `at` (ms since epoch). */
  readonly wakeAt: (at: number) => void;
}

/** Dispatch states after which a dispatch's turn can no longer touch its worktree. */
const FINAL_DISPATCH = new Set(['completed', 'failed', 'stuck', 'canceled']);
/** Final workspace states. */
const FINAL_WORKSPACE = new Set(['removed', 'check_failed', 'conflict', 'failed', 'released']);
/** Workspace states a release ends (every state before the merge landed: each step is redone by the next holder's workspace). */
const RELEASABLE = new Set(['preparing', 'ready', 'recording', 'merging', 'fixing_conflict']);
/** Workspace states whose git step (if any) may be interrupted and redone: nothing of a completed unit is in flight. */
const IDLE = new Set(['preparing', 'ready', 'merging']);
/** Turn results that count as a failed check (a lost or stopped check is only run again). */
const CHECK_FAILURE_KINDS = new Set<TurnResult['kind']>(['exited', 'signaled', 'timeout', 'stalled', 'spawn-failed']);

/** The workspace actor of a milestone lease: `<milestone>@lease-7` → `<milestone>@workspace-7`. */
export function workspaceIdOf(leaseId: string): string {
  const at = leaseId.lastIndexOf('@lease-');
  return at < 0 ? `${leaseId}@workspace` : `${leaseId.slice(0, at)}@workspace-${leaseId.slice(at + '@lease-'.length)}`;
}

/** True for the ledger keys of merge leases (`merge:<repo>:<branch>`), which no worker holds. */
export function isMergeLeaseKey(key: string): boolean {
  return key.startsWith('merge:');
}

/**
 * The scheduler's part for milestones with a workspace: one workspace actor per milestone lease,
 * every attempt recorded in the worktree (a commit, or its changes saved and the worktree reset)
 * before its dispatch ends, then the merge under a merge lease once every unit completed.
 * Level-triggered and idempotent, like the scheduler's passes.
 */
export class WorkspaceDriver {
  private rows = new Map<string, WorkspaceProjection>();

  constructor(private readonly deps: WorkspaceDriverDeps) {}

  /** Takes the workspace rows of a pass's view. */
  absorb(rows: readonly WorkspaceProjection[]): void {
    this.rows = new Map(rows.map((row) => [row.id, row]));
  }

  /** Workspace rows as of the view, with this runtime's live workspace actors as they are now (staged). */
  current(): WorkspaceProjection[] {
    const rows = new Map(this.rows);
    for (const workspace of handlesOf(this.deps.host, 'workspace')) {
      const hosted = this.deps.host.get(workspace.id);
      if (hosted === undefined) continue;
      const projection = deriveRows('workspace', workspace.id, hosted.actor.getSnapshot() as MachineSnapshotLike).projection;
      if (projection.kind === 'workspace') rows.set(workspace.id, projection.row);
    }
    return [...rows.values()];
  }

  /**
   * Whether the worker may run the milestone's next unit now: its workspace exists, is `ready`,
   * and every attempt made under its lease is recorded in the worktree. Takes the next step
   * otherwise: creates the workspace, records an attempt, or starts the merge once every unit
   * completed.
   */
  ready(worker: ActorHandle<'worker'>, milestone: MilestoneProgress, dispatches: (unitId: string) => readonly DispatchProjection[]): boolean {
    const { host } = this.deps;
    const { leaseId, fencingToken } = worker.context;
    const spec = milestone.spec.workspace;
    if (spec === undefined || leaseId === null || fencingToken === null) return true;
    const id = workspaceIdOf(leaseId);
    const workspace = handleOf(host.get(id), 'workspace');
    if (workspace === undefined) {
      if (!this.rows.has(id)) this.create(id, milestone.spec, leaseId, fencingToken);
      return false;
    }
    if (workspace.ended || workspace.state !== 'ready') return false;
    const handled = new Set(workspace.context.handled);
    for (const unit of milestone.spec.units) {
      const unrecorded = dispatches(unit.id).find(
        (d) => d.fencingToken === workspace.context.fencingToken && FINAL_DISPATCH.has(d.state) && !handled.has(d.id) && d.workerId !== null,
      );
      if (unrecorded !== undefined) {
        host.send(id, { type: 'RECORD', record: record(unrecorded, unit, 'save') });
        return false;
      }
    }
    if (milestone.units.every((unit) => unit.state === 'completed')) {
      host.send(id, { type: 'MERGE' });
      return false;
    }
    return true;
  }

  /**
   * What to do with a finished turn's result, whose lease is current: `finish` once its workspace
   * has recorded the attempt (committed the unit's work, or saved its changes and reset the
   * worktree); `wait` while it records it (asked here) or is being restored; `abandon` when its
   * workspace ended without recording it (a success then may not be recorded as completed: its
   * work is not on the branch; the unit runs again).
   */
  recorded(dispatch: ActorHandle<'dispatch'>, unit: UnitSpec | undefined, result: TurnResult): 'finish' | 'wait' | 'abandon' {
    const token = dispatch.context.fencingToken;
    if (unit === undefined || token === null) return 'finish';
    const mine = (w: { readonly milestoneId: string; readonly fencingToken: number }) => w.milestoneId === dispatch.context.milestoneId && w.fencingToken === token;
    const workspace = handlesOf(this.deps.host, 'workspace').find((w) => mine(w.context));
    if (workspace === undefined) {
      // Not hosted: being restored (wait), or ended before this runtime started (its row is final).
      const row = [...this.rows.values()].find(mine);
      return row !== undefined && FINAL_WORKSPACE.has(row.state) ? (isTurnSuccess(result) ? 'abandon' : 'finish') : 'wait';
    }
    if (workspace.context.handled.includes(dispatch.id)) return 'finish';
    if (workspace.ended) return isTurnSuccess(result) ? 'abandon' : 'finish';
    if (workspace.state !== 'ready') return 'wait';
    const outcome: WorkspaceRecord['outcome'] =
      unit.role === 'check'
        ? isTurnSuccess(result)
          ? 'check-passed'
          : CHECK_FAILURE_KINDS.has(result.kind)
            ? 'check-failed'
            : 'save'
        : isTurnSuccess(result)
          ? 'commit'
          : 'save';
    const fix = workspace.context.fix;
    const fixing = fix !== null && !fix.done && unit.role !== 'check' ? fix.kind : null;
    this.deps.host.send(workspace.id, {
      type: 'RECORD',
      record: { ...record({ id: dispatch.id, attempt: dispatch.context.attempt, logPath: dispatch.context.started?.logPath ?? null }, unit, outcome), fix: fixing },
    });
    return 'wait';
  }

  /** The input of a fix turn when `unit` is the one its milestone's workspace wants fixed, else `undefined`. */
  fixInput(unit: UnitSpec, fencingToken: number): string | undefined {
    const workspace = handlesOf(this.deps.host, 'workspace').find((w) => w.context.milestoneId === unit.milestoneId && w.context.fencingToken === fencingToken);
    const fix = workspace?.context.fix;
    if (fix == null || fix.done) return undefined;
    return unit.role !== 'check' ? fix.input : undefined;
  }

  /**
   * Merge leases and lease ends: a workspace waiting to merge gets a merge lease (claimed when
   * the ledger says it is free or expired, else a pass is asked for at its expiry) and is told
   * once it holds it; a merge lease whose workspace no longer merges is released; a workspace
   * whose milestone lease ended is released (the next holder's workspace takes over).
   */
  drive(ledger: ReadonlyMap<string, LeaseLedgerEntry>): void {
    const { host } = this.deps;
    const leases = handlesOf(host, 'lease');
    for (const workspace of handlesOf(host, 'workspace')) {
      if (workspace.ended) continue;
      const lease = handleOf(host.get(workspace.context.leaseId), 'lease');
      if ((lease === undefined || lease.ended || topState(lease.state) !== 'held') && RELEASABLE.has(topState(workspace.state))) {
        host.send(workspace.id, { type: 'RELEASE', reason: `milestone lease ${workspace.context.leaseId} ended` });
        continue;
      }
      if (workspace.state !== 'merging.waiting') continue;
      const mine = leases.filter((l) => l.context.workerId === workspace.id && !l.ended);
      const held = mine.find((l) => topState(l.state) === 'held');
      if (held !== undefined && held.context.fencingToken !== null) {
        host.send(workspace.id, { type: 'MERGE_LEASE', leaseId: held.id, fencingToken: held.context.fencingToken });
      } else if (mine.length === 0) {
        this.claimMergeLease(workspace, ledger);
      }
    }
    for (const lease of leases) {
      if (lease.ended || topState(lease.state) !== 'held' || !isMergeLeaseKey(lease.context.milestoneId)) continue;
      const holder = handleOf(host.get(lease.context.workerId), 'workspace');
      const merging = holder !== undefined && !holder.ended && topState(holder.state) === 'merging';
      const usesIt = merging && (holder.state === 'merging.waiting' || holder.context.mergeLease?.leaseId === lease.id);
      if (!usesIt) host.send(lease.id, { type: 'RELEASE', reason: holder === undefined || holder.ended ? `its workspace ${lease.context.workerId} ended` : 'merge done' });
    }
  }

  /**
   * Draining: every workspace not in the middle of a git step is released (the next run's
   * workspace takes the worktree over); one recording an attempt finishes first (a completed
   * unit's commit), unless its lease already passed on (then it records nothing).
   */
  releaseAll(reason: string): void {
    const { host } = this.deps;
    for (const workspace of handlesOf(host, 'workspace')) {
      if (workspace.ended) continue;
      const state = topState(workspace.state);
      const lease = handleOf(host.get(workspace.context.leaseId), 'lease');
      const leaseHeld = lease !== undefined && !lease.ended && topState(lease.state) === 'held';
      if (IDLE.has(state) || (!leaseHeld && RELEASABLE.has(state))) host.send(workspace.id, { type: 'RELEASE', reason });
    }
  }

  /** Every current workspace row by milestone (for status and progress). */
  currentByMilestone(): Map<string, WorkspaceProjection> {
    return currentWorkspaces(this.current());
  }

  private claimMergeLease(workspace: ActorHandle<'workspace'>, ledger: ReadonlyMap<string, LeaseLedgerEntry>): void {
    const key = mergeLeaseKey(workspace.context.repo, workspace.context.base);
    const entry = ledger.get(key);
    const now = this.deps.now();
    if (entry !== undefined && entry.holderId !== null && entry.holderId !== workspace.id && entry.expiresAt !== null && entry.expiresAt > now) {
      this.deps.wakeAt(entry.expiresAt);
      return;
    }
    const number = this.deps.nextLeaseNumber();
    if (number === undefined) return;
    const input: LeaseInput = { leaseId: `${key}@lease-${number}`, milestoneId: key, workerId: workspace.id, ttlMs: this.deps.leaseTtlMs };
    this.deps.host.create('lease', input.leaseId, input);
  }

  private create(id: string, milestone: MilestoneSpec, leaseId: string, fencingToken: number): void {
    const spec = milestone.workspace;
    if (spec === undefined || spec.base === null || spec.root === null) return;
    const earlier = currentWorkspaces([...this.rows.values()]).get(milestone.id);
    const input: WorkspaceInput = {
      workspaceId: id,
      milestoneId: milestone.id,
      leaseId,
      fencingToken,
      repo: spec.repo,
      base: spec.base,
      branch: spec.branch,
      path: worktreePath(spec, milestone.id),
      root: spec.root,
      mergeMode: spec.merge,
      fixTurns: spec.fixTurns,
      deleteBranch: spec.deleteBranch,
      author: spec.author,
      baseCommit: earlier?.baseCommit ?? null,
      fixTurnsUsed: earlier?.fixTurnsUsed ?? 0,
      fix: earlier?.fix ?? null,
    };
    this.deps.host.create('workspace', id, input);
  }
}

function record(
  dispatch: { readonly id: string; readonly attempt: number; readonly logPath: string | null },
  unit: UnitSpec,
  outcome: WorkspaceRecord['outcome'],
): WorkspaceRecord {
  return {
    dispatchId: dispatch.id,
    unitId: unit.id,
    attempt: dispatch.attempt,
    outcome,
    logPath: dispatch.logPath,
    command: unit.role === 'check' ? unit.command : null,
  };
}

/** The unit a fix turn runs, re-exported for the scheduler. */
export { fixTurnUnit };
