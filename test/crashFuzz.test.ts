import { describe, expect, it } from 'vitest';
import { checkHistory, checkTicks, formatReport, runCrashFuzz, type FuzzTick, type History, type PlannedMilestone, type Row } from './fuzz/harness.js';

// Two `statecrew run` processes share one store over a plan of 100 units; one of them is
// SIGKILLed at random moments 25 times (at least 20 must land before the plan finishes) and
// restarted each time. Invariants 1–3 are checked over the whole journal after every restart
// and at the end, together with the tick log of every execution, the final state of every unit
// and the absence of orphan processes (see test/fuzz/harness.ts). `npm run soak` runs the same
// harness for longer.
describe('crash fuzz: two runtimes on one store, one SIGKILLed at random moments', () => {
  it('keeps invariants 1–3, never runs a unit twice at once, finishes every unit and leaves no orphan', async () => {
    const report = await runCrashFuzz({ seed: 20261121, kills: 25, units: 100 });
    const summary = formatReport(report);

    expect(report.violations, summary).toEqual([]);
    expect(report.kills, summary).toBeGreaterThanOrEqual(20);
    expect(report.units).toBeGreaterThanOrEqual(100);
    expect(report.incarnations).toBe(2 + report.kills);
    expect(report.takeovers, summary).toBeGreaterThan(0);
    // One unit fails on purpose (maxAttempts 2); three fail their first attempt and then succeed.
    expect(report.failedUnits).toEqual(['m10/u10']);
    expect(report.completedUnits).toBe(report.units - 1);
    expect(report.designedFailures, summary).toBeGreaterThanOrEqual(2);
    expect(report.executions).toBe(report.completedUnits + report.designedFailures + report.repeatedExecutions);
    expect(report.leaseGrants).toBeGreaterThanOrEqual(report.milestones);
    expect(report.checks).toBe(report.kills + 1);
  }, 180_000);
});

describe('crash fuzz checks', () => {
  const row = (actorId: string, seq: number, toState: string, at: number, context: Record<string, unknown>): Row => ({
    actorId,
    seq,
    eventType: seq === 1 ? 'xstate.init' : 'EVENT',
    fromState: null,
    toState,
    at,
    context,
  });
  const lease = (id: string, token: number, heldAt: number, workerId = 'worker-1'): Row[] => [
    row(id, 1, 'claiming', heldAt - 1, { milestoneId: 'm', workerId, fencingToken: null }),
    row(id, 2, 'held', heldAt, { milestoneId: 'm', workerId, fencingToken: token }),
  ];
  const dispatch = (id: string, times: { created: number; claimed?: number; ended?: number }, token = 1, end = 'completed', workerId = 'worker-1'): Row[] => {
    const context = { unitId: 'm/u1', milestoneId: 'm', workerId, fencingToken: token };
    return [
      row(id, 1, 'pending.backoff', times.created, { ...context, workerId: null, fencingToken: null }),
      ...(times.claimed === undefined ? [] : [row(id, 2, 'running', times.claimed, context)]),
      ...(times.ended === undefined ? [] : [row(id, 3, end, times.ended, context)]),
    ];
  };
  const run = (history: History, final = true): string[] => {
    const violations: string[] = [];
    checkHistory(history, final, violations);
    return violations;
  };

  it('pass a clean history: increasing tokens, one dispatch after the other, writes under the current token', () => {
    const history: History = {
      leaseRows: [...lease('m@lease-1', 1, 100), ...lease('m@lease-2', 2, 300, 'worker-2')],
      dispatchRows: [...dispatch('m/u1#1', { created: 150, claimed: 160, ended: 200 }, 1, 'failed'), ...dispatch('m/u1#2', { created: 310, claimed: 320, ended: 400 }, 2, 'completed', 'worker-2')],
      projection: [{ id: 'm/u1#1', unitId: 'm/u1', state: 'failed' }, { id: 'm/u1#2', unitId: 'm/u1', state: 'completed' }],
    };
    expect(run(history)).toEqual([]);
  });

  it('report two leases with one token, tokens going down, a dispatch created while another is active, and stale or unknown tokens', () => {
    const violations = run({
      leaseRows: [...lease('m@lease-1', 1, 100), ...lease('m@lease-2', 1, 200), ...lease('m@lease-3', 3, 300), ...lease('m@lease-4', 2, 400)],
      dispatchRows: [
        ...dispatch('m/u1#1', { created: 110, claimed: 120 }),
        ...dispatch('m/u1#2', { created: 150, claimed: 500, ended: 600 }, 1),
        ...dispatch('m/u1#3', { created: 700, claimed: 710, ended: 720 }, 7),
      ],
      projection: [{ id: 'm/u1#1', unitId: 'm/u1', state: 'running' }, { id: 'm/u1#2', unitId: 'm/u1', state: 'running' }],
    });
    const kinds = (tag: string) => violations.filter((v) => v.startsWith(tag)).length;
    expect(kinds('[1 one holder]'), violations.join('\n')).toBeGreaterThanOrEqual(2);
    expect(kinds('[2 one active dispatch]'), violations.join('\n')).toBeGreaterThanOrEqual(3);
    expect(kinds('[3 fencing]'), violations.join('\n')).toBeGreaterThanOrEqual(2);
  });

  it('report overlapping executions, executions outside their dispatch or under another token, and runs after the completion', () => {
    const plan: PlannedMilestone[] = [{ id: 'm', dependsOn: [], units: [{ id: 'm/u1', milestoneId: 'm', ms: 50, kind: 'ok' }, { id: 'm/u2', milestoneId: 'm', ms: 50, kind: 'ok' }] }];
    const tick = (unit: string, pid: number, event: FuzzTick['event'], t: number, dispatchId: string, token = 1): FuzzTick => ({ unit, run: 'A1', pid, event, t, dispatch: dispatchId, token });
    const facts = checkHistory(
      {
        leaseRows: lease('m@lease-1', 1, 100),
        dispatchRows: [...dispatch('m/u1#1', { created: 110, claimed: 120, ended: 300 })],
        projection: [{ id: 'm/u1#1', unitId: 'm/u1', state: 'completed' }],
      },
      true,
      [],
    );
    const clean: string[] = [];
    checkTicks([tick('m/u1', 1, 'start', 130, 'm/u1#1'), tick('m/u1', 1, 'end', 200, 'm/u1#1')], plan, facts.dispatches, clean);
    expect(clean).toEqual([]);
    const violations: string[] = [];
    checkTicks(
      [
        tick('m/u1', 1, 'start', 130, 'm/u1#1'),
        tick('m/u1', 2, 'start', 140, 'm/u1#1', 2),
        tick('m/u1', 1, 'end', 150, 'm/u1#1'),
        tick('m/u1', 2, 'end', 310, 'm/u1#1', 2),
        tick('m/u2', 3, 'start', 145, 'm/u2#1'),
      ],
      plan,
      facts.dispatches,
      violations,
    );
    const text = violations.join('\n');
    expect(violations.filter((v) => v.startsWith('[4 concurrent executions]')).length, text).toBeGreaterThanOrEqual(2);
    expect(violations.some((v) => v.startsWith('[4 executed again]')), text).toBe(true);
    expect(violations.some((v) => v.startsWith('[4 execution outside its dispatch] m/u2')), text).toBe(true);
    expect(violations.some((v) => v.startsWith('[4 execution outside its dispatch] m/u1')), text).toBe(true);
    expect(violations.some((v) => v.startsWith('[3 fencing] m/u1')), text).toBe(true);
  });
});
