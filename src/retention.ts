import type { Clock } from '../core/clock.js';
import type { CompactResult, Store } from '../persistence/store.js';
import type { RetentionPolicy } from './plan/types.js';

/** Batches of one background compaction at most, before it waits for its next turn (each batch is a few short transactions). */
const MAX_BATCHES = 20;

/** What {@link RetentionJob} needs from the runtime. */
export interface RetentionDeps {
  /** The guarded store: a transient failure is retried by the store policy, a fatal one stops the run. */
  readonly store: Store;
  readonly clock: Clock;
  /** False once the run is ending: no compaction starts then. */
  readonly active: () => boolean;
  /** Runs a store call in the background, on the runtime's one failure path (`RuntimeImpl.background`). */
  readonly background: (operation: string, call: Promise<unknown>) => void;
  /** Called with what one compaction dropped, when it dropped something. */
  readonly onCompacted: (total: CompactTotals) => void;
}

/**
 * The runtime's retention (docs/retention.md): every `policy.everyMs` of the clock, compacts the
 * store — batches of {@link Store.compact} with the policy's cutoffs counted back from now,
 * while a batch was full, at most {@link MAX_BATCHES} in a row — so a long run's store stops
 * growing. One compaction at a time; stopped with the run.
 */
export class RetentionJob {
  private timer: unknown = null;
  private running = false;
  private stopped = false;

  constructor(
    private readonly policy: RetentionPolicy,
    private readonly deps: RetentionDeps,
  ) {}

  /** Whether the policy drops anything at all (a policy with no period is never scheduled). */
  static drops(policy: RetentionPolicy | undefined): policy is RetentionPolicy {
    return policy !== undefined && (policy.journalMs !== undefined || policy.turnOutputMs !== undefined || policy.actorsMs !== undefined);
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = null;
      if (!this.deps.active() || this.stopped) return;
      if (!this.running) this.deps.background('compact', this.compactNow());
      this.schedule();
    }, this.policy.everyMs);
  }

  /** One compaction: batches until none is full (or {@link MAX_BATCHES}); reports what it dropped. */
  private async compactNow(): Promise<void> {
    this.running = true;
    try {
      const total = await compactInBatches(
        () => this.deps.store.compact({ before: cutoffs(this.policy, this.deps.clock.now()) }),
        MAX_BATCHES,
        () => this.deps.active() && !this.stopped,
      );
      if (total.journalActors + total.turnOutputDispatches + total.actors > 0) this.deps.onCompacted(total);
    } finally {
      this.running = false;
    }
  }
}

/** What compaction batches dropped, summed (the counts of {@link CompactResult}). */
export type CompactTotals = Omit<CompactResult, 'more'>;

/**
 * Runs compaction batches (`batch`, e.g. one `Store.compact` call) until one is not full
 * (`more` false), `maxBatches` ran, or `keepGoing()` answers false before a batch.
 * @returns what they dropped, summed. @throws what a batch throws (earlier batches stay done).
 */
export async function compactInBatches(batch: () => Promise<CompactResult>, maxBatches: number, keepGoing: () => boolean = () => true): Promise<CompactTotals> {
  const total = { journalRows: 0, journalActors: 0, turnOutputRows: 0, turnOutputDispatches: 0, actors: 0 };
  for (let count = 0; count < maxBatches && keepGoing(); count++) {
    const result = await batch();
    total.journalRows += result.journalRows;
    total.journalActors += result.journalActors;
    total.turnOutputRows += result.turnOutputRows;
    total.turnOutputDispatches += result.turnOutputDispatches;
    total.actors += result.actors;
    if (!result.more) break;
  }
  return total;
}

/** The policy's cutoffs at `now` (ms since the epoch): finished before them, dropped. */
export function cutoffs(policy: Omit<RetentionPolicy, 'everyMs'>, now: number): { journal: number | null; turnOutput: number | null; actors: number | null } {
  const before = (ms: number | undefined) => (ms === undefined ? null : now - ms);
  return { journal: before(policy.journalMs), turnOutput: before(policy.turnOutputMs), actors: before(policy.actorsMs) };
}
