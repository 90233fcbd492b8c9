import type { Emitter } from 'mitt';
import type { DispatchContext } from '../../machines/dispatch.js';
import type { Clock } from '../../core/clock.js';
import type { NotificationOutbox } from '../../persistence/store.js';
import type { DispatchProjection, NotificationWrite, TransitionWrite } from '../../persistence/types.js';
import type { PersistedTransition } from '../actorHost.js';
import type { RuntimeEvents } from '../events.js';
import { unitOf } from '../plan/lookup.js';
import type { Plan } from '../plan/types.js';
import type { Progress } from '../progress.js';
import { countsAsFailure } from '../unitRules.js';
import { topState } from '../projections.js';
import { notificationRows, type NotificationCause } from './notificationRows.js';
import { Notifier } from './notifier.js';

/** Longest time a finished run spends delivering due notifications before it reports itself finished, in ms. */
export const NOTIFY_DRAIN_MS = 10_000;

/** What {@link NotificationJob} needs from the runtime. */
export interface NotificationJobOptions {
  readonly plan: () => Plan | undefined;
  /** The dispatch rows of a unit as the runtime knows them (committed and staged). */
  readonly dispatchesOf: (unitId: string) => readonly DispatchProjection[];
  readonly store: NotificationOutbox;
  readonly runtimeId: string;
  readonly clock: Clock;
  readonly events: Emitter<RuntimeEvents>;
  /** Runs a store call nobody awaits, its failure routed to the runtime's failure path. */
  readonly background: (operation: string, call: Promise<unknown>) => void;
}

/**
 * A runtime's notifications (`notify:` in the plan). What a single transition causes — a unit
 * that failed for good or got stuck — goes into the outbox in that transition's job
 * ({@link NotificationJob.forTransition}), so the two are durable together. What is derived from
 * many transitions — a milestone completed or failed, a budget exceeded — is queued when the
 * runtime derives it; a runtime restarted after a crash derives every milestone and budget
 * again at its first pass and queues them again, and their idempotency keys make that a no-op
 * when they were queued before. `run.finished` is queued, and what is due delivered, before the
 * run's `finished` resolves ({@link NotificationJob.finish}).
 */
export class NotificationJob {
  private readonly notifier: Notifier;
  private readonly unsubscribe: () => void;
  /** Units this process saw failed for good or stuck (their notifications are queued). */
  private readonly unitsEnded = new Set<string>();

  constructor(private readonly options: NotificationJobOptions) {
    const sinks = options.plan()?.notify ?? [];
    this.notifier = new Notifier({
      store: options.store,
      runtimeId: options.runtimeId,
      clock: options.clock,
      background: options.background,
      longestTimeoutMs: Math.max(1_000, ...sinks.map((sink) => sink.timeoutMs)),
      onDelivered: (n) => options.events.emit('notification.delivered', { key: n.key, event: n.event, attempts: n.attempts }),
      onFailed: (n, error, retryAt) => options.events.emit('notification.failed', { key: n.key, event: n.event, attempts: n.attempts, error, retryAt }),
    });
    const onMilestone = (e: RuntimeEvents['milestone.state']): void => {
      if (e.state === 'completed' || e.state === 'failed') {
        this.enqueue({ event: `milestone.${e.state}`, subject: e.milestoneId, at: options.clock.now(), details: { milestoneId: e.milestoneId, state: e.state } });
      }
    };
    const onBudget = (e: RuntimeEvents['budget.exceeded']): void => {
      this.enqueue({ event: 'budget.exceeded', subject: `${e.scope}:${e.id}`, at: options.clock.now(), details: { ...e } });
    };
    options.events.on('milestone.state', onMilestone);
    options.events.on('budget.exceeded', onBudget);
    this.unsubscribe = () => {
      options.events.off('milestone.state', onMilestone);
      options.events.off('budget.exceeded', onBudget);
    };
  }

  /** Starts delivering (the outbox may hold notifications an earlier run left undelivered). */
  start(): void {
    this.notifier.start();
  }

