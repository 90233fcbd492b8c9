import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DispatchConflictError, StaleFencingTokenError } from '../core/errors.js';
import type { Store } from '../persistence/store.js';
import type { DispatchProjection, TransitionWrite } from '../persistence/types.js';

/**
 * The conformance suite every `Store` backend must pass (STYLE.md §10). `open` returns a
 * fresh, empty store; `reopen` a second connection to the same one.
 */
export function describeStoreConformance(name: string, factory: () => { open: () => Store; reopen: () => Store; dispose: () => void }) {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    let env: ReturnType<typeof factory>;

    beforeEach(() => {
      env = factory();
      store = env.open();
    });

    afterEach(() => {
      store.close();
      env.dispose();
    });

    it('numbers the journal rows of an actor 1, 2, 3 and keeps the latest snapshot in the actor row', () => {
      expect(store.persistTransition(dispatchWrite('d1', 'pending.backoff', 'xstate.init', { create: true }))).toBe(1);
      expect(store.persistTransition(dispatchWrite('d1', 'pending.ready', 'xstate.done.actor.backoff', { from: 'pending.backoff' }))).toBe(2);
      expect(store.persistTransition(dispatchWrite('d1', 'canceled', 'CANCEL', { status: 'done', from: 'pending.ready' }))).toBe(3);
      expect(store.getActor('d1')).toMatchObject({ state: 'canceled', status: 'done', seq: 3, kind: 'dispatch' });
      expect(store.journal('d1').map((row) => [row.seq, row.eventType, row.fromState, row.toState])).toEqual([
        [1, 'xstate.init', null, 'pending.backoff'],
        [2, 'xstate.done.actor.backoff', 'pending.backoff', 'pending.ready'],
        [3, 'CANCEL', 'pending.ready', 'canceled'],
      ]);
      expect(store.listDispatches('u1')).toMatchObject([{ id: 'd1', state: 'canceled' }]);
    });

    it('lists only active actors for restore and skips quarantined ones', () => {
      store.persistTransition(dispatchWrite('d1', 'pending.ready', 'xstate.init', { create: true }));
      store.persistTransition(dispatchWrite('d2', 'completed', 'xstate.init', { create: true, status: 'done', unitId: 'u2' }));
      store.persistTransition(dispatchWrite('d3', 'pending.ready', 'xstate.init', { create: true, unitId: 'u3' }));
      store.quarantineActor('d3', 'test');
      expect(store.listActiveActors().map((actor) => actor.id)).toEqual(['d1']);
      expect(store.listActiveActors('worker')).toEqual([]);
      expect(store.getActor('d3')?.status).toBe('quarantined');
    });

    it('keeps the event that caused each transition with its journal row', () => {
      store.persistTransition({ ...dispatchWrite('d1', 'pending.ready', 'xstate.init', { create: true }), event: '{"type":"xstate.init"}' });
      store.persistTransition({ ...dispatchWrite('d1', 'canceled', 'CANCEL', { status: 'done' }), event: '{"type":"CANCEL","reason":"operator"}' });
      expect(store.journal('d1').map((row) => row.event)).toEqual(['{"type":"xstate.init"}', '{"type":"CANCEL","reason":"operator"}']);
      expect([...store.queryJournal({ actorId: 'd1' })].map((row) => row.event)).toEqual([
        '{"type":"xstate.init"}',
        '{"type":"CANCEL","reason":"operator"}',
      ]);
    });

    it('lists every actor, active, done and quarantined, without snapshots', () => {
      store.persistTransition(dispatchWrite('d1', 'pending.ready', 'xstate.init', { create: true }));
      store.persistTransition(dispatchWrite('d2', 'completed', 'xstate.init', { create: true, status: 'done', unitId: 'u2' }));
      store.persistTransition(dispatchWrite('d3', 'pending.ready', 'xstate.init', { create: true, unitId: 'u3' }));
      store.quarantineActor('d3', 'test');
      const actors = store.listActors();
      expect(actors.map((actor) => [actor.id, actor.status, actor.state])).toEqual([
        ['d1', 'active', 'pending.ready'],
        ['d2', 'done', 'completed'],
        ['d3', 'quarantined', 'pending.ready'],
      ]);
      expect(actors[0]).not.toHaveProperty('snapshot');
    });

    it('moves the change counter on commits of its own and of another connection, the external one on the other’s only', () => {
      const other = env.reopen();
      try {
        const before = store.changeCounter();
        const externalBefore = store.externalChangeCounter();
        expect(store.changeCounter()).toBe(before);
        other.persistTransition(dispatchWrite('d1', 'pending.ready', 'xstate.init', { create: true }));
        const afterOther = store.changeCounter();
        const externalAfterOther = store.externalChangeCounter();
        expect(afterOther).toBeGreaterThan(before);
        expect(externalAfterOther).not.toBe(externalBefore);
        store.persistTransition(dispatchWrite('d2', 'pending.ready', 'xstate.init', { create: true, unitId: 'u2' }));
        expect(store.changeCounter()).toBeGreaterThan(afterOther);
        expect(store.externalChangeCounter(), 'own commits leave the external counter alone').toBe(externalAfterOther);
      } finally {
        other.close();
      }
    });

    it('refuses to create an actor that exists', () => {
      store.persistTransition(dispatchWrite('d1', 'pending.ready', 'xstate.init', { create: true }));
      expect(() => store.persistTransition(dispatchWrite('d1', 'pending.ready', 'xstate.init', { create: true }))).toThrow(
        DispatchConflictError,
      );
      expect(store.journal('d1')).toHaveLength(1);
    });

    it('refuses a second active dispatch of a unit with DispatchConflictError', () => {
      store.persistTransition(dispatchWrite('d1', 'pending.ready', 'xstate.init', { create: true }));
      expect(() => store.persistTransition(dispatchWrite('d2', 'pending.ready', 'xstate.init', { create: true }))).toThrow(
        DispatchConflictError,
      );
      expect(store.getActor('d2')).toBeUndefined();
    });

    it('checks the fence of writes made under a lease', () => {
      store.claimLease({ milestoneId: 'm', holderId: 'w1', leaseId: 'l1', ttlMs: 10, now: 0 });
      store.claimLease({ milestoneId: 'm', holderId: 'w2', leaseId: 'l2', ttlMs: 10, now: 100 });
      const stale = dispatchWrite('d1', 'claimed', 'CLAIM', { create: true, fence: { milestoneId: 'm', fencingToken: 1 } });
      expect(() => store.persistTransition(stale)).toThrow(StaleFencingTokenError);
      const current = dispatchWrite('d1', 'claimed', 'CLAIM', { create: true, fence: { milestoneId: 'm', fencingToken: 2 } });
      expect(store.persistTransition(current)).toBe(1);
    });

    it('grants, renews, releases and takes over leases with increasing fencing tokens', () => {
      const claim = (holderId: string, leaseId: string, now: number) =>
        store.claimLease({ milestoneId: 'm', holderId, leaseId, ttlMs: 100, now });
      expect(claim('w1', 'l1', 0)).toEqual({ granted: true, fencingToken: 1, expiresAt: 100 });
      expect(claim('w1', 'l1', 10)).toEqual({ granted: true, fencingToken: 1, expiresAt: 110 });
      expect(claim('w2', 'l2', 50)).toEqual({ granted: false, holderId: 'w1', fencingToken: 1, expiresAt: 110 });
      expect(store.renewLease({ milestoneId: 'm', fencingToken: 1, ttlMs: 100, now: 60 })).toEqual({ ok: true, expiresAt: 160 });
      expect(store.renewLease({ milestoneId: 'm', fencingToken: 1, ttlMs: 100, now: 160 })).toEqual({
        ok: false,
        reason: 'expired',
        currentToken: 1,
      });
      expect(claim('w2', 'l2', 160)).toEqual({ granted: true, fencingToken: 2, expiresAt: 260 });
      expect(store.releaseLease({ milestoneId: 'm', fencingToken: 1 })).toBe(false);
      expect(store.releaseLease({ milestoneId: 'm', fencingToken: 2 })).toBe(true);
      expect(store.releaseLease({ milestoneId: 'm', fencingToken: 2 })).toBe(true);
      expect(store.getLease('m')).toEqual({ milestoneId: 'm', holderId: null, leaseId: null, fencingToken: 2, expiresAt: null });
      expect(claim('w1', 'l3', 170)).toMatchObject({ granted: true, fencingToken: 3 });
    });

    it('sees writes of another connection to the same store', () => {
      const other = env.reopen();
      try {
        other.persistTransition(dispatchWrite('d1', 'pending.ready', 'xstate.init', { create: true }));
        expect(store.getActor('d1')?.state).toBe('pending.ready');
        expect(other.nextSequence('worker')).toBe(1);
        expect(store.nextSequence('worker')).toBe(2);
      } finally {
        other.close();
      }
    });

    it('keeps the last saved plan', () => {
      expect(store.loadPlan()).toBeUndefined();
      store.savePlan({ file: '/a.yaml', fingerprint: 'f1', body: '{}', savedAt: 1 });
      store.savePlan({ file: '/b.yaml', fingerprint: 'f2', body: '{"x":1}', savedAt: 2 });
      expect(store.loadPlan()).toEqual({ file: '/b.yaml', fingerprint: 'f2', body: '{"x":1}', savedAt: 2 });
    });
  });
}

