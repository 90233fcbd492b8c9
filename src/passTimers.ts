import type { Clock } from '../core/clock.js';

/** What {@link PassTimers} needs from the runtime. */
export interface PassTimersOptions {
  readonly clock: Clock;
  /** Time between fallback polls, in ms (`RuntimeOptions.pollMs`, default 500). */
  readonly pollMs: number;
  /** False once the runtime is ending: no timer is set then, and a timer that fires does nothing. */
  readonly active: () => boolean;
  /** Asks for a scheduler pass ({@link PassLoop.request}). */
  readonly requestPass: () => void;
  /** Called at every poll before the pass is requested (the runtime looks for dead runtimes to take over). */
  readonly onPoll: () => void;
}

/**
 * The timers that wake the runtime's scheduler passes: a poll every `pollMs` (the fallback
 * for changes nobody announced: another process's commands, expired leases, dead runtimes),
 * one timer per instant a decision waits for (a backoff's end, a lease's expiry; timers for
 * the same instant are one), and the store's change notifications, when it has them.
 * @internal
 */
export class PassTimers {
  private readonly wakeTimers = new Map<number, unknown>();
  private pollTimer: unknown;
  private unwatch: () => void = () => undefined;

  constructor(private readonly options: PassTimersOptions) {}

  /** Starts polling, and passes on every change notification `watch` (a store's `watchChanges`) delivers. */
  start(watch: ((onChange: () => void) => () => void) | undefined): void {
    this.unwatch = watch?.(() => this.options.requestPass()) ?? (() => undefined);
    this.schedulePoll();
  }

  /** Requests a pass at `at` (ms since the epoch, on the runtime's clock); at once when it is past. */
  wakeAt(at: number): void {
    const { clock, active, requestPass } = this.options;
    if (this.wakeTimers.has(at) || !active()) return;
    const timer = clock.setTimeout(() => {
      this.wakeTimers.delete(at);
      requestPass();
    }, Math.max(0, at - clock.now()));
    this.wakeTimers.set(at, timer);
  }

  /** Clears every timer and stops the change notifications; nothing wakes a pass afterwards. */
  stop(): void {
    const { clock } = this.options;
    this.unwatch();
    for (const timer of this.wakeTimers.values()) clock.clearTimeout(timer);
    this.wakeTimers.clear();
    clock.clearTimeout(this.pollTimer);
  }

  private schedulePoll(): void {
    const { clock, pollMs, active, requestPass, onPoll } = this.options;
    if (!active()) return;
    this.pollTimer = clock.setTimeout(() => {
      if (!active()) return;
      onPoll();
      requestPass();
      this.schedulePoll();
    }, pollMs);
  }
}
