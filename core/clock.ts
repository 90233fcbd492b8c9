/**
 * Time as the runtime sees it. Every deadline, timeout and timestamp in statecrew goes
 * through a `Clock` so tests can drive time (vitest fake timers, or {@link createManualClock}).
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The wall clock: `Date.now()` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A clock whose time only moves when {@link ManualClock.advance} is called. */
export interface ManualClock extends Clock {
  /** Moves time forward by `ms` milliseconds, firing every timer that falls due, in order, each at its own due time. */
  advance(ms: number): void;
  /** Sets the current time (ms since epoch); must not go backwards. */
  set(at: number): void;
  /** Number of timers waiting. */
  pending(): number;
}

/** Creates a {@link ManualClock} starting at `start` (ms since epoch, default 1_700_000_000_000). */
export function createManualClock(start = 1_700_000_000_000): ManualClock {
  let current = start;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();

  /** Fires due timers one at a time, earliest first, with `now()` equal to each timer's due time. */
  function fireUntil(target: number): void {
    for (;;) {
      let dueId: number | undefined;
      let dueAt = Infinity;
      for (const [id, timer] of timers) {
        if (timer.at <= target && timer.at < dueAt) {
          dueAt = timer.at;
          dueId = id;
        }
      }
      if (dueId === undefined) break;
      const timer = timers.get(dueId);
      timers.delete(dueId);
      current = Math.max(current, dueAt);
      timer?.fn();
    }
    current = target;
  }

  return {
    now: () => current,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: current + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    advance(ms) {
      this.set(current + ms);
    },
    set(at) {
      if (at < current) throw new RangeError(`ManualClock cannot go back from ${current} to ${at}`);
      fireUntil(at);
    },
    pending: () => timers.size,
  };
}
