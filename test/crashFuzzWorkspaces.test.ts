import { describe, expect, it } from 'vitest';
import { formatReport, runCrashFuzz } from './fuzz/harness.js';

// The crash fuzz of test/crashFuzz.test.ts on a plan with workspaces: every milestone works in a
// git worktree of a real repository, each unit writes a file there, and merges into main are
// serialized by a merge lease. Two runtimes share one store; one is SIGKILLed at random moments
// and restarted. Besides invariants 1–4 and the end checks 5–7, `[8 workspace]` checks that main
// holds each completed milestone's work exactly once (every unit's file, one commit per unit, one
// merge commit per milestone) and that no worktree, temporary merge worktree or git lock is left.
describe('crash fuzz with workspaces: two runtimes, one SIGKILLed at random moments', () => {
  it('merges each milestone exactly once, leaves no worktree or lock, and never runs a unit twice at once', async () => {
    const report = await runCrashFuzz({ seed: 20261202, kills: 20, units: 48, unitsPerMilestone: 4, workspaces: true, dependencyRate: 0.4 });
    const summary = formatReport(report);
    console.log(summary);

    expect(report.violations, summary).toEqual([]);
    expect(report.kills, summary).toBeGreaterThanOrEqual(15);
    expect(report.failedUnits).toEqual(['m12/u4']);
    expect(report.completedUnits).toBe(report.units - 1);
    // Eleven milestones complete (the last one fails by design): each merged once.
    expect(report.merges, summary).toBe(report.milestones - 1);
    expect(report.takeovers, summary).toBeGreaterThan(0);
  }, 240_000);
});
