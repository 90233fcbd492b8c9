import type { MilestoneSpec, Plan, UnitSpec } from './plan/types.js';
import type { DispatchProjection, LeaseProjection, MessageRecord, WorkspaceProjection } from '../persistence/types.js';
import { budgetReason, budgetsOf, hasBudgets, spentUsd, type BudgetState } from './budgets.js';
import { milestoneOf, unitOf, unitsOf } from './plan/lookup.js';
import { ACTIVE_DISPATCH_STATES, countsAsFailure, transientStreak, type TransientStreak } from './unitRules.js';

/** State of a unit, derived from the plan and its dispatches (never stored separately). */
export type UnitState = 'pending' | 'running' | 'completed' | 'failed' | 'stuck' | 'canceled' | 'blocked';
/** State of a milestone, derived from its units, its dependencies and its leases. */
export type MilestoneState = 'pending' | 'running' | 'completed' | 'failed' | 'blocked';

export interface UnitProgress {
  readonly spec: UnitSpec;
  readonly state: UnitState;
  /**
   * Turns that were claimed or ran (canceled and quarantined dispatches excluded): the unit's
   * own first turn, its retries, message turns and fix turns.
   */
  readonly turns: number;
  /**
   * Attempt number of the unit's latest turn that was claimed or ran (1-based; 0 before any):
   * how many tries the current (or last) turn took, counted against `maxAttempts`.
   */
  readonly attempts: number;
  /**
   * Dispatches that ended `failed` or `stuck` through their own turn (see
   * {@link countsAsFailure}); lost, abandoned and fenced ones are retried without using up
   * an attempt.
   */
  readonly failures: number;
  /** The unit's dispatch in `pending`, `claimed` or `running`, if any (at most one: invariant 2). */
  readonly active: DispatchProjection | null;
  /** The most recent dispatch, if any. */
  readonly last: DispatchProjection | null;
  /** Dispatches that were created (canceled included); the next dispatch id uses `created + 1`. */
  readonly created: number;
  /** 1-based attempt number the next dispatch of the current turn gets. */
  readonly nextAttempt: number;
  /** Messages sent to the unit that no turn has taken yet. */
  readonly pendingMessages: number;
  /**
   * The message the next dispatch carries: the failed turn's own (a retry), else — once the
   * unit's own first turn completed — the oldest pending one.
   */
  readonly nextMessageId: number | null;
  /** Why an operator canceled the unit, if one did. */
  readonly canceled: string | null;
  /**
   * The unit's latest turns that failed for reasons not the agent's (rate limited, overloaded
   * API), in a row, when its last ended dispatch is one: the unit waits, without using an
   * attempt, until `maxTransientWait` after the first of them has passed.
   */
  readonly transient: TransientStreak | null;
  /** What the unit's turns cost, USD (those that reported a cost). */
  readonly spentUsd: number;
  /** Why the unit failed when no dispatch says it: its budget (`budget exceeded: $x of $y (unit …)`). */
  readonly failure: string | null;
}

/** Operator input that shapes progress besides the dispatches: cancellations and messages. */
export interface OperatorInput {
  readonly canceled: ReadonlyMap<string, string>;
  readonly messages: readonly MessageRecord[];
}

const NO_OPERATOR_INPUT: OperatorInput = { canceled: new Map(), messages: [] };

export interface MilestoneProgress {
  readonly spec: MilestoneSpec;
  readonly state: MilestoneState;
  readonly units: readonly UnitProgress[];
  /** The milestone's current workspace (the one of its latest lease), if it has had one. */
  readonly workspace: WorkspaceProjection | null;
  /** Why the milestone failed when no unit says it: its own budget or the plan's was exceeded. */
  readonly failure: string | null;
}

export interface Progress {
  readonly milestones: readonly MilestoneProgress[];
  readonly units: ReadonlyMap<string, UnitProgress>;
  /** Every milestone is `completed`, `failed` or `blocked`. */
  readonly finished: boolean;
  /** Every unit completed. */
  readonly succeeded: boolean;
  /** Every budget of the plan (`maxCostUsd`) with its spend. */
  readonly budgets: readonly BudgetState[];
}

