import type { SchedulerView, SchedulerViewRequest } from '../persistence/store.js';
import type { DispatchProjection } from '../persistence/types.js';

/**
 * The dispatch rows the scheduler derives progress from, kept in memory between passes.
 * Re-reading every row on every pass made a run quadratic in its number of units (the end-to-
 * end benchmark spent 53 % of its runtime CPU in `listDispatches` at 1,000 units). Rows this
 * runtime stages are applied from its own writes ({@link DispatchRows.write}); all rows are
 * read again only when another connection committed (the view's version moved) or after
 * {@link DispatchRows.invalidate}. A unit's rows are copied on write: the array {@link DispatchRows.of}
 * returns is the same object until one of them changes, which lets progress be derived again
 * only for the units that changed (`ProgressDeriver`).
 */
export class DispatchRows {
  private byUnit = new Map<string, readonly DispatchProjection[]>();
  /** Rows of turns rate limited with a reset time, by dispatch id: what `rateLimitedAgents` reads. */
  private rateLimited = new Map<string, DispatchProjection>();
  private version: number | undefined;
  /** Units whose rows changed since {@link DispatchRows.takeChanged}; `'all'` after a full read. */
  private changed: Set<string> | 'all' = 'all';

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
      // A unit whose rows read the same as before keeps its array (and its derived progress).
      for (const [unitId, rows] of byUnit) {
        const known = this.byUnit.get(unitId);
        if (known !== undefined && known.length === rows.length && known.every((row, i) => sameRow(row, rows[i]))) byUnit.set(unitId, known as DispatchProjection[]);
      }
      this.byUnit = byUnit;
      this.rateLimited = new Map(view.dispatches.filter(isRateLimited).map((row) => [row.id, row]));
      this.changed = 'all';
    } else {
      for (const row of view.dispatches) this.write(row);
    }
    this.version = view.version;
  }

  /** A row this runtime staged (a new dispatch is appended to its unit's rows). */
  write(row: DispatchProjection): void {
    if (this.changed !== 'all') this.changed.add(row.unitId);
    if (isRateLimited(row)) this.rateLimited.set(row.id, row);
    else this.rateLimited.delete(row.id);
    const rows = this.byUnit.get(row.unitId);
    if (rows === undefined) {
      this.byUnit.set(row.unitId, [row]);
      return;
    }
    const index = rows.findIndex((existing) => existing.id === row.id);
    this.byUnit.set(row.unitId, index === -1 ? [...rows, row] : rows.map((existing, i) => (i === index ? row : existing)));
  }

  /**
   * The units whose rows changed since the last call (`'all'` after a full read: a unit whose
   * rows read the same keeps its array, so a caller can still tell), and starts counting anew.
   */
  takeChanged(): Iterable<string> | 'all' {
    const changed = this.changed;
    this.changed = new Set();
    return changed;
  }

  /** Forget the version: the next view reads every row (after a write outside a job, such as a quarantine). */
  invalidate(): void {
    this.version = undefined;
  }

  /** One unit's rows, in creation order. */
  of(unitId: string): readonly DispatchProjection[] {
    return this.byUnit.get(unitId) ?? NO_ROWS;
  }

  /** Every dispatch row, grouped by unit, in creation order within each unit. */
  all(): DispatchProjection[] {
    return [...this.byUnit.values()].flat();
  }

  /** The rows of turns rate limited with a reset time (`transient: rate_limited`, `retryAt` set), past ones included. */
  rateLimitedRows(): readonly DispatchProjection[] {
    return [...this.rateLimited.values()];
  }
}

/** The rows of a unit that has none: one array, so that it reads as unchanged pass after pass. */
const NO_ROWS: readonly DispatchProjection[] = Object.freeze([]);

function isRateLimited(row: DispatchProjection): boolean {
  return row.transient === 'rate_limited' && row.retryAt !== null;
}

/** Whether two reads of one dispatch row are the same (its fields are scalars, or arrays and objects from JSON). */
function sameRow(a: DispatchProjection, b: DispatchProjection | undefined): boolean {
  if (a === b) return true;
  if (b === undefined) return false;
  const keys = Object.keys(a) as (keyof DispatchProjection)[];
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key] || JSON.stringify(a[key]) === JSON.stringify(b[key]));
}
