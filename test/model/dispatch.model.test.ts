import { describe, expect, it } from 'vitest';
import { dispatchMachine } from '../../machines/dispatch.js';
import type { TurnResult, TurnStarted } from '../../machines/turn.js';
import { buildModel, describeModelPaths, missing, type ModelSpec } from '../helpers/modelPaths.js';

const T0 = 1_700_000_000_000;

const started: TurnStarted = {
  pid: 4242,
  pgid: 4242,
  procStartTime: '98765',
  startedAt: T0 + 10,
  logPath: '/logs/u1-1.log',
  statusFile: '/logs/u1-1.log.status.json',
  deadlineAt: T0 + 600_010,
};
const result = (kind: TurnResult['kind'], exitCode: number | null, reason: string): TurnResult => ({
  kind,
  exitCode,
  signal: null,
  endedAt: T0 + 20,
  reason,
  lastStderrLine: kind === 'exited' && exitCode !== 0 ? 'error TS2307' : null,
});

const spec: ModelSpec = {
  kind: 'dispatch',
  machine: dispatchMachine,
  input: { dispatchId: 'u1#2', unitId: 'u1', milestoneId: 'm', attempt: 2, notBefore: T0 + 5_000 },
  events: [
    { type: 'xstate.done.actor.backoff', output: undefined },
    // Token 1: the token the store's lease ledger holds for `m` (see prepareStore).
    { type: 'CLAIM', workerId: 'w1', fencingToken: 1 },
    { type: 'START', started },
    { type: 'FINISH', result: result('exited', 0, 'exit code 0') },
    { type: 'FINISH', result: result('exited', 3, 'exit code 3: cannot find tsconfig') },
    { type: 'STUCK', signature: 'same error three times', result: result('exited', 1, 'exit code 1') },
    { type: 'ABANDON', reason: 'worker became a zombie', at: T0 + 40 },
    { type: 'CANCEL', reason: 'plan changed', at: T0 + 50 },
  ],
  // `claimed`, `running` and `completed` writes are fenced: the ledger must hold token 1 for `m`.
  prepareStore: async (store, clock) => {
    const claim = await store.claimLease({ milestoneId: 'm', holderId: 'w1', leaseId: 'm@lease-1', ttlMs: 60_000, now: clock.now() });
    expect(claim).toMatchObject({ granted: true, fencingToken: 1 });
  },
};

describe('dispatch machine (model-based, xstate/graph)', () => {
  const model = buildModel(spec);

  it('covers every state and every transition of the definition', () => {
    expect(missing(model)).toEqual({ states: [], transitions: [], edges: [] });
    expect([...model.required.states].sort()).toEqual(
      ['pending', 'pending.backoff', 'pending.ready', 'claimed', 'running', 'completed', 'failed', 'stuck', 'canceled']
        .map((s) => `dispatch.${s}`)
        .sort(),
    );
    // CANCEL is defined once on `pending` and taken from both of its children.
    expect(model.covered.edges).toContain('pending.backoff | dispatch.pending: CANCEL#0 → dispatch.canceled');
    expect(model.covered.edges).toContain('pending.ready | dispatch.pending: CANCEL#0 → dispatch.canceled');
  });

  describeModelPaths(spec, model);
});
