import type { Clock } from '../core/clock.js';

/** A reading of the store's clock with the round trip it took, in ms. */
interface Sample {
  readonly offsetMs: number;
  readonly roundTripMs: number;
}

/** Samples whose round trip is longer than this are not used, in ms: their midpoint says too little. */
export const MAX_SAMPLE_ROUND_TRIP_MS = 500;

/**
 * The runtime's clock when its store has a clock of its own (PostgreSQL shared by several
 * hosts): the host's clock plus the estimated offset of the store's, so that every host writes
 * and compares heartbeats, lease expiries and deadlines on one time line, whatever its own
 * clock says. Timers are relative and run on the host's clock unchanged.
 *
 * The offset comes from reading the store's clock (`Store.readClock`) between two readings of
 * the host's (Cristian's algorithm): the store's time is taken to be at the midpoint of the
 * round trip, so one sample errs by at most half its round trip. Of the samples kept (the last
 * {@link AlignedClock.window}), the one with the shortest round trip is used. With no sample
 * yet, or a store that shares the host's clock (SQLite: `readClock` resolves `null`), the
 * offset is 0.
 */
export class AlignedClock implements Clock {
  private readonly samples: Sample[] = [];
  private offsetMs = 0;

  constructor(
    private readonly base: Clock,
    /** How many recent samples are kept. */
    readonly window = 8,
  ) {}

  now(): number {
    return this.base.now() + this.offsetMs;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    return this.base.setTimeout(fn, ms);
  }

  clearTimeout(handle: unknown): void {
    this.base.clearTimeout(handle);
  }

  /** The offset in use (store clock minus host clock), in ms, and half the round trip of its sample (its error bound); `null` before any sample. */
  estimate(): { offsetMs: number; errorMs: number } | null {
    const best = this.best();
    return best === undefined ? null : { offsetMs: best.offsetMs, errorMs: best.roundTripMs / 2 };
  }

  /**
   * Reads the store's clock once and updates the offset.
   * @throws whatever `readClock` throws (the caller's store policy decides about retries).
   */
  async sync(readClock: () => Promise<number | null>): Promise<void> {
    const sent = this.base.now();
    const storeNow = await readClock();
    const received = this.base.now();
    if (storeNow === null) return;
    const roundTripMs = received - sent;
    if (roundTripMs > MAX_SAMPLE_ROUND_TRIP_MS) return;
    this.samples.push({ offsetMs: storeNow - (sent + received) / 2, roundTripMs });
    if (this.samples.length > this.window) this.samples.shift();
    this.offsetMs = Math.round(this.best()?.offsetMs ?? 0);
  }

  private best(): Sample | undefined {
    let best: Sample | undefined;
    for (const sample of this.samples) if (best === undefined || sample.roundTripMs < best.roundTripMs) best = sample;
    return best;
  }
}
