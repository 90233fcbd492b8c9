import type { Store } from '../persistence/store.js';
import type { DispatchProjection } from '../persistence/types.js';

/**
 * The dispatch rows the scheduler derives progress from, kept in memory between passes.
 * Re-reading every row on every pass made a run quadratic in its number of units (the end-to-
 * end benchmark spent 53 % of its runtime CPU in `listDispatches` at 1,000 units). The rows
 * are read again in full when another connection committed (the store's external change
 * counter moved) or after {@link DispatchRows.invalidate}; otherwise only the units whose
 * dispatches this runtime wrote since ({@link DispatchRows.touched}) are re-read.
 */
export class DispatchRows {
  private byUnit = new Map<string, readonly DispatchProjection[]>();
  private readonly dirty = new Set<string>();
  private version: number | undefined;

  constructor(private readonly store: Store) {}

  /** This runtime wrote a dispatch row of `unitId` (its transaction may still be open). */
  touched(unitId: string): void {
    this.dirty.add(unitId);
  }

  /** Forget everything: the next read is a full one (after a write that bypassed {@link DispatchRows.touched}). */
  invalidate(): void {
    this.version = undefined;
  }

  /** Every dispatch row, grouped by unit, in creation order within each unit. */
  all(): DispatchProjection[] {
    const external = this.store.externalChangeCounter();
    if (this.version !== external) {
      const byUnit = new Map<string, DispatchProjection[]>();
      for (const row of this.store.listDispatches()) {
        const rows = byUnit.get(row.unitId);
        if (rows === undefined) byUnit.set(row.unitId, [row]);
        else rows.push(row);
      }
      this.byUnit = byUnit;
      this.version = external;
      this.dirty.clear();
    } else {
      for (const unitId of this.dirty) this.byUnit.set(unitId, this.store.listDispatches(unitId));
      this.dirty.clear();
    }
    return [...this.byUnit.values()].flat();
  }
}