const ACTIVE_LEASE = new Set(['claiming', 'held', 'releasing']);
const TERMINAL_MILESTONE = new Set<MilestoneState>(['completed', 'failed', 'blocked']);

/**
 * Derives unit and milestone states from the plan and the dispatch and lease projections.
 *
 * - unit: `completed` when a dispatch completed; `stuck` when a dispatch ended `stuck` (the
 *   same failure `stuckAfter` times in a row); `failed` when `failures >= maxAttempts`;
 *   `running` when a dispatch is claimed or running; `blocked` when its milestone failed or is
 *   blocked before it completed; else `pending`.
 * - milestone: `completed` when every unit completed (and, with a workspace, its branch merged);
 *   `failed` when a unit failed or is stuck, or its workspace's check failed, its merge
 *   conflicted or its workspace failed; `blocked` when a dependency failed or is blocked;
 *   `running` when a lease is live or a unit was attempted; else `pending`.
 * - a workspace with a fix turn due (a failed check, a merge conflict) makes the milestone's
 *   last unit run one more turn: it is `pending` again until that turn completes.
 * - budgets (`maxCostUsd`): a unit over its own fails once no turn of it runs, unless it is
 *   done; a milestone over its own, or any milestone when the plan is over its own, fails once
 *   no turn of it runs, unless it completed.
 */
export function deriveProgress(
  plan: Plan,
  dispatches: readonly DispatchProjection[],
  leases: readonly LeaseProjection[],
  operator: OperatorInput = NO_OPERATOR_INPUT,
  workspaces: readonly WorkspaceProjection[] = [],
): Progress {
  const byUnit = new Map<string, DispatchProjection[]>();
  for (const dispatch of dispatches) {
    const list = byUnit.get(dispatch.unitId);
    if (list === undefined) byUnit.set(dispatch.unitId, [dispatch]);
    else list.push(dispatch);
  }
  return new ProgressDeriver().derive({
    plan,
    dispatchesOf: (unitId) => byUnit.get(unitId) ?? NO_DISPATCHES,
    changed: 'all',
    leases,
    operator,
    workspaces,
    allDispatches: () => dispatches,
  });
}

const NO_DISPATCHES: readonly DispatchProjection[] = [];
const NO_MESSAGES: readonly MessageRecord[] = [];

/** What {@link ProgressDeriver.derive} reads. */
export interface ProgressSources {
  readonly plan: Plan;
  /** A unit's dispatch rows in creation order. */
  readonly dispatchesOf: (unitId: string) => readonly DispatchProjection[];
  /**
   * The units whose dispatch rows changed since the previous call on this deriver, or `'all'`
   * (the first call, or after the rows were read anew). Units outside it keep their progress
   * unless their messages, cancellation, milestone or budget changed.
   */
  readonly changed: Iterable<string> | 'all';
  readonly leases: readonly LeaseProjection[];
  readonly operator: OperatorInput;
  readonly workspaces: readonly WorkspaceProjection[];
  /** Every dispatch row: read only when the plan has a budget (`maxCostUsd`), whose spend spans units. */
  readonly allDispatches: () => readonly DispatchProjection[];
}

/** A unit's progress and what it was derived from. */
interface UnitMemo {
  readonly rows: readonly DispatchProjection[];
  readonly budget: string | null;
  readonly messages: readonly MessageRecord[];
  readonly canceled: string | null;
  readonly fixDue: boolean;
  readonly progress: UnitProgress;
}

/** A milestone's units and own state (before its dependencies), and its resolved view. */
interface MilestoneMemo {
  readonly units: readonly UnitProgress[];
  readonly leased: boolean;
  readonly workspace: WorkspaceProjection | null;
  readonly budget: string | null;
  readonly own: { state: MilestoneState; failure: string | null };
  /** The last {@link MilestoneProgress} built from this memo, reused while its resolved state is the same. */
  view: MilestoneProgress | null;
}

/**
 * {@link deriveProgress} for a scheduler that derives progress pass after pass, at a cost in
 * what changed rather than in the whole run: only units whose dispatch rows changed (the caller
 * says which), or whose messages, cancellation or fix turn changed, are derived again; only
 * their milestones, and those whose lease or workspace changed, get their own state again; then
 * every milestone's state is resolved against its dependencies (linear in milestones). A plan
 * with a budget derives every unit each time (a plan's or milestone's spend spans units).
 * `Progress.units` is built when first read. The result always equals a derivation from scratch.
 */
