import type { NotificationRecord, NotificationWrite } from '../types.js';

/**
 * The notification outbox role: notifications queued durably (by a transition's job, see
 * `TransitionWrite.notifications`, or here), then claimed by a runtime, delivered, and recorded.
 * A claim lapses after its time (the runtime died while delivering), and the notification is
 * delivered again: at least once, never lost. Times in ms since the Unix epoch.
 */
export interface NotificationOutbox {
  /** Queues notifications; a key already queued is left as it is. Resolves how many were new. */
  enqueueNotifications(notifications: readonly NotificationWrite[]): Promise<number>;
  /**
   * Claims for `runtimeId`, until `now + claimMs`, up to `limit` pending notifications that are
   * due (`nextAttemptAt <= now`) and not claimed by another runtime — or whose claim lapsed, or
   * was made by a runtime the registry says is dead (taken over) —
   * oldest first; counts an attempt on each. Resolves them as claimed.
   */
  claimNotifications(request: { runtimeId: string; now: number; claimMs: number; limit: number }): Promise<NotificationRecord[]>;
  /**
   * Records the outcome of the attempt `runtimeId` claimed: `delivered`; or failed, to try again
   * at `retryAt`, or given up on when `retryAt` is `null`. Resolves `false` (and writes nothing)
   * when the claim is no longer this runtime's.
   */
  recordNotificationAttempt(
    id: number,
    runtimeId: string,
    outcome: { readonly delivered: true; readonly at: number } | { readonly delivered: false; readonly error: string; readonly retryAt: number | null },
  ): Promise<boolean>;
  /** Every notification, oldest first. */
  listNotifications(): Promise<NotificationRecord[]>;
}
