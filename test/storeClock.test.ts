import { describe, expect, it } from 'vitest';
import { createManualClock } from '../core/clock.js';
import { AlignedClock, MAX_SAMPLE_ROUND_TRIP_MS } from '../src/storeClock.js';

const HOST_NOW = 1_700_000_000_000;

/** A store whose clock runs `skewMs` ahead of the host's and answers after `roundTripMs` of the host's clock. */
function storeClock(host: ReturnType<typeof createManualClock>, skewMs: number, roundTripMs: number, replyAfter = roundTripMs / 2) {
  return async (): Promise<number> => {
    await Promise.resolve();
    host.advance(replyAfter);
    const reading = host.now() + skewMs;
    host.advance(roundTripMs - replyAfter);
    return reading;
  };
}

describe('AlignedClock', () => {
  it('reads the host clock unchanged until it has a sample, and when the store shares the host clock', async () => {
    const host = createManualClock(HOST_NOW);
    const clock = new AlignedClock(host);
    expect(clock.now()).toBe(HOST_NOW);
    await clock.sync(() => Promise.resolve(null));
    expect(clock.now()).toBe(HOST_NOW);
    expect(clock.estimate()).toBeNull();
  });

  it('adds the store clock offset, taking the store reading at the midpoint of the round trip', async () => {
    const host = createManualClock(HOST_NOW);
    const clock = new AlignedClock(host);
    await clock.sync(storeClock(host, 2_000, 40));
    expect(clock.estimate()).toEqual({ offsetMs: 2_000, errorMs: 20 });
    expect(clock.now()).toBe(host.now() + 2_000);
    await clock.sync(storeClock(host, -2_000, 10));
    expect(clock.now()).toBe(host.now() - 2_000);
  });

  it('errs by at most half the round trip when the store answers early or late in it', async () => {
    const host = createManualClock(HOST_NOW);
    for (const replyAfter of [0, 100]) {
      const clock = new AlignedClock(host);
      await clock.sync(storeClock(host, 500, 100, replyAfter));
      expect(Math.abs(clock.now() - (host.now() + 500))).toBeLessThanOrEqual(50);
    }
  });

  it('uses the sample with the shortest round trip of its window, and never one slower than the limit', async () => {
    const host = createManualClock(HOST_NOW);
    const clock = new AlignedClock(host, 3);
    await clock.sync(storeClock(host, 1_000, MAX_SAMPLE_ROUND_TRIP_MS + 2, 0));
    expect(clock.estimate()).toBeNull();
    await clock.sync(storeClock(host, 1_000, 4));
    await clock.sync(storeClock(host, 1_000, 300, 0)); // a slow sample that errs by 150 ms
    expect(clock.estimate()).toEqual({ offsetMs: 1_000, errorMs: 2 });
    await clock.sync(storeClock(host, 1_000, 300, 0));
    await clock.sync(storeClock(host, 1_000, 300, 0));
    // The quick sample left the window of 3: the best of what is left is used.
    expect(clock.estimate()).toEqual({ offsetMs: 850, errorMs: 150 });
  });

  it('runs timers on the host clock, unshifted', async () => {
    const host = createManualClock(HOST_NOW);
    const clock = new AlignedClock(host);
    await clock.sync(storeClock(host, 5_000, 0));
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(host.now()), 100);
    const start = host.now();
    host.advance(99);
    expect(fired).toEqual([]);
    host.advance(1);
    expect(fired).toEqual([start + 100]);
  });
});
