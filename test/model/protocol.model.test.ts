import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { getSimplePaths } from 'xstate/graph';
import { createManualClock } from '../../core/clock.js';
import { StaleFencingTokenError } from '../../core/errors.js';
import type { TurnAssignment, TurnResult, TurnStarted } from '../../machines/turn.js';
import { openStoreAt } from '../../persistence/openStore.js';
import type { Store } from '../../persistence/store.js';
import { ActorHost } from '../../src/actorHost.js';
import { handleOf } from '../../src/actorHandles.js';
import { topState } from '../../src/projections.js';
import { inertDefinitions } from '../helpers/modelPaths.js';
import { tempDir } from '../helpers/tempStore.js';

/**
 * The protocol between the machines, not each alone: a worker, its milestone lease and a
 * dispatch of the milestone's unit, driven together along every path of a model of the
 * protocol (`xstate/graph`), each step being what the scheduler or an effect sends, on the
 * real actor host and a SQLite file, with a crash-and-restore (new host, new connection,
 * every active actor restored from its row) after any step. After every step the store must
 * hold the joint state the model names, and the invariants that tie the three together.
 */

/** The protocol as the scheduler runs it, including a takeover of the lease before the claim. */
const protocol = createMachine({
  id: 'protocol',
  initial: 'start',
  states: {
    start: { on: { BOOT: 'booted' } },
    booted: { on: { CLAIM_LEASE: 'leaseHeld' } },
    leaseHeld: { on: { GRANT: 'granted' } },
    granted: { on: { CREATE_DISPATCH: 'ready' } },
    ready: { on: { CLAIM: 'claimed', TAKE_OVER: 'takenOver' } },
    takenOver: { on: { CLAIM_STALE: 'refused' } },
    refused: { type: 'final' },
    claimed: { on: { ASSIGN: 'assigned' } },
    assigned: { on: { TURN_STARTED: 'started' } },
    started: { on: { START: 'running' } },
    running: { on: { TURN_ENDED: 'ended', TURN_LOST: 'lost' } },
    ended: { on: { FINISH: 'completed' } },
    completed: { on: { RELEASE: 'released' } },
    released: { type: 'final' },
    lost: { on: { ABANDON: 'abandoned' } },
    abandoned: { type: 'final' },
  },
});

/** The persisted states each protocol state must leave (top-level states; `-` for no row yet). */
const EXPECTED: Record<string, { worker: string; lease: string; dispatch: string }> = {
  booted: { worker: 'between_turns', lease: '-', dispatch: '-' },
  leaseHeld: { worker: 'between_turns', lease: 'held', dispatch: '-' },
  granted: { worker: 'between_turns', lease: 'held', dispatch: '-' },
  ready: { worker: 'between_turns', lease: 'held', dispatch: 'pending' },
  takenOver: { worker: 'between_turns', lease: 'held', dispatch: 'pending' },
  refused: { worker: 'between_turns', lease: 'held', dispatch: 'pending' },
  claimed: { worker: 'between_turns', lease: 'held', dispatch: 'claimed' },
  assigned: { worker: 'in_turn', lease: 'held', dispatch: 'claimed' },
  started: { worker: 'in_turn', lease: 'held', dispatch: 'claimed' },
  running: { worker: 'in_turn', lease: 'held', dispatch: 'running' },
  ended: { worker: 'between_turns', lease: 'held', dispatch: 'running' },
  completed: { worker: 'between_turns', lease: 'held', dispatch: 'completed' },
  released: { worker: 'between_turns', lease: 'released', dispatch: 'completed' },
  lost: { worker: 'zombie', lease: 'held', dispatch: 'running' },
  abandoned: { worker: 'zombie', lease: 'held', dispatch: 'failed' },
};

const W = 'worker-1';
const L = 'm@lease-1';
const D = 'm/u#1';
const TTL = 60_000;

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-protocol-'));
});

afterEach(() => cleanup());

/** One run of a protocol path: a host on a store file, replaced by a restored one at a crash. */
class ProtocolRun {
  readonly clock = createManualClock();
  readonly refusals: Error[] = [];
  store: Store;
  host: ActorHost;
  private readonly file = path.join(dir, 'store.db');

  constructor() {
    this.store = openStoreAt(this.file);
    this.host = this.newHost();
  }

