import { describe, expect, it } from 'vitest';
import { collect, dispatchWrite, useStore, workerWrite, type ConformanceBackend } from './backend.js';

/**
 * The retention role: finished actors' journal, turn output and rows dropped by cutoff, in
 * batches, oldest first, never an active actor's, never a projection row; each category's
 * cursor says how far it got.
 */
export function describeRetention(backend: ConformanceBackend): void {
  describe(`StoreRetention (${backend.name})`, () => {
    const t = useStore(backend);

    /** A dispatch that finished at `at` (3 journal rows), with stored turn output and agent events. */
    async function finishedDispatch(id: string, at: number): Promise<void> {
      await t.store.commitJob([dispatchWrite(id, 1, 'pending', 'xstate.init', { unitId: `${id}-unit`, at: at - 2 })]);
      await t.store.commitJob([dispatchWrite(id, 2, 'running', 'START', { unitId: `${id}-unit`, at: at - 1 })]);
      await t.store.commitJob([dispatchWrite(id, 3, 'completed', 'FINISH', { unitId: `${id}-unit`, status: 'done', at })]);
      await t.store.appendTurnOutput({ dispatchId: id, offset: 0, bytes: Buffer.from('output') }, 1_000);
      await t.store.recordTurnEvents([{ dispatchId: id, line: 1, type: 'result', subtype: 'success', body: '{}' }]);
    }

    it('drops the journal of actors that finished before the cutoff, oldest first, in batches, and keeps everything else', async () => {
      await finishedDispatch('d1', 1_000);
      await finishedDispatch('d2', 2_000);
      await finishedDispatch('d3', 3_000);
      // Active, with a journal older than every cutoff: never touched.
      await t.store.commitJob([workerWrite('w1', 1, 'between_turns', { at: 10 })]);
      expect(await t.store.compactionState()).toEqual({ journal: { through: null }, turnOutput: { through: null }, actors: { through: null } });

      const first = await t.store.compact({ before: { journal: 2_500 }, limit: 1 });
      expect(first).toEqual({ journalActors: 1, journalRows: 3, turnOutputDispatches: 0, turnOutputRows: 0, actors: 0, more: true });
      expect(await t.store.journal('d1')).toEqual([]);
      expect(await t.store.journal('d2')).toHaveLength(3);
      expect((await t.store.compactionState()).journal).toEqual({ through: 1_000 });

      const second = await t.store.compact({ before: { journal: 2_500 }, limit: 1 });
      expect(second).toMatchObject({ journalActors: 1, journalRows: 3, more: true });
      // Nothing else finished before the cutoff: an empty batch, and no more.
      expect(await t.store.compact({ before: { journal: 2_500 }, limit: 1 })).toMatchObject({ journalActors: 0, more: false });
      expect((await t.store.compactionState()).journal).toEqual({ through: 2_000 });

      expect(await t.store.journal('d3')).toHaveLength(3);
      expect(await t.store.journal('w1')).toHaveLength(1);
      expect(await t.store.journalSize()).toBe(4);
      expect((await collect(t.store.queryJournal())).map((row) => row.actorId)).toEqual(['w1', 'd3', 'd3', 'd3']);
      // The actors, their projections and their turn output stay.
      expect((await t.store.getActor('d1'))?.status).toBe('done');
      expect((await t.store.listDispatches()).map((d) => [d.id, d.state])).toEqual([['d1', 'completed'], ['d2', 'completed'], ['d3', 'completed']]);
      expect(await t.store.readTurnOutput('d1')).toHaveLength(1);
    });

    it('drops turn output and agent events of finished dispatches, and finished actors\' rows, each by its own cutoff', async () => {
      await finishedDispatch('d1', 1_000);
      await finishedDispatch('d2', 2_000);
      await t.store.commitJob([workerWrite('w1', 1, 'between_turns', { at: 500 })]);
      await t.store.commitJob([workerWrite('w1', 2, 'completed', { status: 'done', at: 600 })]);

      const result = await t.store.compact({ before: { turnOutput: 1_500, actors: 700 } });
      expect(result).toEqual({ journalActors: 0, journalRows: 0, turnOutputDispatches: 1, turnOutputRows: 2, actors: 1, more: false });
      expect(await t.store.readTurnOutput('d1')).toEqual([]);
      expect(await t.store.turnEvents('d1')).toEqual([]);
      expect(await t.store.readTurnOutput('d2')).toHaveLength(1);
      expect(await t.store.getActor('w1')).toBeUndefined();
      expect((await t.store.listWorkers()).map((w) => [w.id, w.state])).toEqual([['w1', 'completed']]);
      // Journals are a category of their own: kept.
      expect(await t.store.journal('w1')).toHaveLength(2);
      expect(await t.store.compactionState()).toEqual({ journal: { through: null }, turnOutput: { through: 1_000 }, actors: { through: 600 } });

      // A later cutoff goes on from the cursor.
      expect(await t.store.compact({ before: { turnOutput: 5_000, actors: 5_000 } })).toMatchObject({ turnOutputDispatches: 1, actors: 2, more: false });
      expect((await t.store.listActors()).map((a) => a.id)).toEqual([]);
    });

    it('gives the freed space back (vacuum) with every row that was kept intact', async () => {
      await finishedDispatch('d1', 1_000);
      await t.store.commitJob([workerWrite('w1', 1, 'between_turns', { at: 10 })]);
      await t.store.compact({ before: { journal: 5_000, turnOutput: 5_000, actors: 5_000 } });
      await t.store.vacuum();
      expect(await t.store.journal('w1')).toHaveLength(1);
      expect((await t.store.listDispatches()).map((d) => d.id)).toEqual(['d1']);
      expect(await t.store.checkIntegrity()).toEqual([]);
    });

    it('refuses a limit that is not a positive integer, dropping nothing', async () => {
      await finishedDispatch('d1', 1_000);
      await expect(t.store.compact({ before: { journal: 5_000 }, limit: 0 })).rejects.toThrow(RangeError);
      expect(await t.store.journal('d1')).toHaveLength(3);
    });
  });
}
