import type { Clock } from '../core/clock.js';
import type { Store } from '../persistence/store.js';
import { ensureError, recoveryOf, StoreFailedError, StoreUnavailableError } from '../core/errors.js';

/** Options of {@link StorePolicy}. */
export interface StorePolicyOptions {
  readonly clock: Clock;
  /**
   * How long one call keeps retrying transient faults (`StoreUnavailableError`: a lock held by
   * another process, a dropped connection) before they count as fatal, in ms. Each SQLite
   * attempt itself first waits up to the store's `busyTimeoutMs` (5 s by default) for the
   * lock, asynchronously (persistence/lockWait.ts).
   * @default 60_000
   */
  readonly retryForMs?: number;
  /** First delay between attempts, ms; doubles per attempt up to {@link StorePolicyOptions.maxDelayMs}. @default 50 */
  readonly initialDelayMs?: number;
  /** @default 2_000 */
  readonly maxDelayMs?: number;
  /** Called before each wait: the store is unavailable and the call will be tried again after `delayMs`. Must not throw. */
  readonly onWaiting?: (wait: { operation: string; attempt: number; delayMs: number; error: Error }) => void;
  /**
   * Called for every fault that is not transient and not a refusal — recovery `stop`, or
   * transient faults that lasted past `retryForMs` — before the call rejects with it: the
   * runtime stops (exit code 4) from here, whoever made the call. Must not throw.
   */
  readonly onFatal?: (operation: string, error: Error) => void;
  /** Called when a call succeeded after waiting. Must not throw. */
  readonly onRecovered?: (recovered: { operation: string; attempts: number; waitedMs: number }) => void;
}

/**
 * The one failure policy every store call of a runtime goes through — in a job's commit, a
 * scheduler pass, the command poll, heartbeats, takeover, effects. Transient faults are retried
 * with exponential backoff and reported while they last; everything else is rethrown typed, for
 * the caller's single failure path to act on by its `recovery`: `fenced` (stop driving what was
 * refused) or `stop` (the runtime stops with exit code 4). Transient faults that outlast
 * `retryForMs` become a {@link StoreFailedError}.
 */
export class StorePolicy {
  private readonly retryForMs: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(private readonly options: StorePolicyOptions) {
    this.retryForMs = options.retryForMs ?? 60_000;
    this.initialDelayMs = options.initialDelayMs ?? 50;
    this.maxDelayMs = options.maxDelayMs ?? 2_000;
  }

  /**
   * Runs `call`, retrying it while it fails with a `retry` error.
   * @throws the call's own typed error when its recovery is not `retry`.
   * @throws StoreFailedError when transient faults lasted longer than `retryForMs`.
   */
  async run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const { clock } = this.options;
    const started = clock.now();
    let delay = this.initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await call();
        if (attempt > 1) this.options.onRecovered?.({ operation, attempts: attempt, waitedMs: clock.now() - started });
        return result;
      } catch (thrown) {
        const error = ensureError(thrown);
        const recovery = recoveryOf(error);
        if (recovery !== 'retry') {
          if (recovery === 'stop') this.options.onFatal?.(operation, error);
          throw error;
        }
        const waited = clock.now() - started;
        if (waited + delay > this.retryForMs) {
          const failure = new StoreFailedError(`${operation} (still unavailable after ${waited} ms and ${attempt} attempts)`, { cause: error });
          this.options.onFatal?.(operation, failure);
          throw failure;
        }
        const pause = error instanceof StoreUnavailableError ? Math.max(delay, error.retryAfterMs) : delay;
        this.options.onWaiting?.({ operation, attempt, delayMs: pause, error });
        await new Promise<void>((resolve) => clock.setTimeout(resolve, pause));
        delay = Math.min(delay * 2, this.maxDelayMs);
      }
    }
  }
}

/**
 * The store as the runtime uses it: every method that returns a Promise goes through `policy`
 * (retried while transient; typed when not). `queryJournal` and `close` and the `location`
 * pass through as they are.
 */
export function guardStore(store: Store, policy: StorePolicy): Store {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      let guarded = wrapped.get(key);
      if (guarded === undefined) {
        const method = value as (...args: unknown[]) => unknown;
        guarded =
          key === 'queryJournal' || key === 'close'
            ? method.bind(target)
            : (...args: unknown[]) => policy.run(String(key), () => method.apply(target, args) as Promise<unknown>);
        wrapped.set(key, guarded);
      }
      return guarded;
    },
  });
}
