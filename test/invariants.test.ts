import { WORKSPACE_MACHINE_ID, WORKSPACE_MACHINE_VERSION, workspaceMachine } from '../machines/workspace.js';
import { inertActors } from '../src/testing/runPath.js';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assign, createMachine, fromCallback, fromPromise, type EventObject } from 'xstate';
import { DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION, dispatchMachine, type DeadlineInput } from '../machines/dispatch.js';
import { LEASE_MACHINE_ID, LEASE_MACHINE_VERSION, leaseMachine } from '../machines/lease.js';
import { SUPERVISOR_MACHINE_ID, SUPERVISOR_MACHINE_VERSION, supervisorMachine } from '../machines/supervisor.js';
import { WORKER_MACHINE_ID, WORKER_MACHINE_VERSION, workerMachine } from '../machines/worker.js';
import { isProcessAlive, listProcessGroup } from '../actors/processes.js';
import { ActorHost, type MachineDefinition } from '../src/actorHost.js';
import { createManualClock } from '../core/clock.js';
import { DispatchConflictError, StaleFencingTokenError, StoreFailedError } from '../core/errors.js';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import Database from 'better-sqlite3';
import type { Store } from '../persistence/store.js';
import type { ActorKind } from '../persistence/types.js';
import { fixture, openStore, tempDir } from './helpers/tempStore.js';

let dir: string;
let cleanup: () => void;
const stores: Store[] = [];
const raws: Database.Database[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-invariants-'));
});

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const db of raws.splice(0)) db.close();
  cleanup();
});

function store(): Store {
  const opened = openStore(dir);
  stores.push(opened);
  return opened;
}

/** A plain better-sqlite3 connection to the same file: code that bypasses the store. */
function raw(): Database.Database {
  const db = new Database(path.join(dir, 'store.db'));
  raws.push(db);
  return db;
}

/** Machines whose effects never complete on their own: events drive them. */
function inertDefinitions(): Record<ActorKind, MachineDefinition> {
  // Effects that never complete and never send: the test drives every event itself.
  const never = <Output, Input>() => fromPromise<Output, Input>(() => new Promise<Output>(() => undefined));
  const idle = <Event extends EventObject, Input>() => fromCallback<Event, Input>(() => () => undefined);
  return {
    supervisor: { kind: 'supervisor', machine: supervisorMachine, machineId: SUPERVISOR_MACHINE_ID, machineVersion: SUPERVISOR_MACHINE_VERSION },
    worker: {
      kind: 'worker',
      machine: workerMachine.provide({ actors: { prepareWorker: never(), runTurn: idle(), stopTurn: never() } }),
      machineId: WORKER_MACHINE_ID,
      machineVersion: WORKER_MACHINE_VERSION,
    },
    lease: {
      kind: 'lease',
      machine: leaseMachine.provide({ actors: { claimLease: never(), holdLease: idle(), releaseLease: never() } }),
      machineId: LEASE_MACHINE_ID,
      machineVersion: LEASE_MACHINE_VERSION,
    },
    dispatch: {
      kind: 'dispatch',
      machine: dispatchMachine.provide({ actors: { waitUntil: fromPromise<void, DeadlineInput>(() => Promise.resolve()) } }),
      machineId: DISPATCH_MACHINE_ID,
      machineVersion: DISPATCH_MACHINE_VERSION,
    },
    workspace: { kind: 'workspace', machine: inertActors(workspaceMachine), machineId: WORKSPACE_MACHINE_ID, machineVersion: WORKSPACE_MACHINE_VERSION },
  };
}

function host(target: Store, errors: Error[] = []) {
  const clock = createManualClock();
  return new ActorHost(target, clock, inertDefinitions(), {
    onTransition: () => undefined,
    onJobFailed: (error) => errors.push(error),
  });
}

function dispatchInput(unitId: string, sequence = 1) {
  return { dispatchId: `${unitId}#${sequence}`, unitId, milestoneId: 'm', attempt: sequence, notBefore: null };
}

