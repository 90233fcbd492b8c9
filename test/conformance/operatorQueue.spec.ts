import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../persistence/store.js';
import type { BackendStore, ConformanceBackend } from './backend.js';

/** The operator queue role: commands, switches, cancellations and messages. */
export function describeOperatorQueue(backend: ConformanceBackend): void {
  describe(`OperatorQueue (${backend.name})`, () => {
    let env: BackendStore;
    let store: Store;

    beforeEach(async () => {
      env = await backend.setup();
      store = env.open();
    });

    afterEach(async () => {
      await store.close();
      await env.teardown();
    });

    it('queues commands, lets one runtime take each, and records the outcome once', async () => {
      const first = await store.enqueueCommand({ kind: 'stop', target: 'worker-1', now: 1 });
      const second = await store.enqueueCommand({ kind: 'stop', target: null, now: 2 });
      expect(second).toBeGreaterThan(first);
      expect((await store.listPendingCommands()).map((command) => command.id)).toEqual([first, second]);
      expect(await store.takeCommand(first, 'r1')).toBe(true);
      expect(await store.takeCommand(first, 'r2')).toBe(false);
      await store.completeCommand(first, 'done', 'stopped', 5);
      await store.completeCommand(first, 'not-found', 'late', 6);
      expect(await store.getCommand(first)).toEqual({ id: first, kind: 'stop', target: 'worker-1', createdAt: 1, takenBy: 'r1', doneAt: 5, outcome: 'done', message: 'stopped' });
      expect((await store.listPendingCommands()).map((command) => command.id)).toEqual([second]);
      expect(await store.takeCommand(first, 'r1'), 'a done command is not taken again').toBe(false);
      expect(await store.getCommand(999)).toBeUndefined();
    });

    it('sets, replaces and clears durable switches', async () => {
      expect(await store.getControl('paused')).toBeUndefined();
      await store.setControl('paused', 'paused', 3);
      await store.setControl('paused', 'again', 4);
      expect(await store.getControl('paused')).toEqual({ value: 'again', updatedAt: 4 });
      await store.setControl('paused', null, 5);
      expect(await store.getControl('paused')).toBeUndefined();
    });

    it('cancels a unit once and lists cancellations', async () => {
      expect(await store.cancelUnit('u1', 'operator', 7)).toBe(true);
      expect(await store.cancelUnit('u1', 'twice', 8)).toBe(false);
      expect(await store.listCanceledUnits()).toEqual([{ unitId: 'u1', reason: 'operator', canceledAt: 7 }]);
    });

    it('queues messages in order, per unit or all', async () => {
      const a = await store.enqueueMessage('u1', 'first', 1);
      const b = await store.enqueueMessage('u2', 'other', 2);
      const c = await store.enqueueMessage('u1', 'second', 3);
      expect((await store.listMessages()).map((message) => message.id)).toEqual([a, b, c]);
      expect(await store.listMessages('u1')).toEqual([
        { id: a, unitId: 'u1', text: 'first', createdAt: 1 },
        { id: c, unitId: 'u1', text: 'second', createdAt: 3 },
      ]);
    });
  });
}
