/**
 * Budgets (`maxCostUsd`) per unit, milestone and plan, against the cost stream-json turns report.
 * The agent is a real child process printing Claude Code's event stream (test/fixtures/fake-claude.mjs,
 * $0.0125 per turn, per process).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RuntimeEvents } from '../src/events.js';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { readStatus } from '../src/status.js';
import { fixture, tempDir } from './helpers/tempStore.js';

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-budgets-'));
});

afterEach(() => cleanup());

const agent = (...args: string[]) => [process.execPath, fixture('fake-claude.mjs'), ...args];
const unit = (id: string, extra: Record<string, unknown> = {}) => ({ id, command: agent(), input: `task ${id}`, ...extra });

async function start(doc: Record<string, unknown>) {
  const plan = parsePlan(JSON.stringify({ version: 1, workers: 1, defaults: { protocol: 'stream-json', retryBackoff: '10ms' }, ...doc }), { file: path.join(dir, 'plan.yaml'), cwd: dir });
  const runtime = createRuntime({ store: path.join(dir, 's.db') });
  const exceeded: RuntimeEvents['budget.exceeded'][] = [];
  runtime.events.on('budget.exceeded', (event) => exceeded.push(event));
  await runtime.start(plan);
  return { runtime, exceeded };
}

async function finish(runtime: Awaited<ReturnType<typeof start>>['runtime']) {
  const result = await runtime.finished;
  const dispatches = await runtime.store.listDispatches();
  const status = await readStatus(runtime.store);
  await runtime.store.close();
  return { result, dispatches, status };
}

describe('budgets', () => {
  it('fails a unit whose turns took its budget over, with no further attempt, and fires budget.exceeded once', async () => {
    const { runtime, exceeded } = await start({ milestones: [{ id: 'm', units: [unit('m/a', { command: agent('--mode', 'error'), maxAttempts: 5, maxCostUsd: 0.02 })] }] });
    const { result, dispatches, status } = await finish(runtime);
    expect(result.exitCode).toBe(1);
    // Two turns of $0.0125 each: the second took the unit to $0.025, over $0.02; three attempts were left.
    expect(dispatches.map((d) => [d.id, d.state])).toEqual([['m/a#1', 'failed'], ['m/a#2', 'failed']]);
    const reason = 'budget exceeded: $0.0250 of $0.0200 (unit m/a)';
    expect(status.units[0]).toMatchObject({ state: 'failed', costUsd: 0.025, failure: reason });
    expect(status.budgets).toEqual([{ scope: 'unit', id: 'm/a', maxCostUsd: 0.02, spentUsd: 0.025, exceeded: true }]);
    expect(exceeded).toEqual([{ scope: 'unit', id: 'm/a', spentUsd: 0.025, maxCostUsd: 0.02, reason }]);
  });

  it('keeps a unit whose last turn took it over completed when its work is done', async () => {
    const { runtime, exceeded } = await start({ milestones: [{ id: 'm', units: [unit('m/a', { maxCostUsd: 0.01 })] }] });
    const { result, status } = await finish(runtime);
    expect(result.exitCode).toBe(0);
    expect(status.units[0]).toMatchObject({ state: 'completed', failure: null });
    expect(exceeded.map((e) => e.id)).toEqual(['m/a']);
  });

  it('stops a milestone over its budget: its next unit never starts, and the milestone fails with the reason', async () => {
    const { runtime } = await start({ milestones: [{ id: 'm', maxCostUsd: 0.02, units: [unit('m/a'), unit('m/b'), unit('m/c')] }, { id: 'n', units: [unit('n/a')] }] });
    const { result, dispatches, status } = await finish(runtime);
    expect(result.exitCode).toBe(1);
    expect(dispatches.map((d) => d.unitId).sort()).toEqual(['m/a', 'm/b', 'n/a']);
    expect(status.milestones.map((m) => [m.id, m.state, m.spentUsd, m.failure])).toEqual([
      ['m', 'failed', 0.025, 'budget exceeded: $0.0250 of $0.0200 (milestone m)'],
      ['n', 'completed', 0.0125, null],
    ]);
    expect(status.units.map((u) => [u.id, u.state])).toEqual([['m/a', 'completed'], ['m/b', 'completed'], ['m/c', 'blocked'], ['n/a', 'completed']]);
  });

  it('lets a turn already running when the plan\'s budget is exceeded finish, then starts no new turn anywhere', async () => {
    const goA = path.join(dir, 'go-a');
    const goB = path.join(dir, 'go-b');
    const held = (id: string, file: string) => unit(id, { command: agent('--wait-file', file) });
    const { runtime, exceeded } = await start({
      workers: 2,
      maxCostUsd: 0.01,
      milestones: [{ id: 'm1', units: [held('a1', goA), held('a2', goA)] }, { id: 'm2', units: [held('b1', goB), held('b2', goB)] }],
    });
    await vi.waitFor(async () => {
      const running = (await runtime.store.listDispatches()).filter((d) => d.state === 'running').map((d) => d.unitId);
      expect(running.sort()).toEqual(['a1', 'b1']);
    }, { timeout: 20_000, interval: 50 });
    // a1 reports $0.0125: the plan is over its $0.01 while b1 still runs.
    fs.writeFileSync(goA, '');
    await vi.waitFor(() => expect(exceeded.map((e) => e.scope)).toEqual(['plan']), { timeout: 20_000, interval: 50 });
    expect((await runtime.store.listDispatches('b1')).map((d) => d.state)).toEqual(['running']);
    fs.writeFileSync(goB, '');
    const { result, dispatches, status } = await finish(runtime);
    expect(result.exitCode).toBe(1);
    // b1 was not killed: it finished and its cost counts. Neither a2 nor b2 started.
    expect(dispatches.map((d) => [d.unitId, d.state]).sort()).toEqual([['a1', 'completed'], ['b1', 'completed']]);
    // The reason gives the spend as it stands now, b1's turn included.
    const reason = 'budget exceeded: $0.0250 of $0.0100 (plan)';
    expect(status.milestones.map((m) => [m.state, m.failure])).toEqual([['failed', reason], ['failed', reason]]);
    expect(status.units.map((u) => u.state)).toEqual(['completed', 'blocked', 'completed', 'blocked']);
    expect(status.budgets).toEqual([{ scope: 'plan', id: path.join(dir, 'plan.yaml'), maxCostUsd: 0.01, spentUsd: 0.025, exceeded: true }]);
    expect(exceeded).toHaveLength(1);
  });

  it('rejects a budget that is not a positive amount, naming the field', () => {
    expect(() => parsePlan('version: 1\nmaxCostUsd: 0\nmilestones: [{ id: m, units: [{ id: u, command: [x], maxCostUsd: "2 dollars" }] }]', { file: path.join(dir, 'plan.yaml'), cwd: dir })).toThrow(
      /maxCostUsd: expected a positive amount of USD such as 2.5, got number 0[\s\S]*milestones\[0\]\.units\[0\]\.maxCostUsd: expected an amount of USD such as 2.5/,
    );
  });
});

describe('budgets and agent sessions on the command line', () => {
  it('statecrew run prints budget.exceeded; statecrew status prints each budget, the failure, and the unit\'s session', async () => {
    const { killRunningClis, makeTempDir, runCli, writePlan } = await import('./helpers/cli.js');
    const cwd = makeTempDir();
    try {
      writePlan(cwd, {
        version: 1,
        workers: 1,
        defaults: { protocol: 'stream-json', retryBackoff: '10ms' },
        milestones: [{ id: 'm', units: [{ id: 'm/a', command: agent('--mode', 'error'), input: 'go', maxAttempts: 5, maxCostUsd: 0.02 }] }],
      });
      const run = await runCli(cwd, 'run', 'plan.yaml');
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('budget   budget exceeded: $0.0250 of $0.0200 (unit m/a): no new turn starts under it');
      const status = await runCli(cwd, 'status');
      expect(status.code).toBe(0);
      const lines = status.stdout.split('\n');
      expect(lines.find((line) => line.trimStart().startsWith('m/a'))).toMatch(/^ {2}m\/a +failed +attempts 2 +\$0\.0250 200\/40 tokens in\/out {2}budget exceeded: \$0\.0250 of \$0\.0200 \(unit m\/a\)$/);
      expect(lines).toContainEqual(expect.stringMatching(/^ {4}session session-[0-9a-f-]{36}$/));
      expect(lines.slice(lines.indexOf('budgets'), lines.indexOf('budgets') + 2)).toEqual(['budgets', `  ${'unit m/a'.padEnd(28)} $0.0250 of $0.0200 exceeded`]);
    } finally {
      await killRunningClis();
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});