/** Lets promise-based effects settle (the inert waitUntil resolves on the next microtasks). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('invariant 1: one holder per milestone lease', () => {
  it('grants a lease to exactly one of two contenders and increases the fencing token on takeover', async () => {
    const a = store();
    const b = store();
    const now = 1_000_000;
    const first = await a.claimLease({ milestoneId: 'm', holderId: 'w1', leaseId: 'l1', ttlMs: 30_000, now });
    const second = await b.claimLease({ milestoneId: 'm', holderId: 'w2', leaseId: 'l2', ttlMs: 30_000, now });
    expect(first).toEqual({ granted: true, fencingToken: 1, expiresAt: now + 30_000 });
    expect(second).toMatchObject({ granted: false, holderId: 'w1', fencingToken: 1 });

    const beforeExpiry = await b.claimLease({ milestoneId: 'm', holderId: 'w2', leaseId: 'l2', ttlMs: 30_000, now: now + 29_999 });
    expect(beforeExpiry.granted).toBe(false);
    const takeover = await b.claimLease({ milestoneId: 'm', holderId: 'w2', leaseId: 'l2', ttlMs: 30_000, now: now + 30_000 });
    expect(takeover).toMatchObject({ granted: true, fencingToken: 2 });
    expect((await a.renewLease({ milestoneId: 'm', fencingToken: 1, ttlMs: 30_000, now: now + 30_001 }))).toEqual({
      ok: false,
      reason: 'lost',
      currentToken: 2,
    });
  });

  it('never lets two processes hold the lease at the same time, and every new holder gets a higher token', async () => {
    const storePath = path.join(dir, 'store.db');
    await store().close();
    const rounds = 60;
    const run = (holder: string) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, [fixture('lease-contender.mjs'), storePath, holder, String(rounds)]);
        let out = '';
        let err = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
        child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${holder} exited ${code}: ${err}`))));
      });
    const outputs = await Promise.all(['p1', 'p2', 'p3'].map(run));
    const holds = outputs
      .flatMap((out) => out.trim().split('\n'))
      .map((line) => JSON.parse(line) as { holder: string; token: number; acquiredAt: number; releasedAt: number })
      .sort((x, y) => x.token - y.token);
    expect(holds).toHaveLength(rounds * 3);
    expect(holds.map((hold) => hold.token)).toEqual(Array.from({ length: rounds * 3 }, (_, i) => i + 1));
    for (let i = 1; i < holds.length; i++) {
      const previous = holds[i - 1]!;
      const current = holds[i]!;
      expect(current.acquiredAt).toBeGreaterThan(previous.releasedAt);
    }
  });
});

describe('invariant 2: one active dispatch per unit', () => {
  it('refuses a second active dispatch of a unit and writes nothing for it', async () => {
    const target = store();
    const errors: Error[] = [];
    const h = host(target, errors);
    h.create('dispatch', 'u#1', dispatchInput('u', 1));
    await settle();
    const second = h.create('dispatch', 'u#2', dispatchInput('u', 2));
    await expect(h.committed()).rejects.toBeInstanceOf(DispatchConflictError);
    expect(errors).toHaveLength(1);
    expect(second.ended, 'the refused actor was detached').toBe(true);
    expect((await target.getActor('u#2'))).toBeUndefined();
    expect((await target.journal('u#2'))).toEqual([]);
    expect((await target.listDispatches('u')).map((d) => d.id)).toEqual(['u#1']);
  });

  it('refuses it even when code writes the projection table directly', async () => {
    const target = store();
    const h = host(target);
    h.create('dispatch', 'u#1', dispatchInput('u', 1));
    await h.committed();
    const db = raw();
    const insert = () =>
      db
        .prepare(
          `INSERT INTO dispatches (id, unit_id, milestone_id, attempt, state, created_at, updated_at)
           VALUES ('rogue', 'u', 'm', 9, 'running', 0, 0)`,
        )
        .run();
    expect(insert).toThrow(/UNIQUE constraint failed: dispatches.unit_id/);
  });

  it('allows a new dispatch once the active one has ended', async () => {
    const target = store();
    const h = host(target);
    const first = h.create('dispatch', 'u#1', dispatchInput('u', 1));
    await settle();
    first.actor.send({ type: 'CANCEL', reason: 'test', at: 1 });
    await h.committed();
    expect((await target.getActor('u#1'))?.state).toBe('canceled');
    h.create('dispatch', 'u#2', dispatchInput('u', 2));
    await h.committed();
    expect((await target.getActor('u#2'))?.state).toBe('pending.ready');
  });

  it('drops an ended dispatch from the host once its final transition committed, not before', async () => {
    const target = store();
    const h = host(target);
    h.create('dispatch', 'u#1', dispatchInput('u', 1));
    h.create('dispatch', 'v#1', dispatchInput('v', 1));
    await settle();
    await h.committed();
    h.send('u#1', { type: 'CANCEL', reason: 'test', at: 1 });
    // Staged, not committed: still hosted (ended), so a refused job could detach and restore it.
    expect(h.get('u#1')?.ended).toBe(true);
    await h.committed();
    expect(h.get('u#1')).toBeUndefined();
    expect(h.list('dispatch').map((hosted) => hosted.id)).toEqual(['v#1']);
    expect(h.send('u#1', { type: 'CANCEL', reason: 'again', at: 2 })).toBe(false);
    expect((await target.getActor('u#1'))?.state).toBe('canceled');
  });
});

describe('invariant 3: fencing', () => {
  it('refuses a dispatch write under a stale fencing token and leaves the store as it was', async () => {
    const target = store();
    const errors: Error[] = [];
    const h = host(target, errors);
    await target.claimLease({ milestoneId: 'm', holderId: 'w1', leaseId: 'l1', ttlMs: 1_000, now: 0 });
    await target.claimLease({ milestoneId: 'm', holderId: 'w2', leaseId: 'l2', ttlMs: 1_000, now: 5_000 });
    const dispatch = h.create('dispatch', 'u#1', dispatchInput('u', 1));
    await settle();
    expect((await target.getActor('u#1'))?.state).toBe('pending.ready');
    const journalBefore = (await target.journal('u#1')).length;

    dispatch.actor.send({ type: 'CLAIM', workerId: 'w1', fencingToken: 1 });
    await expect(h.committed()).rejects.toBeInstanceOf(StaleFencingTokenError);

    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(StaleFencingTokenError);
    expect(errors[0]).toMatchObject({ milestoneId: 'm', token: 1, currentToken: 2 });
    expect((await target.getActor('u#1'))?.state).toBe('pending.ready');
    expect((await target.journal('u#1'))).toHaveLength(journalBefore);
    expect((await target.listDispatches('u'))[0]).toMatchObject({ state: 'pending', workerId: null });
    expect(dispatch.ended).toBe(true);
  });

  it('accepts the same write under the current token', async () => {
    const target = store();
    const h = host(target);
    const { fencingToken } = (await target.claimLease({ milestoneId: 'm', holderId: 'w2', leaseId: 'l2', ttlMs: 1_000, now: 0 })) as {
      fencingToken: number;
    };
    const dispatch = h.create('dispatch', 'u#1', dispatchInput('u', 1));
    await settle();
    dispatch.actor.send({ type: 'CLAIM', workerId: 'w2', fencingToken });
    await h.committed();
    expect((await target.listDispatches('u'))[0]).toMatchObject({ state: 'claimed', workerId: 'w2', fencingToken });
  });
});

describe('invariant 4: kill, verify, then record', () => {
  it('records a stopped worker only after its turn’s whole process group is verified gone', async () => {
    const plan = parsePlan(
      [
        'version: 1',
        'workers: 1',
        'defaults: { killGrace: 300ms }',
        'milestones:',
        '  - id: m',
        '    units:',
        `      - { id: m/hang, command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fixture('ignore-sigterm.mjs'))}] }`,
      ].join('\n'),
      { file: path.join(dir, 'plan.yaml'), cwd: dir },
    );
    const runtime = createRuntime({ store: path.join(dir, 'run.db') });
    const observed: { state: string; groupAlive: boolean }[] = [];
    let pgid = 0;
    runtime.events.on('unit.started', (event) => {
      pgid = event.pid;
      void runtime.stop('test stop', 130);
    });
    runtime.events.on('actor.transition', (event) => {
      if (event.kind !== 'worker' || pgid === 0) return;
      observed.push({ state: event.to, groupAlive: listProcessGroup(pgid).length > 0 });
    });
    await runtime.start(plan);
    const result = await runtime.finished;
    await runtime.store.close();

    expect(result.exitCode).toBe(130);
    expect(observed.map((o) => o.state)).toEqual(['stopping', 'stopped']);
    expect(observed[0]?.groupAlive).toBe(true);
    expect(observed[1]?.groupAlive).toBe(false);
    expect(isProcessAlive(pgid, null)).toBe(false);
  });
});

describe('invariant 5: one write path', () => {
  it('writes a transition only when the persisted snapshot changed, also for an actor just restored', async () => {
    // A supervisor-shaped machine (its projection reads runtimeId, pid, startedAt) whose SAME
    // event assigns the context it already has: a new snapshot object with the same JSON.
    const machine = createMachine({
      id: 'test.same',
      context: { runtimeId: 'runtime-1', pid: 1, startedAt: 0, n: 0 },
      initial: 'up',
      states: { up: { on: { SAME: { actions: assign({ n: ({ context }) => context.n }) }, BUMP: { actions: assign({ n: ({ context }) => context.n + 1 }) } } } },
    });
    const definitions = { ...inertDefinitions(), supervisor: { kind: 'supervisor', machine, machineId: 'test.same', machineVersion: 1 } } as const;
    const target = store();
    const first = new ActorHost(target, createManualClock(), definitions, { onTransition: () => undefined, onJobFailed: (error) => { throw error; } });
    first.create('supervisor', 's', {});
    first.send('s', { type: 'SAME' });
    await first.committed();
    expect((await target.journal('s')).map((row) => row.seq)).toEqual([1]);
    first.detachAll();

    const second = new ActorHost(target, createManualClock(), definitions, { onTransition: () => undefined, onJobFailed: (error) => { throw error; } });
    second.restore((await target.getActor('s'))!);
    second.send('s', { type: 'SAME' });
    second.send('s', { type: 'SAME' });
    await second.committed();
    expect((await target.journal('s')).map((row) => row.seq)).toEqual([1]);
    second.send('s', { type: 'BUMP' });
    second.send('s', { type: 'SAME' });
    await second.committed();
    expect((await target.journal('s')).map((row) => [row.seq, row.eventType])).toEqual([[1, 'xstate.init'], [2, 'BUMP']]);
    expect(JSON.parse((await target.getActor('s'))!.snapshot)).toMatchObject({ context: { n: 1 } });
  });

  it.each([
    ['the journal row', 'journal'],
    ['the projection row', 'dispatches'],
  ])('writes none of snapshot, journal and projection when %s fails', async (_label, table) => {
    const target = store();
    const h = host(target);
    h.create('dispatch', 'u#1', dispatchInput('u', 1));
    await settle();
    const before = {
      actor: (await target.getActor('u#1')),
      journal: (await target.journal('u#1')),
      projection: (await target.listDispatches('u')),
    };
    raw().exec(
      `CREATE TRIGGER inject_failure BEFORE ${table === 'journal' ? 'INSERT' : 'UPDATE'} ON ${table}
       WHEN ${table === 'journal' ? "NEW.event_type = 'CANCEL'" : "NEW.state = 'canceled'"}
       BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
    );
    const errors: Error[] = [];
    const h2 = host(target, errors);
    h.detachAll();
    const restored = h2.restore((await target.getActor('u#1'))!);
    await settle();
    restored.actor.send({ type: 'CANCEL', reason: 'boom', at: 2 });
    await expect(h2.committed()).rejects.toBeInstanceOf(StoreFailedError);

    expect(errors[0]).toBeInstanceOf(StoreFailedError);
    expect((errors[0] as StoreFailedError).cause).toBeInstanceOf(Error);
    expect((await target.getActor('u#1'))).toEqual(before.actor);
    expect((await target.journal('u#1'))).toEqual(before.journal);
    expect((await target.listDispatches('u'))).toEqual(before.projection);
  });
});
