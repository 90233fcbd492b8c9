/**
 * Progress derived pass after pass (`ProgressDeriver`): a unit whose rows are the same array
 * keeps its derived object, a changed one is derived again, and every result equals deriving
 * from scratch (`deriveProgress`), which is what the scheduler did on every pass before.
 */
import { describe, expect, it } from 'vitest';
import type { DispatchProjection, LeaseProjection } from '../persistence/types.js';
import { parsePlan } from '../src/plan/load.js';
import { deriveProgress, ProgressDeriver, type OperatorInput } from '../src/progress.js';

const plan = parsePlan(
  JSON.stringify({
    version: 1,
    workers: 2,
    defaults: { maxAttempts: 2 },
    milestones: [
      { id: 'a', units: [{ id: 'a/1', command: ['true'] }, { id: 'a/2', command: ['true'] }] },
      { id: 'b', dependsOn: ['a'], units: [{ id: 'b/1', command: ['true'] }] },
    ],
  }),
  { file: '/plans/plan.yaml', cwd: '/plans' },
);

function row(unitId: string, sequence: number, state: string, changes: Partial<DispatchProjection> = {}): DispatchProjection {
  return {
    id: `${unitId}#${sequence}`, unitId, milestoneId: unitId.split('/')[0] ?? '', attempt: sequence, state, workerId: 'worker-1', fencingToken: 1,
    notBefore: null, startedAt: 1_000, endedAt: state === 'running' ? null : 2_000, pid: 42, pgid: 42, procStartTime: '1', hostId: null, logPath: null,
    outcome: state === 'failed' ? 'exited' : null, exitCode: state === 'failed' ? 1 : null, signal: null, lastStderrLine: null, reason: null, messageId: null,
    sessionId: null, resumeMismatch: false, costUsd: null, inputTokens: null, outputTokens: null, transient: null, retryAt: null, ...changes,
  };
}

const NO_ROWS: readonly DispatchProjection[] = [];
const NONE: OperatorInput = { canceled: new Map(), messages: [] };
const HELD: LeaseProjection[] = [{ id: 'a@lease-1', milestoneId: 'a', workerId: 'worker-1', state: 'held', fencingToken: 1, expiresAt: 10_000 }];

describe('progress derived pass after pass', () => {
  it('keeps what did not change, derives what did, and always equals a derivation from scratch', () => {
    const deriver = new ProgressDeriver();
    const rows = new Map<string, readonly DispatchProjection[]>([['a/1', [row('a/1', 1, 'running')]]]);
    // Units whose rows changed since the last derivation, as the scheduler's DispatchRows reports them.
    const changed = new Set<string>();
    const derive = (operator = NONE) => {
      const all = () => [...rows.values()].flat();
      const progress = deriver.derive({ plan, dispatchesOf: (unitId) => rows.get(unitId) ?? NO_ROWS, changed: [...changed], leases: HELD, operator, workspaces: [], allDispatches: all });
      changed.clear();
      expect(progress).toEqual(deriveProgress(plan, all(), HELD, operator, []));
      return progress;
    };

    const first = derive();
    expect(first.units.get('a/1')?.state).toBe('running');
    expect(first.units.get('b/1')?.state).toBe('pending');

    // Nothing changed: the same objects come back.
    const second = derive();
    expect(second.units.get('a/1')).toBe(first.units.get('a/1'));
    expect(second.units.get('a/2')).toBe(first.units.get('a/2'));

    // a/1 completed (a new array, as the scheduler's rows are copied on write): only it is derived again.
    rows.set('a/1', [row('a/1', 1, 'completed')]);
    changed.add('a/1');
    const third = derive();
    expect(third.units.get('a/1')).not.toBe(second.units.get('a/1'));
    expect(third.units.get('a/1')?.state).toBe('completed');
    expect(third.units.get('a/2')).toBe(second.units.get('a/2'));

    // a/2 fails twice: milestone a fails and b is blocked.
    rows.set('a/2', [row('a/2', 1, 'failed'), row('a/2', 2, 'failed')]);
    changed.add('a/2');
    const fourth = derive();
    expect(fourth.milestones.map((m) => m.state)).toEqual(['failed', 'blocked']);
    expect(fourth.units.get('b/1')?.state).toBe('blocked');

    // Operator input counts as a change too: a message to the completed unit makes it wait for
    // another turn (blocked here, as its milestone failed).
    const message = { id: 7, unitId: 'a/1', text: 'one more thing', createdAt: 3_000 };
    const fifth = derive({ canceled: new Map(), messages: [message] });
    expect(fifth.units.get('a/1')).toMatchObject({ state: 'blocked', pendingMessages: 1, nextMessageId: 7 });
    const canceled = derive({ canceled: new Map([['a/1', 'not needed']]), messages: [message] });
    expect(canceled.units.get('a/1')?.state).toBe('canceled');
  });
});
