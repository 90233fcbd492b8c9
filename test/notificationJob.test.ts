import { createEmitter } from '../src/emitter.js';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../core/clock.js';
import type { DispatchProjection, NotificationRecord, NotificationWrite, TransitionWrite } from '../persistence/types.js';
import type { PersistedTransition } from '../src/actorHost.js';
import type { RuntimeEvents } from '../src/events.js';
import { NotificationJob } from '../src/notifications/notificationJob.js';
import { parsePlan } from '../src/plan/load.js';

/**
 * Which transitions carry notifications in their own job: a dispatch that ends stuck, or failed
 * with no attempt left; not a failure that will be retried, nor a transient API failure.
 */

const plan = parsePlan(
  ['version: 1', 'notify:', '  - webhook: http://127.0.0.1:9/hook', '  - command: [notify]', '    on: [unit.stuck]', 'milestones:', '  - id: m', '    units: [{ id: m/u, command: [x], maxAttempts: 2 }]'].join('\n'),
  { file: '/p/plan.yaml', cwd: '/p' },
);

function dispatch(id: string, attempt: number, state: string, extra: Partial<DispatchProjection> = {}): DispatchProjection {
  return {
    id, unitId: 'm/u', milestoneId: 'm', attempt, state, workerId: 'worker-1', fencingToken: 1, notBefore: null, startedAt: 1, endedAt: 2, pid: 9, pgid: 9,
    procStartTime: null, hostId: null, logPath: null, outcome: 'exited', exitCode: 3, signal: null, lastStderrLine: null, reason: 'exit code 3', messageId: null,
    sessionId: null, resumeMismatch: false, costUsd: null, inputTokens: null, outputTokens: null, transient: null, retryAt: null, ...extra,
  };
}

function job(earlier: DispatchProjection[]) {
  const outbox = {
    enqueueNotifications: (rows: readonly NotificationWrite[]) => Promise.resolve(rows.length),
    claimNotifications: () => Promise.resolve([] as NotificationRecord[]),
    recordNotificationAttempt: () => Promise.resolve(true),
    listNotifications: () => Promise.resolve([] as NotificationRecord[]),
  };
  return new NotificationJob({ plan: () => plan, dispatchesOf: () => earlier, store: outbox, runtimeId: 'runtime-1', clock: createManualClock(0), events: createEmitter<RuntimeEvents>(), background: () => undefined });
}

function ending(row: DispatchProjection, from = 'running'): [TransitionWrite, PersistedTransition] {
  const write = { actorId: row.id, kind: 'dispatch', at: 5, projection: { kind: 'dispatch', row } } as unknown as TransitionWrite;
  const report = { actorId: row.id, kind: 'dispatch', from, to: row.state, event: { type: 'TURN_ENDED' }, seq: 5, done: true, context: { endReason: null } } as unknown as PersistedTransition;
  return [write, report];
}

describe('NotificationJob.forTransition', () => {
  it('adds nothing for a failure that leaves an attempt', () => {
    expect(job([]).forTransition(...ending(dispatch('m/u#1', 1, 'failed')))).toBeUndefined();
  });

  it('adds one row per sink that takes unit.failed for the failure that used the last attempt, keyed by its dispatch', () => {
    const rows = job([dispatch('m/u#1', 1, 'failed')]).forTransition(...ending(dispatch('m/u#2', 2, 'failed'))) ?? [];
    expect(rows.map((row) => [row.event, row.key.replace(/[0-9a-f]{12}$/, 'sink'), JSON.parse(row.sink) as unknown])).toEqual([
      ['unit.failed', 'unit.failed:m/u#2:sink', { webhook: 'http://127.0.0.1:9/hook', timeoutMs: 30_000, maxAttempts: 8 }],
    ]);
    expect(JSON.parse(rows[0]?.body ?? '{}')).toEqual({
      key: rows[0]?.key, event: 'unit.failed', at: new Date(5).toISOString(), plan: '/p/plan.yaml',
      unitId: 'm/u', milestoneId: 'm', dispatchId: 'm/u#2', attempt: 2, workerId: 'worker-1', exitCode: 3, reason: 'exit code 3',
    });
  });

  it('does not count a transient API failure (retried without using an attempt), nor report a transition that stays failed', () => {
    expect(job([dispatch('m/u#1', 1, 'failed')]).forTransition(...ending(dispatch('m/u#2', 2, 'failed', { transient: 'overloaded' })))).toBeUndefined();
    expect(job([dispatch('m/u#1', 1, 'failed')]).forTransition(...ending(dispatch('m/u#2', 2, 'failed'), 'failed'))).toBeUndefined();
  });

  it('notifies every sink that takes unit.stuck when a unit gets stuck, whatever attempts are left', () => {
    const rows = job([]).forTransition(...ending(dispatch('m/u#1', 1, 'stuck'))) ?? [];
    expect(rows.map((row) => [row.event, Object.keys(JSON.parse(row.sink) as object)[0]])).toEqual([
      ['unit.stuck', 'webhook'],
      ['unit.stuck', 'command'],
    ]);
  });
});