  /**
   * The notifications a transition causes, for its job: a dispatch that ended `stuck`, or
   * `failed` with no attempt left (not a transient API failure, which is retried without using
   * an attempt). Synchronous and never throws: it runs while XState processes the transition.
   */
  forTransition(write: TransitionWrite, report: PersistedTransition): readonly NotificationWrite[] | undefined {
    const plan = this.options.plan();
    if (plan?.notify === undefined || write.projection.kind !== 'dispatch') return undefined;
    const to = topState(report.to);
    if (report.from !== null && topState(report.from) === to) return undefined;
    if (to !== 'failed' && to !== 'stuck') return undefined;
    const row = write.projection.row;
    const c = report.context as DispatchContext;
    if (to === 'failed') {
      const unit = unitOf(plan, row.unitId);
      if (unit === undefined || !countsAsFailure(row)) return undefined;
      const failures = this.options.dispatchesOf(row.unitId).filter((d) => d.id !== row.id && countsAsFailure(d)).length + 1;
      if (failures < unit.maxAttempts) return undefined;
    }
    const details = {
      unitId: row.unitId,
      milestoneId: row.milestoneId,
      dispatchId: row.id,
      attempt: row.attempt,
      workerId: row.workerId,
      exitCode: row.exitCode,
      reason: row.reason ?? c.endReason ?? to,
    };
    return notificationRows(plan, { event: to === 'stuck' ? 'unit.stuck' : 'unit.failed', subject: row.id, at: write.at, details });
  }

  /**
   * After each pass: queues the notifications of units that are now `failed` or `stuck`, keyed
   * by their last dispatch as {@link NotificationJob.forTransition} keys them — so a failure
   * whose job carried its notification adds nothing, and one that did not (a runtime restored
   * after a crash, a failure decided from rows not yet read) is not lost.
   */
  onProgress(progress: Progress): void {
    const plan = this.options.plan();
    if (plan?.notify === undefined) return;
    for (const unit of progress.units.values()) {
      if ((unit.state !== 'failed' && unit.state !== 'stuck') || this.unitsEnded.has(unit.spec.id)) continue;
      this.unitsEnded.add(unit.spec.id);
      const last = unit.last;
      // A unit failed by its budget has no failed dispatch: `budget.exceeded` says it.
      if (last === null || (last.state !== 'failed' && last.state !== 'stuck')) continue;
      const details = {
        unitId: last.unitId,
        milestoneId: last.milestoneId,
        dispatchId: last.id,
        attempt: last.attempt,
        workerId: last.workerId,
        exitCode: last.exitCode,
        reason: last.reason ?? unit.failure ?? unit.state,
      };
      this.enqueue({ event: last.state === 'stuck' ? 'unit.stuck' : 'unit.failed', subject: last.id, at: last.endedAt ?? this.options.clock.now(), details });
    }
  }

  /** A job with notifications committed: deliver them now rather than at the next poll. */
  committed(): void {
    this.notifier.nudge();
  }

  /**
   * The run ended: queues `run.finished` and delivers what is due, for at most `drainMs`
   * (notifications waiting for a retry are left to the next run on this store).
   */
  async finish(result: { exitCode: number; reason: string }, progress: Progress, drainMs: number): Promise<void> {
    this.unsubscribe();
    const units = [...progress.units.values()];
    const rows = notificationRows(this.options.plan(), {
      event: 'run.finished',
      subject: this.options.runtimeId,
      at: this.options.clock.now(),
      details: {
        runtimeId: this.options.runtimeId,
        exitCode: result.exitCode,
        reason: result.reason,
        units: { total: units.length, completed: units.filter((u) => u.state === 'completed').length, failed: units.filter((u) => u.state === 'failed' || u.state === 'stuck').length },
      },
    });
    if (rows.length > 0) await this.options.store.enqueueNotifications(rows);
    await this.notifier.drain(this.options.clock.now() + drainMs);
  }

  /** Stops delivering without waiting (the store failed, or the runtime was fenced). */
  stop(): void {
    this.unsubscribe();
    this.notifier.stop();
  }

  private enqueue(cause: NotificationCause): void {
    const rows = notificationRows(this.options.plan(), cause);
    if (rows.length === 0) return;
    this.options.background('enqueueNotifications', this.options.store.enqueueNotifications(rows).then(() => this.notifier.nudge()));
  }
}
