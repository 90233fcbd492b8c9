import { describe, expect, it } from 'vitest';
import { StaleFencingTokenError } from '../../core/errors.js';
import type { NotificationWrite } from '../../persistence/types.js';
import { dispatchWrite, useStore, type ConformanceBackend } from './backend.js';

const note = (key: string, createdAt = 10): NotificationWrite => ({ key, event: 'unit.failed', sink: '{"webhook":"http://127.0.0.1:1/"}', body: `{"key":"${key}"}`, createdAt });

/** The notification outbox role: queued with a job or alone, claimed, delivered or retried, never lost. */
export function describeNotificationOutbox(backend: ConformanceBackend): void {
  describe(`NotificationOutbox (${backend.name})`, () => {
    const t = useStore(backend);

    it('writes a transition\'s notifications in its job: both or neither', async () => {
      await t.store.commitJob([{ ...dispatchWrite('d1', 1, 'failed', 'xstate.init', { status: 'done' }), notifications: [note('a')] }]);
      // A refused job (stale fencing token) leaves no notification behind.
      await t.store.claimLease({ milestoneId: 'm', holderId: 'w1', leaseId: 'l1', ttlMs: 1_000, now: 0 });
      const refused = { ...dispatchWrite('d2', 1, 'running', 'xstate.init', { unitId: 'u2', fence: { milestoneId: 'm', fencingToken: 9 } }), notifications: [note('b')] };
      await expect(t.store.commitJob([refused])).rejects.toBeInstanceOf(StaleFencingTokenError);
      expect((await t.store.listNotifications()).map((n) => [n.key, n.state, n.attempts, n.nextAttemptAt])).toEqual([['a', 'pending', 0, 10]]);
      expect(await t.store.listDispatches()).toHaveLength(1);
    });

    it('queues a key once, however often it is queued', async () => {
      expect(await t.store.enqueueNotifications([note('a'), note('b')])).toBe(2);
      expect(await t.store.enqueueNotifications([note('b', 99), note('c')])).toBe(1);
      await t.store.commitJob([{ ...dispatchWrite('d1', 1, 'failed', 'xstate.init'), notifications: [note('a', 50)] }]);
      expect((await t.store.listNotifications()).map((n) => [n.key, n.createdAt])).toEqual([
        ['a', 10],
        ['b', 10],
        ['c', 10],
      ]);
      expect(await t.store.enqueueNotifications([])).toBe(0);
    });

    it('lets one runtime claim a due notification, records its outcome, and takes it again when the claim lapsed', async () => {
      await t.store.enqueueNotifications([note('a'), note('b', 5_000)]);
      const other = t.env.open();
      try {
        const [mine, theirs] = await Promise.all([
          t.store.claimNotifications({ runtimeId: 'r1', now: 100, claimMs: 1_000, limit: 10 }),
          other.claimNotifications({ runtimeId: 'r2', now: 100, claimMs: 1_000, limit: 10 }),
        ]);
        // 'a' is due and goes to exactly one of them; 'b' is not due before 5,000.
        expect([...mine, ...theirs].map((n) => [n.key, n.attempts])).toEqual([['a', 1]]);
        const holder = mine.length === 1 ? 'r1' : 'r2';
        const id = [...mine, ...theirs][0]?.id ?? 0;
        expect(await t.store.recordNotificationAttempt(id, holder === 'r1' ? 'r2' : 'r1', { delivered: true, at: 150 }), 'not the holder').toBe(false);
        // The holder dies: its claim lapses at 1,100 and another runtime takes it (a second attempt).
        expect(await other.claimNotifications({ runtimeId: 'r3', now: 1_050, claimMs: 1_000, limit: 10 })).toEqual([]);
        const again = await other.claimNotifications({ runtimeId: 'r3', now: 1_101, claimMs: 1_000, limit: 1 });
        expect(again.map((n) => [n.key, n.attempts, n.takenBy])).toEqual([['a', 2, 'r3']]);
        expect(await t.store.recordNotificationAttempt(id, holder, { delivered: true, at: 1_102 }), 'the lapsed holder').toBe(false);
        expect(await t.store.recordNotificationAttempt(id, 'r3', { delivered: true, at: 1_103 })).toBe(true);
      } finally {
        await other.close();
      }
      const [a] = await t.store.listNotifications();
      expect(a).toMatchObject({ key: 'a', state: 'delivered', deliveredAt: 1_103, takenBy: null, attempts: 2 });
      expect((await t.store.claimNotifications({ runtimeId: 'r1', now: 6_000, claimMs: 1, limit: 10 })).map((n) => n.key), 'a delivered one is not claimed').toEqual(['b']);
    });

    it('takes over the claims of a runtime declared dead, before they lapse', async () => {
      await t.store.enqueueNotifications([note('a')]);
      await t.store.registerRuntime({ id: 'r1', host: 'h', hostId: 'h', pid: 1, procStartTime: null, now: 0, ttlMs: 1_000 });
      expect(await t.store.claimNotifications({ runtimeId: 'r1', now: 10, claimMs: 60_000, limit: 1 })).toHaveLength(1);
      expect(await t.store.claimNotifications({ runtimeId: 'r2', now: 20, claimMs: 60_000, limit: 1 }), 'r1 is running').toEqual([]);
      expect(await t.store.takeOverRuntime({ deadId: 'r1', heartbeatAt: 0, takerId: 'r2', now: 30, reason: 'dead' })).toEqual([]);
      expect((await t.store.claimNotifications({ runtimeId: 'r2', now: 40, claimMs: 60_000, limit: 1 })).map((n) => [n.key, n.attempts, n.takenBy])).toEqual([['a', 2, 'r2']]);
    });

    it('schedules a failed attempt again at its retry time, and gives up when told to', async () => {
      await t.store.enqueueNotifications([note('a'), note('b')]);
      const [a, b] = await t.store.claimNotifications({ runtimeId: 'r1', now: 10, claimMs: 1_000, limit: 10 });
      expect(await t.store.recordNotificationAttempt(a?.id ?? 0, 'r1', { delivered: false, error: 'HTTP 503', retryAt: 2_000 })).toBe(true);
      expect(await t.store.recordNotificationAttempt(b?.id ?? 0, 'r1', { delivered: false, error: 'HTTP 404: no such hook', retryAt: null })).toBe(true);
      expect((await t.store.listNotifications()).map((n) => [n.key, n.state, n.nextAttemptAt, n.lastError, n.takenBy])).toEqual([
        ['a', 'pending', 2_000, 'HTTP 503', null],
        ['b', 'failed', 10, 'HTTP 404: no such hook', null],
      ]);
      expect(await t.store.claimNotifications({ runtimeId: 'r1', now: 1_999, claimMs: 1_000, limit: 10 })).toEqual([]);
      expect((await t.store.claimNotifications({ runtimeId: 'r1', now: 2_000, claimMs: 1_000, limit: 10 })).map((n) => [n.key, n.attempts])).toEqual([['a', 2]]);
    });
  });
}