export class ProgressDeriver {
  private plan: Plan | null = null;
  private readonly units = new Map<string, UnitMemo>();
  private readonly milestones = new Map<string, MilestoneMemo>();
  /** Units that had messages or a cancellation at the previous call. */
  private operatorUnits = new Set<string>();
  /** Units that had a fix turn due at the previous call. */
  private fixDueUnits = new Set<string>();

  derive(sources: ProgressSources): Progress {
    const { plan, dispatchesOf, operator } = sources;
    const budgets = hasBudgets(plan) ? budgetsOf(plan, sources.allDispatches()) : [];
    const everything = sources.changed === 'all' || plan !== this.plan || budgets.length > 0;
    const reasonOf = (budget: BudgetState | undefined) => (budget === undefined ? null : budgetReason(budget));
    if (plan !== this.plan) {
      this.units.clear();
      this.milestones.clear();
      this.plan = plan;
    }
    const over = (scope: BudgetState['scope'], id: string) => (budgets.length === 0 ? undefined : budgets.find((b) => b.scope === scope && b.id === id && b.exceeded));
    const planOver = budgets.find((b) => b.scope === 'plan' && b.exceeded);

    const messagesByUnit = new Map<string, MessageRecord[]>();
    for (const message of operator.messages) {
      const list = messagesByUnit.get(message.unitId);
      if (list === undefined) messagesByUnit.set(message.unitId, [message]);
      else list.push(message);
    }
    const operatorUnits = new Set([...messagesByUnit.keys(), ...operator.canceled.keys()]);
    const current = currentWorkspaces(sources.workspaces);
    const fixDue = new Set<string>();
    for (const milestone of plan.milestones) {
      if (milestone.workspace === undefined || current.get(milestone.id)?.fixPending !== true) continue;
      const unit = fixTurnUnit(milestone);
      if (unit !== undefined) fixDue.add(unit.id);
    }

    // Units to derive again: all, or those whose rows changed, plus those whose operator input or fix turn may have.
    const dirty = new Set<string>(everything ? [] : [...sources.changed, ...operatorUnits, ...this.operatorUnits, ...fixDue]);
    for (const unitId of this.fixDueUnits) if (!fixDue.has(unitId)) dirty.add(unitId);
    this.fixDueUnits = fixDue;
    this.operatorUnits = operatorUnits;
    const dirtyMilestones = new Set<string>();
    const unitIds = everything ? [...unitsOf(plan)].map((unit) => unit.id) : dirty;
    for (const unitId of unitIds) {
      const spec = unitOf(plan, unitId);
      if (spec === undefined) continue;
      const messages = messagesByUnit.get(unitId) ?? NO_MESSAGES;
      const canceled = operator.canceled.get(unitId) ?? null;
      const due = fixDue.has(unitId);
      const known = this.units.get(unitId);
      const rows = dispatchesOf(unitId);
      const budget = over('unit', unitId);
      const reason = reasonOf(budget);
      if (known !== undefined && known.rows === rows && known.budget === reason && sameMessages(known.messages, messages) && known.canceled === canceled && known.fixDue === due) continue;
      this.units.set(unitId, { rows, budget: reason, messages, canceled, fixDue: due, progress: unitProgress(spec, rows, messages, canceled, due, budget) });
      dirtyMilestones.add(spec.milestoneId);
    }

    const leased = new Set<string>();
    for (const lease of sources.leases) if (ACTIVE_LEASE.has(lease.state)) leased.add(lease.milestoneId);
    for (const milestone of plan.milestones) {
      const workspace = milestone.workspace === undefined ? null : (current.get(milestone.id) ?? null);
      const known = this.milestones.get(milestone.id);
      const budget = over('milestone', milestone.id) ?? planOver;
      const reason = reasonOf(budget);
      if (known !== undefined && !dirtyMilestones.has(milestone.id) && known.leased === leased.has(milestone.id) && known.workspace === workspace && known.budget === reason) continue;
      const units = milestone.units.map((spec) => this.units.get(spec.id)?.progress ?? unitProgress(spec, dispatchesOf(spec.id), NO_MESSAGES, null));
      this.milestones.set(milestone.id, { units, leased: leased.has(milestone.id), workspace, budget: reason, own: ownState(milestone, units, leased.has(milestone.id), workspace, budget), view: null });
    }

    const resolved = new Map<string, MilestoneState>();
    const resolve = (id: string): MilestoneState => {
      const known = resolved.get(id);
      if (known !== undefined) return known;
      const own = this.milestones.get(id);
      const spec = milestoneOf(plan, id);
      if (own === undefined || spec === undefined) return 'blocked';
      let state = own.own.state;
      if (state !== 'completed' && state !== 'failed') {
        const dependencyBlocked = spec.dependsOn.some((dep) => {
          const depState = resolve(dep);
          return depState === 'failed' || depState === 'blocked';
        });
        if (dependencyBlocked) state = 'blocked';
      }
      resolved.set(id, state);
      return state;
    };

    const milestones = plan.milestones.map((spec): MilestoneProgress => {
      const state = resolve(spec.id);
      const memo = this.milestones.get(spec.id);
      if (memo === undefined) return { spec, state, units: [], workspace: null, failure: null };
      if (memo.view?.state === state) return memo.view;
      const units = state === 'failed' || state === 'blocked' ? memo.units.map(blockedUnlessEnded) : memo.units;
      memo.view = { spec, state, units, workspace: memo.workspace, failure: memo.own.failure };
      return memo.view;
    });

    let unitsById: Map<string, UnitProgress> | undefined;
    return {
      milestones,
      // Built when first read: a scheduler pass looks units up through their milestones.
      get units() {
        return (unitsById ??= new Map(milestones.flatMap((milestone) => milestone.units.map((unit) => [unit.spec.id, unit] as const))));
      },
      finished: milestones.every((milestone) => TERMINAL_MILESTONE.has(milestone.state)),
      succeeded: milestones.every((milestone) => milestone.state === 'completed'),
      budgets,
    };
  }
}

