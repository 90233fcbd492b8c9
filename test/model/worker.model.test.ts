import { describe, expect, it } from 'vitest';
import { getInitialSnapshot, getNextSnapshot } from 'xstate';
import type { TurnAssignment, TurnResult, TurnStarted } from '../../machines/turn.js';
import { workerMachine } from '../../machines/worker.js';
import { buildModel, describeModelPaths, missing, type ModelSpec } from '../helpers/modelPaths.js';

const T0 = 1_700_000_000_000;

const turn: TurnAssignment = {
  dispatchId: 'u1#1',
  unitId: 'u1',
  milestoneId: 'm',
  workerId: 'w1',
  attempt: 1,
  fencingToken: 1,
  command: ['node', 'agent.mjs'],
  cwd: '/repo',
  env: { STATECREW_UNIT: 'u1' },
  input: null,
  timeoutMs: 600_000,
  stallTimeoutMs: 120_000,
  killGraceMs: 2_000,
  logPath: '/logs/u1-1.log',
  turnKey: 'store-1:u1#1',
};
const started: TurnStarted = {
  pid: 4242,
  pgid: 4242,
  procStartTime: '98765',
  startedAt: T0 + 10,
  logPath: turn.logPath,
  statusFile: `${turn.logPath}.status.json`,
  deadlineAt: T0 + 10 + turn.timeoutMs,
};
const result = (kind: TurnResult['kind'], exitCode: number | null, reason: string): TurnResult => ({
  kind,
  exitCode,
  signal: null,
  endedAt: T0 + 20,
  reason,
  lastStderrLine: null,
});

const spec: ModelSpec = {
  kind: 'worker',
  machine: workerMachine,
  input: { workerId: 'w1' },
  events: [
    { type: 'xstate.done.actor.prepare', output: undefined },
    { type: 'xstate.error.actor.prepare', error: new Error('cannot create log folder') },
    { type: 'LEASE_GRANTED', milestoneId: 'm', leaseId: 'm@lease-1', fencingToken: 1 },
    { type: 'LEASE_ENDED', leaseId: 'm@lease-1' },
    { type: 'ASSIGN', turn },
    { type: 'TURN_STARTED', started },
    { type: 'TURN_ENDED', result: result('exited', 0, 'exit code 0') },
    { type: 'TURN_ENDED', result: result('stalled', null, 'no output for 120s') },
    { type: 'TURN_ERROR', message: 'spawn EACCES' },
    { type: 'FINISH' },
    { type: 'STOP', reason: 'SIGTERM' },
    { type: 'xstate.done.actor.stop', output: { endedAt: T0 + 30 } },
    { type: 'xstate.error.actor.stop', error: new Error('process group 4242 survived SIGKILL') },
  ],
  scenarios: [
    // Stopping a running turn records it as `stopped` (a branch of `stopping`'s onDone action).
    [
      { type: 'xstate.done.actor.prepare', output: undefined },
      { type: 'LEASE_GRANTED', milestoneId: 'm', leaseId: 'm@lease-1', fencingToken: 1 },
      { type: 'ASSIGN', turn },
      { type: 'TURN_STARTED', started },
      { type: 'STOP', reason: 'SIGTERM' },
      { type: 'xstate.done.actor.stop', output: { endedAt: T0 + 30 } },
    ],
  ],
};

describe('worker machine (model-based, xstate/graph)', () => {
  const model = buildModel(spec);

  it('covers every state and every transition of the definition', () => {
    expect(missing(model)).toEqual({ states: [], transitions: [], edges: [] });
    expect([...model.required.states].sort()).toEqual(
      ['booting', 'between_turns', 'in_turn', 'stopping', 'completed', 'zombie', 'stopped'].map((s) => `worker.${s}`).sort(),
    );
    expect(model.covered.edges).toContain('in_turn | worker.in_turn: TURN_ENDED#0 [turnWasLost] → worker.zombie');
    expect(model.covered.edges).toContain('in_turn | worker.in_turn: TURN_ENDED#1 → worker.between_turns');
  });

  it('refuses ASSIGN under a stale fencing token and LEASE_ENDED of a foreign lease', () => {
    let snapshot = getInitialSnapshot(workerMachine, { workerId: 'w1' });
    snapshot = getNextSnapshot(workerMachine, snapshot, { type: 'xstate.done.actor.prepare' } as never);
    snapshot = getNextSnapshot(workerMachine, snapshot, { type: 'LEASE_GRANTED', milestoneId: 'm', leaseId: 'm@lease-2', fencingToken: 2 });
    expect(workerMachine.getTransitionData(snapshot, { type: 'ASSIGN', turn })).toEqual([]);
    expect(workerMachine.getTransitionData(snapshot, { type: 'LEASE_ENDED', leaseId: 'm@lease-1' })).toEqual([]);
  });

  it('records a stopped running turn as the last turn', () => {
    const scenario = model.paths.at(-1);
    expect(scenario?.state.context).toMatchObject({
      turn: null,
      started: null,
      lastTurn: { dispatchId: 'u1#1', result: { kind: 'stopped', endedAt: T0 + 30, reason: 'stopped: SIGTERM' } },
    });
  });

  describeModelPaths(spec, model);
});