  private newHost(): ActorHost {
    const host = new ActorHost(this.store, this.clock, inertDefinitions(), {
      onTransition: () => undefined,
      // The runtime's restart path for a refused job: restore its actors from their rows.
      onJobFailed: (error, detached) => {
        this.refusals.push(error);
        this.restoreLater = detached.map((actor) => actor.id);
      },
    });
    host.owner = 'runtime-1';
    return host;
  }

  restoreLater: string[] = [];

  async settle(): Promise<void> {
    await this.host.committed().then(
      () => undefined,
      () => undefined,
    );
    for (const id of this.restoreLater.splice(0)) {
      const record = await this.store.getActor(id);
      if (record !== undefined && record.status === 'active') this.host.restore(record);
    }
    await this.host.committed();
  }

  /** A crash: nothing more is written; a new process restores every active actor from its row. */
  async crash(): Promise<void> {
    this.host.detachAll();
    await this.store.close();
    this.store = openStoreAt(this.file);
    this.host = this.newHost();
    for (const record of await this.store.listActiveActors()) this.host.restore(record);
    await this.settle();
  }

  leaseToken(): number {
    return handleOf(this.host.get(L), 'lease')?.context.fencingToken ?? 0;
  }

  turn(): TurnAssignment {
    return {
      dispatchId: D,
      unitId: 'm/u',
      milestoneId: 'm',
      workerId: W,
      attempt: 1,
      fencingToken: this.leaseToken(),
      command: ['true'],
      protocol: 'text',
      resumeSessionId: null,
      cwd: dir,
      env: {},
      input: null,
      timeoutMs: 60_000,
      stallTimeoutMs: 60_000,
      killGraceMs: 1_000,
      logPath: path.join(dir, 'logs', 'turn.log'),
      turnKey: `store:${D}`,
    };
  }

  /** What the scheduler or an effect does for each protocol event. */
  async step(event: string): Promise<void> {
    const { host, clock } = this;
    const started: TurnStarted = { pid: 4242, pgid: 4242, procStartTime: '1', startedAt: clock.now(), logPath: path.join(dir, 'logs', 'turn.log'), statusFile: path.join(dir, 'logs', 'turn.status.json'), deadlineAt: clock.now() + 60_000 };
    const result = (kind: TurnResult['kind'], exitCode: number | null): TurnResult => ({ kind, exitCode, signal: null, endedAt: clock.now(), reason: kind === 'stalled' ? 'no output for 2m (stall timeout)' : 'exit code 0', lastStderrLine: null });
    switch (event) {
      case 'BOOT':
        host.create('worker', W, { workerId: W });
        host.send(W, { type: 'xstate.done.actor.prepare', output: undefined });
        break;
      case 'CLAIM_LEASE': {
        host.create('lease', L, { leaseId: L, milestoneId: 'm', workerId: W, ttlMs: TTL });
        await host.committed();
        const claim = await this.store.claimLease({ milestoneId: 'm', holderId: W, leaseId: L, ttlMs: TTL, now: clock.now() });
        host.send(L, { type: 'xstate.done.actor.claim', output: claim });
        break;
      }
      case 'GRANT':
        host.send(W, { type: 'LEASE_GRANTED', milestoneId: 'm', leaseId: L, fencingToken: this.leaseToken() });
        break;
      case 'CREATE_DISPATCH':
        host.create('dispatch', D, { dispatchId: D, unitId: 'm/u', milestoneId: 'm', attempt: 1, notBefore: null, messageId: null });
        host.send(D, { type: 'xstate.done.actor.backoff', output: undefined });
        break;
      case 'TAKE_OVER':
        // The lease expired while its holder's runtime stalled: another holder has the milestone now.
        clock.advance(TTL + 1);
        expect(await this.store.claimLease({ milestoneId: 'm', holderId: 'worker-9', leaseId: 'm@lease-9', ttlMs: TTL, now: clock.now() })).toMatchObject({ granted: true, fencingToken: 2 });
        break;
      case 'CLAIM':
      case 'CLAIM_STALE':
        host.send(D, { type: 'CLAIM', workerId: W, fencingToken: this.leaseToken() });
        break;
      case 'ASSIGN':
        host.send(W, { type: 'ASSIGN', turn: this.turn() });
        break;
      case 'TURN_STARTED':
        host.send(W, { type: 'TURN_STARTED', started });
        break;
      case 'START':
        host.send(D, { type: 'START', started: handleOf(host.get(W), 'worker')?.context.started ?? started });
        break;
      case 'TURN_ENDED':
        host.send(W, { type: 'TURN_ENDED', result: result('exited', 0) });
        break;
      case 'TURN_LOST':
        // A stalled turn: killed and verified gone by the turn runner, the worker retires.
        host.send(W, { type: 'TURN_ENDED', result: result('stalled', null) });
        break;
      case 'FINISH':
        host.send(D, { type: 'FINISH', result: handleOf(host.get(W), 'worker')?.context.lastTurn?.result ?? result('exited', 0) });
        break;
      case 'ABANDON':
        host.send(D, { type: 'ABANDON', reason: 'abandoned: its worker ended (zombie)', at: clock.now() });
        break;
      case 'RELEASE':
        host.send(L, { type: 'RELEASE', reason: 'milestone completed' });
        await host.committed();
        await this.store.releaseLease({ milestoneId: 'm', fencingToken: this.leaseToken() });
        host.send(L, { type: 'xstate.done.actor.release', output: { released: true } });
        break;
      default:
        throw new Error(`no step for ${event}`);
    }
    await this.settle();
  }