function ownState(milestone: MilestoneSpec, units: readonly UnitProgress[], leased: boolean, workspace: WorkspaceProjection | null, budget: BudgetState | undefined): { state: MilestoneState; failure: string | null } {
  let state = ownMilestoneState(units, leased, milestone.workspace === undefined ? undefined : workspace);
  // Over budget: no new turn starts; a running one finishes first.
  const turning = units.some((unit) => unit.active !== null && unit.active.state !== 'pending');
  const failure = budget !== undefined && state !== 'completed' && state !== 'failed' && !turning ? budgetReason(budget) : null;
  if (failure !== null) state = 'failed';
  return { state, failure };
}

function blockedUnlessEnded(unit: UnitProgress): UnitProgress {
  return ['completed', 'failed', 'stuck', 'canceled'].includes(unit.state) ? unit : { ...unit, state: 'blocked' };
}

function sameMessages(a: readonly MessageRecord[], b: readonly MessageRecord[]): boolean {
  return a.length === b.length && a.every((message, i) => message.id === b[i]?.id);
}

/**
 * One unit's progress. A unit runs one turn, then one more per message sent to it. The
 * current turn is everything after the last completed dispatch: its failures count against
 * `maxAttempts`; the unit is completed when a dispatch completed and no message waits.
 */
