import type { Store } from '../persistence/store.js';

/**
 * Values of the store's named counters reserved ahead ({@link Store.reserveSequence}), so that a
 * scheduler pass, which decides synchronously, can name new workers and leases without a round
 * trip per id. A pass asks {@link SequenceBlocks.ensure} for what it may need before it reads
 * the store, and {@link SequenceBlocks.take}s them while deciding. Values not taken when the
 * runtime ends are never used: ids may skip, never repeat.
 */
export class SequenceBlocks {
  private readonly free = new Map<string, number[]>();

  constructor(private readonly store: Pick<Store, 'reserveSequence'>) {}

  /** How many values of `name` are reserved and not yet taken. */
  available(name: string): number {
    return this.free.get(name)?.length ?? 0;
  }

  /** Reserves more values of `name` (one store call) until `count` are available. */
  async ensure(name: string, count: number): Promise<void> {
    const missing = count - this.available(name);
    if (missing <= 0) return;
    const first = await this.store.reserveSequence(name, missing);
    const values = this.free.get(name) ?? [];
    for (let value = first; value < first + missing; value++) values.push(value);
    this.free.set(name, values);
  }

  /** Takes the next reserved value of `name`; `undefined` when none is left (ensure more first). */
  take(name: string): number | undefined {
    return this.free.get(name)?.shift();
  }
}
