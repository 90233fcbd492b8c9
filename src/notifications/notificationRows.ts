import { createHash } from 'node:crypto';
import type { NotificationWrite } from '../../persistence/types.js';
import type { NotifyEvent, NotifySpec, Plan } from '../plan/types.js';

/** A sink as stored with each notification: where it goes and how it is delivered. */
export interface StoredSink {
  readonly webhook?: string;
  readonly command?: readonly string[];
  /** ms per attempt. */
  readonly timeoutMs: number;
  readonly maxAttempts: number;
}

/**
 * What a notification is about. `subject` makes its idempotency key with the event: the
 * dispatch of a failed unit, the milestone, `scope:id` of a budget, the runtime of a run.
 */
export interface NotificationCause {
  readonly event: NotifyEvent;
  readonly subject: string;
  /** ms since the Unix epoch. */
  readonly at: number;
  /** Fields of the body besides `key`, `event`, `at` and `plan` (ids, reasons, figures). */
  readonly details: Readonly<Record<string, unknown>>;
}

/** A sink's id in keys: the first 12 hex digits of the SHA-256 of where it delivers (stable across runs while the sink is unchanged). */
function sinkId(sink: StoredSink): string {
  return createHash('sha256')
    .update(JSON.stringify({ webhook: sink.webhook ?? null, command: sink.command ?? null }))
    .digest('hex')
    .slice(0, 12);
}

/** The sinks of one `notify` entry: its webhook and its command are delivered (and retried) apart. */
function sinksOf(spec: NotifySpec): StoredSink[] {
  const common = { timeoutMs: spec.timeoutMs, maxAttempts: spec.maxAttempts };
  return [
    ...(spec.webhook === undefined ? [] : [{ webhook: spec.webhook, ...common }]),
    ...(spec.command === undefined ? [] : [{ command: spec.command, ...common }]),
  ];
}

/**
 * The outbox rows for one cause: one per sink (webhook or command) of the plan's `notify`
 * entries that take its event.
 * Key: `<event>:<subject>:<sink id>`; body (JSON): `{ key, event, at (ISO 8601), plan, …details }`.
 */
export function notificationRows(plan: Plan | undefined, cause: NotificationCause): NotificationWrite[] {
  return (plan?.notify ?? [])
    .filter((spec) => spec.on.includes(cause.event))
    .flatMap(sinksOf)
    .map((sink) => {
      const key = `${cause.event}:${cause.subject}:${sinkId(sink)}`;
      const body = { key, event: cause.event, at: new Date(cause.at).toISOString(), plan: plan?.file ?? null, ...cause.details };
      return { key, event: cause.event, sink: JSON.stringify(sink), body: JSON.stringify(body), createdAt: cause.at };
    });
}