function unitProgress(
  spec: UnitSpec,
  dispatches: readonly DispatchProjection[],
  messages: readonly MessageRecord[],
  canceled: string | null,
  fixDue = false,
  budget?: BudgetState,
): UnitProgress {
  let turns = 0;
  let failures = 0;
  let sinceCompletion = 0;
  let completed = false;
  let stuck = false;
  let active: DispatchProjection | null = null;
  let lastCounted: DispatchProjection | null = null;
  const taken = new Set<number>();
  for (const dispatch of dispatches) {
    if (ACTIVE_DISPATCH_STATES.has(dispatch.state)) active = dispatch;
    if (dispatch.state !== 'canceled' && dispatch.messageId !== null) taken.add(dispatch.messageId);
    if (dispatch.state === 'canceled' || dispatch.state === 'quarantined') continue;
    if (dispatch.state !== 'pending') turns++;
    lastCounted = dispatch;
    if (dispatch.state === 'completed') {
      completed = true;
      failures = 0;
      sinceCompletion = 0;
      stuck = false;
      continue;
    }
    // A turn the API failed (rate limited, overloaded) is run again under the same attempt number.
    if (dispatch.transient === null) sinceCompletion++;
    if (countsAsFailure(dispatch)) failures++;
    if (dispatch.state === 'stuck') stuck = true;
  }
  const waiting = messages.filter((message) => !taken.has(message.id));
  const transient = transientStreak(dispatches);
  const gaveUp = transient !== null && (transient.last.endedAt ?? 0) - transient.since >= spec.maxTransientWaitMs;
  const retrying = lastCounted !== null && lastCounted.state !== 'completed' && lastCounted.messageId !== null && !ACTIVE_DISPATCH_STATES.has(lastCounted.state);
  let state: UnitState = 'pending';
  const idle = active === null || active.state === 'pending';
  const done = completed && waiting.length === 0 && !retrying && active === null && !fixDue;
  // Over its budget: no new turn; a running one finishes, and a unit whose work is done stays completed.
  const failure = budget !== undefined && idle && !done ? budgetReason(budget) : null;
  if (canceled !== null) state = 'canceled';
  else if (stuck) state = 'stuck';
  else if (failures >= spec.maxAttempts || (gaveUp && idle) || failure !== null) state = 'failed';
  else if (active !== null && active.state !== 'pending') state = 'running';
  else if (done) state = 'completed';
  return {
    spec,
    state,
    turns,
    attempts: dispatches.filter((d) => d.state !== 'pending' && d.state !== 'canceled' && d.state !== 'quarantined').at(-1)?.attempt ?? 0,
    failures,
    active,
    last: dispatches.at(-1) ?? null,
    created: dispatches.length,
    nextAttempt: sinceCompletion + 1,
    pendingMessages: waiting.length,
    // The unit's own input is its first turn; messages are the turns after it.
    nextMessageId: retrying && lastCounted !== null ? lastCounted.messageId : completed ? (waiting[0]?.id ?? null) : null,
    canceled,
    transient,
    spentUsd: spentUsd(dispatches),
    failure: canceled === null && !stuck ? failure : null,
  };
}

/** Workspace states after which the milestone has failed: its check failed, its merge conflicted, git failed. */
const FAILED_WORKSPACE = new Set(['check_failed', 'conflict', 'failed']);
/** Workspace states in which the base holds the milestone's work. */
const MERGED_WORKSPACE = new Set(['merged', 'removed']);

/**
 * The current workspace of each milestone: the one of its latest lease (highest fencing token),
 * except that a merged one stays current (the milestone is done once its work is on the base).
 */
export function currentWorkspaces(workspaces: readonly WorkspaceProjection[]): Map<string, WorkspaceProjection> {
  const current = new Map<string, WorkspaceProjection>();
  for (const row of workspaces) {
    const known = current.get(row.milestoneId);
    if (known !== undefined && MERGED_WORKSPACE.has(known.state)) continue;
    if (known === undefined || row.fencingToken >= known.fencingToken || MERGED_WORKSPACE.has(row.state)) current.set(row.milestoneId, row);
  }
  return current;
}

/** The unit a workspace's fix turn runs: the milestone's last own unit (not its check). */
export function fixTurnUnit(milestone: MilestoneSpec): UnitSpec | undefined {
  return milestone.units.filter((unit) => unit.role !== 'check').at(-1);
}

function ownMilestoneState(units: readonly UnitProgress[], leased: boolean, workspace?: WorkspaceProjection | null): MilestoneState {
  if (workspace != null && FAILED_WORKSPACE.has(workspace.state)) return 'failed';
  if (units.every((unit) => unit.state === 'completed')) {
    return workspace === undefined || (workspace !== null && MERGED_WORKSPACE.has(workspace.state)) ? 'completed' : 'running';
  }
  if (units.some((unit) => unit.state === 'failed' || unit.state === 'stuck' || unit.state === 'canceled')) return 'failed';
  if (leased || units.some((unit) => unit.turns > 0)) return 'running';
  return 'pending';
}

/** True for the milestone states after which nothing more runs. */
export function isTerminalMilestone(state: MilestoneState): boolean {
  return TERMINAL_MILESTONE.has(state);
}
