import { describe, expect, it } from 'vitest';
import { StoreFailedError } from '../../core/errors.js';
import { dispatchWrite, useStore, type ConformanceBackend } from './backend.js';

/** What the Store adds to its roles: the scheduler's one read, sequences, identity, change counters, integrity, close. */
export function describeStoreMeta(backend: ConformanceBackend): void {
  describe(`Store (${backend.name})`, () => {
    const t = useStore(backend);

    it('readSchedulerView reads all rows when told of no version, then only asked units until another connection commits', async () => {
      await t.store.commitJob([dispatchWrite('d1', 1, 'pending.ready', 'xstate.init'), dispatchWrite('d2', 1, 'pending.ready', 'xstate.init', { unitId: 'u2' })]);
      await t.store.claimLease({ milestoneId: 'm', holderId: 'w1', leaseId: 'l1', ttlMs: 10, now: 0 });
      await t.store.setControl('paused', 'paused', 1);
      await t.store.cancelUnit('u2', 'operator', 2);
      await t.store.enqueueMessage('u1', 'hello', 3);
      await t.store.enqueueCommand({ kind: 'stop', target: 'w1', now: 4 });
      const full = await t.store.readSchedulerView({ knownVersion: undefined, units: [] });
      expect(full.full).toBe(true);
      expect(full.dispatches.map((row) => row.id)).toEqual(['d1', 'd2']);
      expect(full.ledger).toMatchObject([{ milestoneId: 'm', holderId: 'w1', fencingToken: 1 }]);
      expect(full.controls.get('paused')).toEqual({ value: 'paused', updatedAt: 1 });
      expect(full.canceled).toEqual([{ unitId: 'u2', reason: 'operator', canceledAt: 2 }]);
      expect(full.messages).toMatchObject([{ unitId: 'u1', text: 'hello' }]);
      expect(full.commands).toMatchObject([{ kind: 'stop', target: 'w1' }]);
      expect(full.leases).toEqual([]);

      const partial = await t.store.readSchedulerView({ knownVersion: full.version, units: ['u2'] });
      expect(partial.full).toBe(false);
      expect(partial.dispatches.map((row) => row.id)).toEqual(['d2']);

      const other = t.env.open();
      try {
        await other.commitJob([dispatchWrite('d3', 1, 'pending.ready', 'xstate.init', { unitId: 'u3' })]);
      } finally {
        await other.close();
      }
      const after = await t.store.readSchedulerView({ knownVersion: full.version, units: [] });
      expect(after.full).toBe(true);
      expect(after.version).not.toBe(full.version);
      expect(after.dispatches.map((row) => row.id)).toEqual(['d1', 'd2', 'd3']);
    });

    it('reserveSequence hands out consecutive blocks that never overlap, across connections', async () => {
      const other = t.env.open();
      try {
        expect(await t.store.reserveSequence('worker', 3)).toBe(1);
        expect(await other.reserveSequence('worker', 2)).toBe(4);
        expect(await t.store.reserveSequence('worker', 1)).toBe(6);
        expect(await t.store.reserveSequence('lease', 1)).toBe(1);
        const blocks = await Promise.all(Array.from({ length: 10 }, (_, k) => (k % 2 === 0 ? t.store : other).reserveSequence('x', 5)));
        expect(new Set(blocks).size).toBe(10);
        expect(blocks.every((first) => (first - 1) % 5 === 0)).toBe(true);
        await expect(t.store.reserveSequence('x', 0)).rejects.toThrow(/at least 1/);
      } finally {
        await other.close();
      }
    });

    it(`readClock ${backend.hasOwnClock ? "reads the server's clock (here the same machine's, so within the round trip)" : 'is null: the store shares the host clock'}`, async () => {
      const before = Date.now();
      const clock = await t.store.readClock();
      const after = Date.now();
      if (!backend.hasOwnClock) {
        expect(clock).toBeNull();
        return;
      }
      // Microseconds on the server against milliseconds here: 1 ms either side.
      expect(clock).toBeGreaterThanOrEqual(before - 1);
      expect(clock).toBeLessThanOrEqual(after + 1);
    });

    it('storeId is fixed for the store and the same on every connection', async () => {
      const id = await t.store.storeId();
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      const other = t.env.open();
      try {
        expect(await other.storeId()).toBe(id);
      } finally {
        await other.close();
      }
    });

    it('moves the change counter on every commit, the external one on other connections’ commits only', async () => {
      const other = t.env.open();
      try {
        const before = await t.store.changeCounter();
        const externalBefore = await t.store.externalChangeCounter();
        expect(await t.store.changeCounter()).toBe(before);
        await other.commitJob([dispatchWrite('d1', 1, 'pending.ready', 'xstate.init')]);
        const afterOther = await t.store.changeCounter();
        const externalAfterOther = await t.store.externalChangeCounter();
        expect(afterOther).toBeGreaterThan(before);
        expect(externalAfterOther).not.toBe(externalBefore);
        await t.store.commitJob([dispatchWrite('d2', 1, 'pending.ready', 'xstate.init', { unitId: 'u2' })]);
        expect(await t.store.changeCounter()).toBeGreaterThan(afterOther);
        expect(await t.store.externalChangeCounter(), 'own commits leave the external counter alone').toBe(externalAfterOther);
      } finally {
        await other.close();
      }
    });

    it('checkIntegrity finds nothing wrong with a sound store', async () => {
      expect(await t.store.checkIntegrity()).toEqual([]);
    });

    it('close is idempotent, and a call after it fails with StoreFailedError', async () => {
      const other = t.env.open();
      await other.close();
      await other.close();
      await expect(other.getActor('x')).rejects.toBeInstanceOf(StoreFailedError);
      await expect(other.commitJob([dispatchWrite('d1', 1, 'pending.ready', 'xstate.init')])).rejects.toMatchObject({ recovery: 'stop' });
    });
  });
}
