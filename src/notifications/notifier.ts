import type { Clock } from '../../core/clock.js';
import { ensureError } from '../../core/errors.js';
import type { NotificationOutbox } from '../../persistence/store.js';
import type { NotificationRecord } from '../../persistence/types.js';
import { deliverCommand, deliverWebhook, parseSink, type DeliveryResult } from './sinks.js';

/** Notifications claimed and delivered at once. */
const BATCH = 8;
/** First retry delay, doubled per attempt up to {@link MAX_RETRY_DELAY_MS}, in ms. */
export const FIRST_RETRY_DELAY_MS = 1_000;
/** Longest delay between two attempts at one notification, in ms (5 min). */
export const MAX_RETRY_DELAY_MS = 300_000;
/** What a claim adds to the sink's timeout: time to record the outcome before another runtime may take it, in ms. */
const CLAIM_MARGIN_MS = 5_000;

/** What {@link Notifier} needs. */
export interface NotifierOptions {
  /** The outbox, through the runtime's store policy (transient faults retried). */
  readonly store: NotificationOutbox;
  readonly runtimeId: string;
  readonly clock: Clock;
  /** Runs a store call nobody awaits, its failure routed to the runtime's failure path. */
  readonly background: (operation: string, call: Promise<unknown>) => void;
  /** A notification was delivered (`attempts` counts this one). Must not throw. */
  readonly onDelivered: (notification: NotificationRecord) => void;
  /** An attempt failed; `retryAt` is `null` when the notification was given up on. Must not throw. */
  readonly onFailed: (notification: NotificationRecord, error: string, retryAt: number | null) => void;
  /** How often the outbox is looked at for notifications that became due, in ms. @default 1_000 */
  readonly pollMs?: number;
  /** The longest timeout of the plan's sinks, in ms: a claim lasts that plus a margin. @default 30_000 */
  readonly longestTimeoutMs?: number;
}

/**
 * Delivers the store's outbox: claims due notifications (any runtime's: one that died left its
 * claims to lapse), delivers each to its webhook or command, and records the outcome. A failed
 * attempt is tried again after 1 s, 2 s, 4 s, … up to 5 min between attempts, until the sink's
 * `maxAttempts`; a refusal (HTTP 4xx other than 408/425/429, a command that cannot start) gives
 * it up at once. Delivery is at least once: a runtime killed after a delivery and before its
 * record delivers it again, with the same idempotency key.
 */
export class Notifier {
  private timer: unknown;
  /** Wake-ups for notifications waiting for their retry. */
  private readonly retryTimers = new Set<unknown>();
  private running: Promise<unknown> | undefined;
  private again = false;
  private stopped = false;
  /** Set by {@link Notifier.drain}, which then delivers alone. */
  private draining = false;

  constructor(private readonly options: NotifierOptions) {}

  /** Starts looking at the outbox every `pollMs`, and now. */
  start(): void {
    this.nudge();
  }

  /** Looks at the outbox now (something was queued). */
  nudge(): void {
    if (this.stopped || this.draining) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.options.clock.clearTimeout(this.timer);
    this.running = this.deliverDue()
      .catch((error: unknown) => this.options.background('notifications', Promise.reject(ensureError(error))))
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.nudge();
          return;
        }
        this.timer = this.options.clock.setTimeout(() => this.nudge(), this.options.pollMs ?? 1_000);
      });
  }

  /**
   * Delivers what is due, and what falls due before `deadline` (clock ms; a retry after a 503),
   * then stops; what is not delivered by then stays in the outbox for a later run.
   */
  async drain(deadline: number): Promise<void> {
    const { clock, store } = this.options;
    this.draining = true;
    clock.clearTimeout(this.timer);
    while (!this.stopped && clock.now() < deadline) {
      await this.running;
      this.running = this.deliverDue();
      await this.running.finally(() => {
        this.running = undefined;
      });
      const next = Math.min(...(await store.listNotifications()).filter((n) => n.state === 'pending').map((n) => n.nextAttemptAt));
      if (!Number.isFinite(next) || next >= deadline) break;
      await new Promise<void>((resolve) => clock.setTimeout(resolve, Math.max(0, next - clock.now())));
    }
    this.stop();
  }

  /** Stops claiming; attempts in flight finish and are recorded. */
  stop(): void {
    this.stopped = true;
    this.options.clock.clearTimeout(this.timer);
    for (const timer of this.retryTimers) this.options.clock.clearTimeout(timer);
    this.retryTimers.clear();
  }

  /** Claims and delivers batches until none is due; resolves how many notifications it attempted. */
  private async deliverDue(): Promise<number> {
    let attempted = 0;
    for (;;) {
      const now = this.options.clock.now();
      const claimed = await this.options.store.claimNotifications({ runtimeId: this.options.runtimeId, now, claimMs: this.claimMs(), limit: BATCH });
      attempted += claimed.length;
      await Promise.all(claimed.map((notification) => this.attempt(notification)));
      if (claimed.length < BATCH || this.stopped) return attempted;
    }
  }

  /** Long enough for the slowest sink's attempt and its record. */
  private claimMs(): number {
    return (this.options.longestTimeoutMs ?? 30_000) + CLAIM_MARGIN_MS;
  }

  private async attempt(notification: NotificationRecord): Promise<void> {
    const sink = parseSink(notification.sink);
    let result: DeliveryResult;
    if (sink === undefined) result = { delivered: false, error: `notification ${notification.key}: its stored sink is unreadable: ${notification.sink}`, retry: false };
    else if (sink.webhook !== undefined) {
      result = await deliverWebhook(sink.webhook, { key: notification.key, event: notification.event, body: notification.body, attempt: notification.attempts, timeoutMs: sink.timeoutMs });
    } else if (sink.command !== undefined) {
      result = await deliverCommand(sink.command, { key: notification.key, event: notification.event, body: notification.body, timeoutMs: sink.timeoutMs });
    } else result = { delivered: false, error: `notification ${notification.key}: no webhook or command`, retry: false };
    const now = this.options.clock.now();
    if (result.delivered) {
      if (await this.options.store.recordNotificationAttempt(notification.id, this.options.runtimeId, { delivered: true, at: now })) {
        this.options.onDelivered(notification);
      }
      return;
    }
    const maxAttempts = sink?.maxAttempts ?? 1;
    const retryAt = result.retry && notification.attempts < maxAttempts ? now + Math.min(FIRST_RETRY_DELAY_MS * 2 ** (notification.attempts - 1), MAX_RETRY_DELAY_MS) : null;
    if (await this.options.store.recordNotificationAttempt(notification.id, this.options.runtimeId, { delivered: false, error: result.error, retryAt })) {
      this.options.onFailed(notification, result.error, retryAt);
    }
    if (retryAt !== null && !this.stopped) {
      // Look again when it is due.
      const timer = this.options.clock.setTimeout(() => {
        this.retryTimers.delete(timer);
        this.nudge();
      }, Math.max(0, retryAt - this.options.clock.now()));
      this.retryTimers.add(timer);
    }
  }
}
