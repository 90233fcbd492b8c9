import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { supervisorMachine } from '../../machines/supervisor.js';
import { buildModel, describeModelPaths, missing, type ModelSpec } from '../helpers/modelPaths.js';

const T0 = 1_700_000_000_000;

const spec: ModelSpec = {
  kind: 'supervisor',
  machine: supervisorMachine,
  input: { runtimeId: 'rt-1', pid: 31337, procStartTime: '424242', startedAt: T0 },
  events: [
    { type: 'STORE_READY' },
    { type: 'RESTORED', count: 3 },
    { type: 'DRAIN', reason: 'SIGTERM' },
    { type: 'DRAINED', exitCode: 0 },
    { type: 'RUNTIME_GONE', reason: 'pid 31337 is gone' },
    { type: 'FENCED', reason: 'declared dead by runtime-2' },
    { type: 'STORE_FAILED', reason: 'store failure in commitJob: database or disk is full' },
  ],
};

describe('supervisor machine (model-based, xstate/graph)', () => {
  const model = buildModel(spec);

  it('covers every state and every transition of the definition', () => {
    expect(missing(model)).toEqual({ states: [], transitions: [], edges: [] });
    expect([...model.required.states].sort()).toEqual(
      ['starting', 'restoring', 'running', 'draining', 'stopped', 'fenced', 'failed'].map((s) => `supervisor.${s}`).sort(),
    );
    // RUNTIME_GONE is defined once on the root and taken from every non-final state.
    for (const state of ['starting', 'restoring', 'running', 'draining']) {
      expect(model.covered.edges).toContain(`${state} | supervisor: RUNTIME_GONE#0 → supervisor.stopped`);
      expect(model.covered.edges).toContain(`${state} | supervisor: FENCED#0 → supervisor.fenced`);
      expect(model.covered.edges).toContain(`${state} | supervisor: STORE_FAILED#0 → supervisor.failed`);
    }
  });

  it('reports a state or a transition that no path reaches', () => {
    const config = supervisorMachine.config;
    const extended = createMachine({
      ...config,
      states: { ...config.states, running: { on: { ...config.states?.running?.on, PAUSE: 'paused' } }, paused: {} },
    } as never);
    expect(missing(buildModel({ ...spec, machine: extended }))).toEqual({
      states: ['supervisor.paused'],
      transitions: ['supervisor.running: PAUSE#0 → supervisor.paused'],
      edges: [
        'paused | supervisor: FENCED#0 → supervisor.fenced',
        'paused | supervisor: RUNTIME_GONE#0 → supervisor.stopped',
        'paused | supervisor: STORE_FAILED#0 → supervisor.failed',
        'running | supervisor.running: PAUSE#0 → supervisor.paused',
      ],
    });
  });

  describeModelPaths(spec, model);
});
