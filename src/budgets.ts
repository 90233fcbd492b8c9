/**
 * Budgets in USD (`maxCostUsd` of a unit, a milestone, the plan) against what stream-json turns
 * reported they cost (each turn's own cost, see `actors/streamJson.ts` `turnCost`). A budget is
 * exceeded once the spend is over it: then no new turn starts under it; turns already running
 * finish, and their cost counts.
 */
import { roundUsd } from '../actors/streamJson.js';
import type { DispatchProjection } from '../persistence/types.js';
import type { Plan } from './plan/types.js';

/** One budget of a plan and its spend. Amounts in USD. */
export interface BudgetState {
  readonly scope: 'plan' | 'milestone' | 'unit';
  /** The unit's or milestone's id; the plan file for the plan. */
  readonly id: string;
  readonly maxCostUsd: number;
  readonly spentUsd: number;
  readonly exceeded: boolean;
}

/** What `dispatches` cost in USD, summed and rounded to 1e-10 USD (turns that reported no cost count 0). */
export function spentUsd(dispatches: readonly DispatchProjection[]): number {
  return roundUsd(dispatches.reduce((total, dispatch) => total + (dispatch.costUsd ?? 0), 0));
}

/** `budget exceeded: $0.0312 of $0.0300 (unit core/fix)`: why a unit or milestone failed. */
export function budgetReason(budget: Pick<BudgetState, 'scope' | 'id' | 'maxCostUsd' | 'spentUsd'>): string {
  const where = budget.scope === 'plan' ? 'plan' : `${budget.scope} ${budget.id}`;
  return `budget exceeded: ${formatUsd(budget.spentUsd)} of ${formatUsd(budget.maxCostUsd)} (${where})`;
}

/** `$0.0312`: USD with 4 decimals, more when that would show 0 for a non-zero amount. */
export function formatUsd(usd: number): string {
  if (usd !== 0 && Math.abs(usd) < 0.00005) return `$${usd.toPrecision(2)}`;
  return `$${usd.toFixed(4)}`;
}

/** Whether `plan` sets any budget, worked out once per plan object (plans are not changed in place). */
export function hasBudgets(plan: Plan): boolean {
  let known = budgeted.get(plan);
  if (known === undefined) {
    known = plan.maxCostUsd !== undefined || plan.milestones.some((m) => m.maxCostUsd !== undefined || m.units.some((u) => u.maxCostUsd !== undefined));
    budgeted.set(plan, known);
  }
  return known;
}

const budgeted = new WeakMap<Plan, boolean>();

/** Every budget the plan sets, with its spend, the plan's first, then milestones' and units' in plan order. */
export function budgetsOf(plan: Plan, dispatches: readonly DispatchProjection[]): BudgetState[] {
  const state = (scope: BudgetState['scope'], id: string, maxCostUsd: number, rows: readonly DispatchProjection[]): BudgetState => {
    const spent = spentUsd(rows);
    return { scope, id, maxCostUsd, spentUsd: spent, exceeded: spent > maxCostUsd };
  };
  const budgets: BudgetState[] = [];
  if (plan.maxCostUsd !== undefined) budgets.push(state('plan', plan.file, plan.maxCostUsd, dispatches));
  for (const milestone of plan.milestones) {
    if (milestone.maxCostUsd !== undefined) budgets.push(state('milestone', milestone.id, milestone.maxCostUsd, dispatches.filter((d) => d.milestoneId === milestone.id)));
  }
  for (const unit of plan.milestones.flatMap((milestone) => milestone.units)) {
    if (unit.maxCostUsd !== undefined) budgets.push(state('unit', unit.id, unit.maxCostUsd, dispatches.filter((d) => d.unitId === unit.id)));
  }
  return budgets;
}
