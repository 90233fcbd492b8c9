import type { Emitter } from 'mitt';
import { budgetReason } from './budgets.js';
import type { RuntimeEvents } from './events.js';
import type { Progress } from './progress.js';

/**
 * Emits what changed in the plan's progress since the last pass: `milestone.state` when a
 * milestone's state differs from the one last emitted, and `budget.exceeded` once per budget
 * (`scope:id`) in this process.
 * @internal
 */
export class ProgressReports {
  private readonly milestoneStates = new Map<string, string>();
  private readonly budgetsReported = new Set<string>();

  constructor(private readonly events: Emitter<RuntimeEvents>) {}

  report(progress: Progress): void {
    for (const budget of progress.budgets) {
      const key = `${budget.scope}:${budget.id}`;
      if (!budget.exceeded || this.budgetsReported.has(key)) continue;
      this.budgetsReported.add(key);
      this.events.emit('budget.exceeded', { scope: budget.scope, id: budget.id, spentUsd: budget.spentUsd, maxCostUsd: budget.maxCostUsd, reason: budgetReason(budget) });
    }
    for (const milestone of progress.milestones) {
      if (this.milestoneStates.get(milestone.spec.id) === milestone.state) continue;
      this.milestoneStates.set(milestone.spec.id, milestone.state);
      this.events.emit('milestone.state', { milestoneId: milestone.spec.id, state: milestone.state });
    }
  }
}