  /** The joint state in the store, and the invariants that tie the three actors together. */
  async check(state: string, where: string): Promise<void> {
    const expected = EXPECTED[state];
    if (expected === undefined) return;
    const rowState = async (id: string) => {
      const row = await this.store.getActor(id);
      return row === undefined ? '-' : topState(row.state);
    };
    expect({ worker: await rowState(W), lease: await rowState(L), dispatch: await rowState(D) }, where).toEqual(expected);
    const dispatches = await this.store.listDispatches('m/u');
    expect(dispatches.filter((d) => ['pending', 'claimed', 'running'].includes(d.state)).length, `${where}: one active dispatch`).toBeLessThanOrEqual(1);
    const ledger = await this.store.getLease('m');
    const dispatch = dispatches[0];
    if (dispatch !== undefined && ['claimed', 'running', 'completed'].includes(dispatch.state)) {
      // Fencing: the claim was made under the lease's token, and that token held the ledger then.
      const lease = await this.store.listLeases();
      expect(dispatch.fencingToken, `${where}: claimed under the holder's token`).toBe(lease[0]?.fencingToken);
      expect(dispatch.workerId, `${where}: claimed by the lease's holder`).toBe(W);
    }
    const worker = (await this.store.listWorkers())[0];
    if (worker !== undefined && worker.state === 'in_turn') {
      expect(worker.dispatchId, `${where}: the worker runs the claimed dispatch`).toBe(D);
      expect(ledger?.holderId, `${where}: a turn runs only under the current holder`).toBe(W);
    }
    if (state === 'refused') {
      expect(this.refusals.some((error) => error instanceof StaleFencingTokenError), `${where}: the stale claim was refused`).toBe(true);
      expect(dispatch?.workerId, `${where}: nothing of the refused job was written`).toBeNull();
    }
  }
}

const paths = getSimplePaths(protocol).filter((p) => p.state.status === 'done');

describe('the worker–lease–dispatch protocol (model-based, xstate/graph)', () => {
  it('has a path to every final outcome: released, refused (stale claim) and abandoned (stalled turn)', () => {
    expect(paths.map((p) => JSON.stringify(p.state.value)).sort()).toEqual(['"abandoned"', '"refused"', '"released"']);
  });

  for (const modelPath of paths) {
    const events = modelPath.steps.slice(1).map((step) => step.event.type);
    const states = modelPath.steps.slice(1).map((step) => (typeof step.state.value === 'string' ? step.state.value : JSON.stringify(step.state.value)));
    const name = events.join(' → ');

    it(`keeps the joint state and its invariants at every step: ${name}`, async () => {
      const run = new ProtocolRun();
      try {
        for (const [i, event] of events.entries()) {
          await run.step(event);
          await run.check(states[i] ?? '', `after ${event}`);
        }
      } finally {
        run.host.detachAll();
        await run.store.close();
      }
    });

    it(`ends the same after a crash-and-restore after any step: ${name}`, async () => {
      for (let crashAfter = 0; crashAfter < events.length - 1; crashAfter++) {
        const run = new ProtocolRun();
        try {
          for (const [i, event] of events.entries()) {
            await run.step(event);
            if (i === crashAfter) await run.crash();
            await run.check(states[i] ?? '', `crash after step ${crashAfter}, after ${event}`);
          }
        } finally {
          run.host.detachAll();
          await run.store.close();
        }
        cleanup();
        ({ dir, cleanup } = tempDir('statecrew-protocol-'));
      }
    });
  }
});
