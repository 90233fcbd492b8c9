import type { Store } from '../../persistence/store.js';
import { roundUsd } from '../../actors/streamJson.js';
import { CONTROL } from '../operatorCommands.js';
import type { MilestoneState, UnitState } from '../progress.js';
import type { DerivedStore } from './derivedCache.js';

/** One milestone of the fleet view: its place in the plan graph and how far it got. */
export interface FleetMilestone {
  readonly id: string;
  readonly dependsOn: readonly string[];
  readonly state: MilestoneState;
  /** Units completed / all units. */
  readonly unitsDone: number;
  readonly unitsTotal: number;
  /** Units by state (only states that occur). */
  readonly units: Readonly<Partial<Record<UnitState, number>>>;
  /** What its units' turns cost, USD (rounded to 1e-10). */
  readonly costUsd: number;
  /** Its workspace's actor state and branch (`ready`, `merging`, `merged`, `check_failed`, …), or null without one. */
  readonly workspace: { readonly state: string; readonly branch: string; readonly mergedCommit: string | null; readonly reason: string | null } | null;
  /** Why it failed when no unit says it (a budget). */
  readonly failure: string | null;
}

/** A runtime registered on the store, with how old its last heartbeat is. */
export interface FleetRuntime {
  readonly id: string;
  /** `os.hostname()` of its machine. */
  readonly host: string;
  readonly pid: number;
  readonly state: 'running' | 'stopped' | 'dead';
  /** ms since its last heartbeat, judged on the inspector's clock; its TTL beside it. */
  readonly heartbeatAgeMs: number;
  readonly ttlMs: number;
  readonly startedAt: number;
}

/** The fleet at a glance, for the inspector's fleet view (`GET /api/fleet`). */
export interface FleetView {
  /** {@link Store.changeCounter} the view was derived at (a page skips a change it has already seen). */
  readonly version: number;
  /** `null` when the store has no plan recorded yet. */
  readonly plan: { readonly file: string; readonly milestones: readonly FleetMilestone[] } | null;
  /**
   * Units by state across the plan. `waiting`: pending units (queued, in backoff, rate limited,
   * or waiting for the milestones they depend on); `stuck`: given up on after repeated failures.
   */
  readonly counts: Readonly<Record<UnitState, number>>;
  readonly runtimes: readonly FleetRuntime[];
  /** Whether `statecrew pause` (or the page's Pause) is in force. */
  readonly paused: boolean;
  /** What the plan's turns cost so far, USD. */
  readonly costUsd: number;
}

const NO_COUNTS: Record<UnitState, number> = { pending: 0, running: 0, completed: 0, failed: 0, stuck: 0, canceled: 0, blocked: 0 };

/**
 * Reads the fleet view: the stored plan's milestones with their derived state (the same
 * derivation as `statecrew status`), the runtimes with their heartbeat age, and unit counts.
 * Linear in units (5,000 units: one pass over the derived progress).
 * @param derived the plan and its progress at one store version ({@link createDerivedCache}).
 * @param now what heartbeat ages are measured against, ms since the epoch.
 * @throws the store's errors.
 */
export async function readFleet(store: Store, derived: DerivedStore, now: number): Promise<FleetView> {
  const { plan, progress, version } = derived;
  const runtimes = (await store.listRuntimes()).map((runtime) => ({
    id: runtime.id,
    host: runtime.host,
    pid: runtime.pid,
    state: runtime.state,
    heartbeatAgeMs: Math.max(0, now - runtime.heartbeatAt),
    ttlMs: runtime.ttlMs,
    startedAt: runtime.startedAt,
  }));
  const paused = (await store.getControl(CONTROL.paused)) !== undefined;
  if (plan === undefined || progress === undefined) return { version, plan: null, counts: { ...NO_COUNTS }, runtimes, paused, costUsd: 0 };
  const counts = { ...NO_COUNTS };
  let costUsd = 0;
  const milestones = progress.milestones.map((milestone): FleetMilestone => {
    const units: Partial<Record<UnitState, number>> = {};
    let cost = 0;
    for (const unit of milestone.units) {
      units[unit.state] = (units[unit.state] ?? 0) + 1;
      counts[unit.state]++;
      cost += unit.spentUsd;
    }
    costUsd += cost;
    const workspace = milestone.workspace;
    return {
      id: milestone.spec.id,
      dependsOn: milestone.spec.dependsOn,
      state: milestone.state,
      unitsDone: units.completed ?? 0,
      unitsTotal: milestone.units.length,
      units,
      costUsd: roundUsd(cost),
      workspace: workspace === null ? null : { state: workspace.state, branch: workspace.branch, mergedCommit: workspace.mergedCommit, reason: workspace.reason },
      failure: milestone.failure,
    };
  });
  return { version, plan: { file: plan.file, milestones }, counts, runtimes, paused, costUsd: roundUsd(costUsd) };
}
