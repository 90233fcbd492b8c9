import { describe, expect, it } from 'vitest';
import { leaseMachine } from '../../machines/lease.js';
import { buildModel, describeModelPaths, missing, type ModelSpec } from '../helpers/modelPaths.js';

const T0 = 1_700_000_000_000;

const spec: ModelSpec = {
  kind: 'lease',
  machine: leaseMachine,
  input: { leaseId: 'm@lease-1', milestoneId: 'm', workerId: 'w1', ttlMs: 30_000 },
  events: [
    { type: 'xstate.done.actor.claim', output: { granted: true, fencingToken: 1, expiresAt: T0 + 30_000 } },
    { type: 'xstate.done.actor.claim', output: { granted: false, holderId: 'w2', fencingToken: 3, expiresAt: T0 + 9_000 } },
    { type: 'xstate.error.actor.claim', error: new Error('SQLITE_BUSY') },
    { type: 'RENEWED', expiresAt: T0 + 45_000 },
    { type: 'LOST', currentToken: 2 },
    { type: 'RENEW_FAILED', message: 'SQLITE_BUSY' },
    { type: 'EXPIRED' },
    { type: 'RELEASE', reason: 'milestone done' },
    { type: 'xstate.error.actor.hold', error: new Error('renewal timer threw') },
    { type: 'xstate.done.actor.release', output: { released: true } },
    { type: 'xstate.done.actor.release', output: { released: false } },
    { type: 'xstate.error.actor.release', error: new Error('disk I/O error') },
  ],
};

describe('lease machine (model-based, xstate/graph)', () => {
  const model = buildModel(spec);

  it('covers every state and every transition of the definition', () => {
    expect(missing(model)).toEqual({ states: [], transitions: [], edges: [] });
    expect([...model.required.states].sort()).toEqual(
      ['claiming', 'held', 'releasing', 'released', 'refused', 'expired', 'lost'].map((s) => `lease.${s}`).sort(),
    );
    expect(model.covered.edges).toContain('claiming | lease.claiming: xstate.done.actor.claim#0 [granted] → lease.held');
    expect(model.covered.edges).toContain('claiming | lease.claiming: xstate.done.actor.claim#1 → lease.refused');
    expect(model.covered.edges).toContain('held | lease.held: RENEWED#0 → (self)');
  });

  describeModelPaths(spec, model);
});
