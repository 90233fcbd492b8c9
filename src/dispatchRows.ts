import type { SchedulerView, SchedulerViewRequest } from '../persistence/store.js';
import type { DispatchProjection } from '../persistence/types.js';

/**
 * The dispatch rows the scheduler derives progress from, kept in memory between passes.
 * Re-reading every row on every pass made a run quadratic in its number of units (the end-to-
 * end benchmark spent 53 % of its runtime CPU in `listDispatches` at 1,000 units). Rows this
 * runtime stages are applied from its own writes ({@link DispatchRows.write}); all rows are
 * read again only when another connection committed (the view's version moved) or after
 * {@link DispatchRows.invalidate}.
 */
export class DispatchRows {
  private byUnit = new Map<string, DispatchProjection[]>();
  private version: number | undefined;

  /** What the next view must read: everything, unless the rows are current for the store's version. */
  request(): SchedulerViewRequest {
    return { knownVersion: this.version, units: [] };
  }

  /** Takes in the rows a view read. */
  apply(view: SchedulerView): void {
    if (view.full) {
      const byUnit = new Map<string, DispatchProjection[]>();
      for (const row of view.dispatches) {
        const rows = byUnit.get(row.unitId);
        if (rows === undefined) byUnit.set(row.unitId, [row]);
        else rows.push(row);
      }
      this.byUnit = byUnit;
    } else {
      for (const row of view.dispatches) this.write(row);
    }
    this.version = view.version;
  }

  /** A row this runtime staged (a new dispatch is appended to its unit's rows). */
  write(row: DispatchProjection): void {
    const rows = this.byUnit.get(row.unitId);
    if (rows === undefined) {
      this.byUnit.set(row.unitId, [row]);
      return;
    }
    const index = rows.findIndex((existing) => existing.id === row.id);
    if (index === -1) rows.push(row);
    else rows[index] = row;
  }

  /** Forget the version: the next view reads every row (after a write outside a job, such as a quarantine). */
  invalidate(): void {
    this.version = undefined;
  }

  /** One unit's rows, in creation order. */
  of(unitId: string): readonly DispatchProjection[] {
    return this.byUnit.get(unitId) ?? [];
  }

  /** Every dispatch row, grouped by unit, in creation order within each unit. */
  all(): DispatchProjection[] {
    return [...this.byUnit.values()].flat();
  }
}
