import { describe, expect, it } from 'vitest';
import { useStore, type ConformanceBackend } from './backend.js';

/** The operator queue role: commands, switches, cancellations and messages. */
export function describeOperatorQueue(backend: ConformanceBackend): void {
  describe(`OperatorQueue (${backend.name})`, () => {
    const t = useStore(backend);

    it('queues commands, lets one runtime take each, and records the outcome once', async () => {
      const first = await t.store.enqueueCommand({ kind: 'stop', target: 'worker-1', now: 1 });
      const second = await t.store.enqueueCommand({ kind: 'stop', target: null, now: 2 });
      expect(second).toBeGreaterThan(first);
      expect((await t.store.listPendingCommands()).map((command) => command.id)).toEqual([first, second]);
      expect(await t.store.takeCommand(first, 'r1')).toBe(true);
      expect(await t.store.takeCommand(first, 'r2')).toBe(false);
      await t.store.completeCommand(first, 'done', 'stopped', 5);
      await t.store.completeCommand(first, 'not-found', 'late', 6);
      expect(await t.store.getCommand(first)).toEqual({ id: first, kind: 'stop', target: 'worker-1', createdAt: 1, takenBy: 'r1', doneAt: 5, outcome: 'done', message: 'stopped' });
      expect((await t.store.listPendingCommands()).map((command) => command.id)).toEqual([second]);
      expect(await t.store.takeCommand(first, 'r1'), 'a done command is not taken again').toBe(false);
      expect(await t.store.getCommand(999)).toBeUndefined();
    });

    it('sets, replaces and clears durable switches', async () => {
      expect(await t.store.getControl('paused')).toBeUndefined();
      await t.store.setControl('paused', 'paused', 3);
      await t.store.setControl('paused', 'again', 4);
      expect(await t.store.getControl('paused')).toEqual({ value: 'again', updatedAt: 4 });
      await t.store.setControl('paused', null, 5);
      expect(await t.store.getControl('paused')).toBeUndefined();
    });

    it('cancels a unit once and lists cancellations', async () => {
      expect(await t.store.cancelUnit('u1', 'operator', 7)).toBe(true);
      expect(await t.store.cancelUnit('u1', 'twice', 8)).toBe(false);
      expect(await t.store.listCanceledUnits()).toEqual([{ unitId: 'u1', reason: 'operator', canceledAt: 7 }]);
    });

    it('queues messages in order, per unit or all', async () => {
      const a = await t.store.enqueueMessage('u1', 'first', 1);
      const b = await t.store.enqueueMessage('u2', 'other', 2);
      const c = await t.store.enqueueMessage('u1', 'second', 3);
      expect((await t.store.listMessages()).map((message) => message.id)).toEqual([a, b, c]);
      expect(await t.store.listMessages('u1')).toEqual([
        { id: a, unitId: 'u1', text: 'first', createdAt: 1 },
        { id: c, unitId: 'u1', text: 'second', createdAt: 3 },
      ]);
    });
  });
}
