import { describe, expect, it } from 'vitest';
import { workspaceMachine, type WorkspaceInput, type WorkspaceRecord } from '../../machines/workspace.js';
import { buildModel, describeModelPaths, missing, type ModelSpec } from '../helpers/modelPaths.js';

const BASE = 'a'.repeat(40);
const HEAD = 'b'.repeat(40);
const MERGED = 'c'.repeat(40);

const input: WorkspaceInput = {
  workspaceId: 'm@workspace-1',
  milestoneId: 'm',
  leaseId: 'm@lease-1',
  fencingToken: 1,
  repo: '/repo',
  base: 'main',
  branch: 'statecrew/m',
  path: '/store/worktrees/m',
  root: '/store/worktrees',
  mergeMode: 'merge',
  fixTurns: 1,
  deleteBranch: false,
  author: { name: 'statecrew', email: 'statecrew@localhost' },
  baseCommit: null,
  fixTurnsUsed: 0,
};

const record = (outcome: WorkspaceRecord['outcome']): WorkspaceRecord => ({
  dispatchId: outcome.startsWith('check') ? 'm#check#1' : 'm/u1#1',
  unitId: outcome.startsWith('check') ? 'm#check' : 'm/u1',
  attempt: 1,
  outcome,
  logPath: null,
  command: outcome.startsWith('check') ? ['npm', 'test'] : null,
});

const spec: ModelSpec = {
  kind: 'workspace',
  machine: workspaceMachine,
  input,
  events: [
    { type: 'xstate.done.actor.prepare', output: { baseCommit: BASE, head: BASE, savedRef: null } },
    { type: 'xstate.error.actor.prepare', error: new Error('git worktree add failed') },
    { type: 'RECORD', record: record('commit') },
    { type: 'RECORD', record: record('check-failed') },
    { type: 'xstate.done.actor.record', output: { head: HEAD, savedRef: null, checkOutput: 'FAIL: 1 test' } },
    { type: 'xstate.error.actor.record', error: new Error('git commit failed') },
    { type: 'MERGE' },
    { type: 'MERGE_LEASE', leaseId: 'merge:/repo:main@lease-2', fencingToken: 1 },
    { type: 'xstate.done.actor.merge', output: { kind: 'merged', commit: MERGED, already: false } },
    { type: 'xstate.done.actor.merge', output: { kind: 'conflict', files: ['a.txt'], hunks: '<<<<<<< HEAD', baseHead: MERGED } },
    { type: 'xstate.done.actor.merge', output: { kind: 'fenced' } },
    { type: 'xstate.done.actor.merge', output: { kind: 'blocked', reason: 'main is checked out in /repo with changes' } },
    { type: 'xstate.error.actor.merge', error: new Error('git update-ref failed') },
    { type: 'xstate.done.actor.hold', output: { files: ['a.txt'], hunks: '<<<<<<< HEAD' } },
    { type: 'xstate.error.actor.hold', error: new Error('git merge failed') },
    { type: 'xstate.done.actor.remove', output: undefined },
    { type: 'xstate.error.actor.remove', error: new Error('git worktree remove failed') },
    { type: 'RELEASE', reason: 'milestone lease ended' },
  ],
  // The branches that depend on fix turns left: a second failed check or conflict, after the
  // one fix turn was used, ends the workspace.
  scenarios: [
    [
      { type: 'xstate.done.actor.prepare', output: { baseCommit: BASE, head: BASE, savedRef: null } },
      { type: 'RECORD', record: record('check-failed') },
      { type: 'xstate.done.actor.record', output: { head: BASE, savedRef: 'refs/statecrew/attempts/statecrew_m/m_check_1', checkOutput: 'FAIL' } },
      { type: 'RECORD', record: record('commit') },
      { type: 'xstate.done.actor.record', output: { head: HEAD, savedRef: null, checkOutput: null } },
      { type: 'RECORD', record: record('check-failed') },
      { type: 'xstate.done.actor.record', output: { head: HEAD, savedRef: null, checkOutput: 'FAIL again' } },
    ],
    [
      { type: 'xstate.done.actor.prepare', output: { baseCommit: BASE, head: BASE, savedRef: null } },
      { type: 'MERGE' },
      { type: 'MERGE_LEASE', leaseId: 'merge:/repo:main@lease-2', fencingToken: 1 },
      { type: 'xstate.done.actor.merge', output: { kind: 'conflict', files: ['a.txt'], hunks: '<<<<<<< HEAD', baseHead: MERGED } },
      { type: 'xstate.done.actor.hold', output: { files: ['a.txt'], hunks: '<<<<<<< HEAD' } },
      { type: 'MERGE' },
      { type: 'MERGE_LEASE', leaseId: 'merge:/repo:main@lease-3', fencingToken: 2 },
      { type: 'xstate.done.actor.merge', output: { kind: 'conflict', files: ['a.txt'], hunks: '<<<<<<< HEAD', baseHead: MERGED } },
    ],
  ],
  // The guards read whether a fix turn is left and what is being recorded.
  contextKey: (context) => {
    const c = context as { fixTurnsUsed: number; fixTurns: number; pending: WorkspaceRecord | null };
    return `${c.fixTurnsUsed < c.fixTurns ? 'fix left' : 'no fix left'}, recording ${c.pending?.outcome ?? 'nothing'}`;
  },
  prepareStore: async (store, clock) => {
    const claim = await store.claimLease({ milestoneId: 'm', holderId: 'w1', leaseId: 'm@lease-1', ttlMs: 600_000, now: clock.now() });
    expect(claim).toMatchObject({ granted: true, fencingToken: 1 });
  },
};

describe('workspace machine (model-based, xstate/graph)', () => {
  const model = buildModel(spec);

  it('covers every state and every transition of the definition', () => {
    expect(missing(model)).toEqual({ states: [], transitions: [], edges: [] });
    expect([...model.required.states].sort()).toEqual(
      [
        'preparing', 'ready', 'recording', 'merging', 'merging.waiting', 'merging.running', 'fixing_conflict', 'merged',
        'removed', 'check_failed', 'conflict', 'failed', 'released',
      ].map((s) => `workspace.${s}`).sort(),
    );
  });

  describeModelPaths(spec, model);
});