function dispatchWrite(
  id: string,
  state: string,
  eventType: string,
  options: { create?: boolean; status?: 'active' | 'done'; unitId?: string; from?: string; fence?: TransitionWrite['fence'] } = {},
): TransitionWrite {
  const row: DispatchProjection = {
    id,
    unitId: options.unitId ?? 'u1',
    milestoneId: 'm',
    attempt: 1,
    state: state.split('.')[0] ?? state,
    workerId: null,
    fencingToken: options.fence?.fencingToken ?? null,
    notBefore: null,
    startedAt: null,
    endedAt: null,
    pid: null,
    pgid: null,
    procStartTime: null,
    logPath: null,
    outcome: null,
    exitCode: null,
    signal: null,
    lastStderrLine: null,
    reason: null,
    messageId: null,
    sessionId: null,
    resumeMismatch: false,
    costUsd: null,
    inputTokens: null,
    outputTokens: null,
  };
  return {
    actorId: id,
    kind: 'dispatch',
    machineId: 'statecrew.dispatch',
    machineVersion: 1,
    state,
    status: options.status ?? 'active',
    snapshot: JSON.stringify({ value: state }),
    eventType,
    fromState: options.from ?? null,
    at: 1,
    projection: { kind: 'dispatch', row },
    ...(options.create === true ? { create: true } : {}),
    ...(options.fence === undefined ? {} : { fence: options.fence }),
  };
}
