import { describe, expect, it } from 'vitest';
import { ConcurrentWriteError, DispatchConflictError, OwnershipLostError, StaleFencingTokenError } from '../../core/errors.js';
import type { TransitionWrite, WorkspaceProjection } from '../../persistence/types.js';
import { collect, dispatchWrite, workerWrite, useStore, type ConformanceBackend } from './backend.js';

/** The checkpointer role: commitJob all or nothing, actor rows, journal, projections, quarantine. */
export function describeCheckpointer(backend: ConformanceBackend): void {
  describe(`ActorCheckpointer (${backend.name})`, () => {
    const t = useStore(backend);

    it('commitJob numbers an actor’s journal 1, 2, 3 and keeps the latest snapshot and projection', async () => {
      await t.store.commitJob([dispatchWrite('d1', 1, 'pending.backoff', 'xstate.init')]);
      await t.store.commitJob([dispatchWrite('d1', 2, 'pending.ready', 'xstate.done.actor.backoff', { from: 'pending.backoff' })]);
      await t.store.commitJob([dispatchWrite('d1', 3, 'canceled', 'CANCEL', { status: 'done', from: 'pending.ready' })]);
      expect(await t.store.getActor('d1')).toMatchObject({ state: 'canceled', status: 'done', seq: 3, kind: 'dispatch' });
      expect((await t.store.journal('d1')).map((row) => [row.seq, row.eventType, row.fromState, row.toState, row.event])).toEqual([
        [1, 'xstate.init', null, 'pending.backoff', '{"type":"xstate.init"}'],
        [2, 'xstate.done.actor.backoff', 'pending.backoff', 'pending.ready', '{"type":"xstate.done.actor.backoff"}'],
        [3, 'CANCEL', 'pending.ready', 'canceled', '{"type":"CANCEL"}'],
      ]);
      expect(await t.store.listDispatches('u1')).toMatchObject([{ id: 'd1', state: 'canceled' }]);
      expect(await t.store.journalSize()).toBe(3);
    });

    it('commitJob writes every transition of a job, of several actors, in one commit', async () => {
      await t.store.commitJob([
        workerWrite('w1', 1, 'booting'),
        dispatchWrite('d1', 1, 'pending.ready', 'xstate.init'),
        workerWrite('w1', 2, 'between_turns'),
        dispatchWrite('d2', 1, 'pending.ready', 'xstate.init', { unitId: 'u2' }),
      ]);
      // Oldest first, then by id: all three were created at the same time.
      expect((await t.store.listActors()).map((actor) => [actor.id, actor.seq])).toEqual([
        ['d1', 1],
        ['d2', 1],
        ['w1', 2],
      ]);
      expect(await t.store.listWorkers()).toMatchObject([{ id: 'w1', state: 'between_turns' }]);
    });

    it('a refused job leaves nothing behind: a stale fence late in the job undoes its earlier writes', async () => {
      await t.store.claimLease({ milestoneId: 'm', holderId: 'w1', leaseId: 'l1', ttlMs: 10, now: 0 });
      await t.store.claimLease({ milestoneId: 'm', holderId: 'w2', leaseId: 'l2', ttlMs: 10, now: 100 });
      const job = [
        workerWrite('w1', 1, 'booting'),
        dispatchWrite('d1', 1, 'pending.ready', 'xstate.init'),
        dispatchWrite('d1', 2, 'claimed', 'CLAIM', { fence: { milestoneId: 'm', fencingToken: 1 } }),
      ];
      await expect(t.store.commitJob(job)).rejects.toBeInstanceOf(StaleFencingTokenError);
      expect(await t.store.listActors()).toEqual([]);
      expect(await t.store.journalSize()).toBe(0);
      expect(await t.store.listWorkers()).toEqual([]);
      expect(await t.store.listDispatches()).toEqual([]);
      await t.store.commitJob([dispatchWrite('d1', 1, 'claimed', 'CLAIM', { fence: { milestoneId: 'm', fencingToken: 2 } })]);
      expect(await t.store.getActor('d1')).toMatchObject({ state: 'claimed', seq: 1 });
    });

    it('refuses a second active dispatch of a unit with DispatchConflictError, and the job with it', async () => {
      await t.store.commitJob([dispatchWrite('d1', 1, 'pending.ready', 'xstate.init')]);
      await expect(t.store.commitJob([workerWrite('w1', 1, 'booting'), dispatchWrite('d2', 1, 'pending.ready', 'xstate.init')])).rejects.toBeInstanceOf(
        DispatchConflictError,
      );
      expect(await t.store.getActor('d2')).toBeUndefined();
      expect(await t.store.getActor('w1')).toBeUndefined();
      await t.store.commitJob([dispatchWrite('d1', 2, 'canceled', 'CANCEL', { status: 'done' }), dispatchWrite('d2', 1, 'pending.ready', 'xstate.init')]);
      expect((await t.store.listDispatches('u1')).map((row) => [row.id, row.state])).toEqual([
        ['d1', 'canceled'],
        ['d2', 'pending'],
      ]);
    });

    it('a dispatch created twice is a DispatchConflictError; any other actor written out of sequence a ConcurrentWriteError', async () => {
      await t.store.commitJob([dispatchWrite('d1', 1, 'pending.ready', 'xstate.init'), workerWrite('w1', 1, 'booting')]);
      await expect(t.store.commitJob([dispatchWrite('d1', 1, 'pending.ready', 'xstate.init')])).rejects.toBeInstanceOf(DispatchConflictError);
      const stale = t.store.commitJob([workerWrite('w1', 3, 'between_turns')]);
      await expect(stale).rejects.toBeInstanceOf(ConcurrentWriteError);
      await expect(stale).rejects.toMatchObject({ actorId: 'w1', expected: 3, found: 1, recovery: 'fenced' });
      await expect(t.store.commitJob([workerWrite('w1', 1, 'booting')])).rejects.toBeInstanceOf(ConcurrentWriteError);
      expect(await t.store.journal('w1')).toHaveLength(1);
    });

    it('refuses writes of a runtime that no longer owns the actor, or that was declared dead', async () => {
      await t.store.registerRuntime({ id: 'r1', host: 'h', hostId: 'machine/boot/pid:1', pid: 1, procStartTime: null, now: 0, ttlMs: 10 });
      await t.store.registerRuntime({ id: 'r2', host: 'h', hostId: 'machine/boot/pid:1', pid: 2, procStartTime: null, now: 0, ttlMs: 10 });
      await t.store.commitJob([workerWrite('w1', 1, 'booting', { owner: 'r1' })]);
      await expect(t.store.commitJob([workerWrite('w1', 2, 'between_turns', { owner: 'r2' })])).rejects.toBeInstanceOf(OwnershipLostError);
      expect(await t.store.takeOverRuntime({ deadId: 'r1', heartbeatAt: 0, takerId: 'r2', now: 50, reason: 'test' })).toEqual(['w1']);
      await expect(t.store.commitJob([workerWrite('w2', 1, 'booting', { owner: 'r1' })])).rejects.toBeInstanceOf(OwnershipLostError);
      await t.store.commitJob([workerWrite('w1', 2, 'between_turns', { owner: 'r2' })]);
      expect(await t.store.getActor('w1')).toMatchObject({ owner: 'r2', seq: 2 });
    });

    it('commitJob of no writes resolves and writes nothing', async () => {
      await t.store.commitJob([]);
      expect(await t.store.journalSize()).toBe(0);
    });

    it('lists active actors (all or of a kind), owned ones, and every actor without its snapshot', async () => {
      await t.store.registerRuntime({ id: 'r1', host: 'h', hostId: 'machine/boot/pid:1', pid: 1, procStartTime: null, now: 0, ttlMs: 10 });
      await t.store.commitJob([
        dispatchWrite('d1', 1, 'pending.ready', 'xstate.init', { owner: 'r1' }),
        dispatchWrite('d2', 1, 'completed', 'xstate.init', { status: 'done', unitId: 'u2', owner: 'r1' }),
        dispatchWrite('d3', 1, 'pending.ready', 'xstate.init', { unitId: 'u3' }),
        workerWrite('w1', 1, 'booting', { owner: 'r1' }),
      ]);
      await t.store.quarantineActor('d3', 'unreadable', 9);
      expect((await t.store.listActiveActors()).map((actor) => actor.id)).toEqual(['d1', 'w1']);
      expect((await t.store.listActiveActors('worker')).map((actor) => actor.id)).toEqual(['w1']);
      expect((await t.store.listActiveActors('lease')).map((actor) => actor.id)).toEqual([]);
      expect((await t.store.listOwnedActors('r1')).map((actor) => actor.id)).toEqual(['d1', 'w1']);
      const all = await t.store.listActors();
      expect(all.map((actor) => [actor.id, actor.status])).toEqual([
        ['d1', 'active'],
        ['d2', 'done'],
        ['d3', 'quarantined'],
        ['w1', 'active'],
      ]);
      expect(all[0]).not.toHaveProperty('snapshot');
      expect(await t.store.getActor('nope')).toBeUndefined();
    });

    it('quarantineActor keeps the row, journals why, marks its projection and frees its unit', async () => {
      await t.store.commitJob([dispatchWrite('d1', 1, 'pending.ready', 'xstate.init')]);
      await t.store.quarantineActor('d1', 'corrupt snapshot', 42);
      expect(await t.store.getActor('d1')).toMatchObject({ status: 'quarantined', seq: 2 });
      expect((await t.store.journal('d1')).at(-1)).toMatchObject({ seq: 2, eventType: 'statecrew.quarantine', toState: 'quarantined', at: 42 });
      expect(await t.store.listQuarantined()).toEqual([{ id: 'd1', kind: 'dispatch', reason: 'corrupt snapshot' }]);
      expect((await t.store.listDispatches('u1'))[0]?.state).toBe('quarantined');
      await t.store.commitJob([dispatchWrite('d2', 1, 'pending.ready', 'xstate.init')]);
      await t.store.quarantineActor('missing', 'nothing', 1);
      expect(await t.store.listQuarantined()).toHaveLength(1);
    });

    it('queryJournal filters by actor, kind, time and limit, oldest first, with snapshots on request', async () => {
      await t.store.commitJob([workerWrite('w1', 1, 'booting', { at: 10 }), dispatchWrite('d1', 1, 'pending.ready', 'xstate.init', { at: 20 })]);
      await t.store.commitJob([workerWrite('w1', 2, 'between_turns', { at: 30 }), dispatchWrite('d1', 2, 'canceled', 'CANCEL', { at: 40, status: 'done' })]);
      const ids = (rows: { actorId: string; seq: number }[]) => rows.map((row) => `${row.actorId}#${row.seq}`);
      expect(ids(await collect(t.store.queryJournal()))).toEqual(['w1#1', 'd1#1', 'w1#2', 'd1#2']);
      expect(ids(await collect(t.store.queryJournal({ actorId: 'd1' })))).toEqual(['d1#1', 'd1#2']);
      expect(ids(await collect(t.store.queryJournal({ kind: 'worker' })))).toEqual(['w1#1', 'w1#2']);
      expect(ids(await collect(t.store.queryJournal({ since: 25 })))).toEqual(['w1#2', 'd1#2']);
      expect(ids(await collect(t.store.queryJournal({ limit: 2 })))).toEqual(['w1#2', 'd1#2']);
      const [first] = await collect(t.store.queryJournal({ snapshots: true, limit: 1 }));
      expect(first?.snapshot).toContain('canceled');
      expect((await collect(t.store.queryJournal({ limit: 1 })))[0]).not.toHaveProperty('snapshot');
    });

    it('iterates a large journal lazily, in order, with other calls on the connection between pages', async () => {
      const total = 2_345;
      for (let start = 0; start < total; start += 500) {
        const job = Array.from({ length: Math.min(500, total - start) }, (_, k) => workerWrite(`w${String(start + k).padStart(5, '0')}`, 1, 'booting', { at: 1_000 }));
        await t.store.commitJob(job);
      }
      let seen = 0;
      let previous = '';
      for await (const row of t.store.queryJournal()) {
        expect(row.actorId > previous).toBe(true);
        previous = row.actorId;
        seen++;
        // Another call in the middle of the iteration: the connection is free between pages.
        if (seen % 700 === 0) expect(await t.store.getActor(row.actorId)).toMatchObject({ id: row.actorId });
      }
      expect(seen).toBe(total);
      const early = t.store.queryJournal()[Symbol.asyncIterator]();
      expect((await early.next()).value).toMatchObject({ actorId: 'w00000' });
      await early.return?.();
    });

    it('lists worker, dispatch, lease and supervisor projections', async () => {
      await t.store.commitJob([workerWrite('w1', 1, 'booting'), dispatchWrite('d1', 1, 'pending.ready', 'xstate.init')]);
      expect(await t.store.listWorkers()).toEqual([{ id: 'w1', state: 'booting', milestoneId: null, unitId: null, dispatchId: null, fencingToken: null, pid: null, turns: 0 }]);
      expect(await t.store.listDispatches()).toHaveLength(1);
      expect(await t.store.listDispatches('other')).toEqual([]);
      expect(await t.store.listLeases()).toEqual([]);
      expect(await t.store.listSupervisors()).toEqual([]);
      expect(await t.store.listWorkspaces()).toEqual([]);
    });

    it('round-trips what a stream-json turn reported on its dispatch row: session, cost, tokens, a transient failure and its reset time', async () => {
      const write = dispatchWrite('d1', 1, 'failed', 'FINISH', { status: 'done' });
      if (write.projection?.kind !== 'dispatch') throw new Error('expected a dispatch projection');
      const row = {
        ...write.projection.row,
        outcome: 'exited',
        exitCode: 1,
        sessionId: 's-1',
        resumeMismatch: true,
        costUsd: 0.0123456789,
        inputTokens: 1200,
        outputTokens: 34,
        transient: 'rate_limited' as const,
        retryAt: 1_796_266_177_000,
        reason: 'You have hit your limit',
      };
      await t.store.commitJob([{ ...write, projection: { kind: 'dispatch', row } }]);
      expect(await t.store.listDispatches('u1')).toEqual([expect.objectContaining({ ...row, endedAt: null })]);
    });

    it('writes a workspace projection (its fix as JSON), fenced by its milestone lease, and lists it in the scheduler view', async () => {
      await t.store.claimLease({ milestoneId: 'm', holderId: 'w1', leaseId: 'm@lease-1', ttlMs: 60_000, now: 0 });
      const fix = { id: 'm#check#1', kind: 'check' as const, input: 'FAIL: 1 test\n"quoted"', done: false };
      await t.store.commitJob([workspaceWrite('m@workspace-1', 1, 'preparing', 1, null)]);
      await t.store.commitJob([workspaceWrite('m@workspace-1', 2, 'ready', 1, fix)]);
      const row = {
        id: 'm@workspace-1', milestoneId: 'm', fencingToken: 1, state: 'ready', path: '/w/m', branch: 'statecrew/m', base: 'main',
        baseCommit: 'a'.repeat(40), head: 'b'.repeat(40), mergedCommit: null, reason: null, fixTurnsUsed: 1, fixPending: true, fix,
      };
      expect(await t.store.listWorkspaces()).toEqual([row]);
      expect((await t.store.readSchedulerView({ knownVersion: undefined, units: [] })).workspaces).toEqual([row]);
      await t.store.claimLease({ milestoneId: 'm', holderId: 'w2', leaseId: 'm@lease-2', ttlMs: 60_000, now: 100_000 });
      await expect(t.store.commitJob([workspaceWrite('m@workspace-1', 3, 'recording', 1, fix)])).rejects.toBeInstanceOf(StaleFencingTokenError);
      // Its release is not fenced: a workspace whose lease passed on can still end.
      await t.store.commitJob([{ ...workspaceWrite('m@workspace-1', 3, 'released', 1, fix, 'done'), fence: undefined }]);
      expect(await t.store.listWorkspaces()).toMatchObject([{ state: 'released' }]);
    });
  });
}

function workspaceWrite(
  id: string,
  seq: number,
  state: string,
  token: number,
  fix: { id: string; kind: 'check' | 'conflict'; input: string; done: boolean } | null,
  status: 'active' | 'done' = 'active',
): TransitionWrite {
  const row: WorkspaceProjection = {
    id, milestoneId: 'm', fencingToken: token, state, path: '/w/m', branch: 'statecrew/m', base: 'main',
    baseCommit: 'a'.repeat(40), head: 'b'.repeat(40), mergedCommit: null, reason: null, fixTurnsUsed: fix === null ? 0 : 1, fixPending: fix !== null && !fix.done, fix,
  };
  return {
    actorId: id, kind: 'workspace', machineId: 'statecrew.workspace', machineVersion: 1, state, status,
    snapshot: JSON.stringify({ value: state, context: { workspaceId: id } }),
    eventType: seq === 1 ? 'xstate.init' : 'EVENT', fromState: null, at: seq, seq,
    projection: { kind: 'workspace', row },
    fence: { milestoneId: 'm', fencingToken: token },
  };
}
