import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock, type ManualClock } from '../core/clock.js';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { readStatus } from '../src/status.js';
import Database from 'better-sqlite3';
import { drainEventLoop, nextEvent } from './helpers/runtimeEvents.js';
import { fixture, tempDir } from './helpers/tempStore.js';

/** A unit's usage fields in `status --json` when no turn reported cost or tokens (text protocol). */
const NO_USAGE = { costUsd: null, inputTokens: null, outputTokens: null, sessionId: null, resumeMismatches: 0, permissionDenials: [], waiting: null, failure: null };

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-runtime-'));
});

afterEach(() => cleanup());

const node = JSON.stringify(process.execPath);
const script = (name: string) => JSON.stringify(fixture(name));

function plan(lines: string[]) {
  return parsePlan(['version: 1', ...lines].join('\n'), { file: path.join(dir, 'plan.yaml'), cwd: dir });
}

describe('createRuntime', () => {
  it('runs milestones in dependency order, retries with backoff and reports the outcome', async () => {
    const runtime = createRuntime({ store: path.join(dir, 's.db') });
    const started: string[] = [];
    runtime.events.on('unit.started', (event) => started.push(event.unitId));
    await runtime.start(
      plan([
        'workers: 2',
        'defaults: { retryBackoff: 50ms }',
        'milestones:',
        '  - id: late',
        '    dependsOn: [early]',
        `    units: [{ id: late/1, command: [${node}, ${script('exit-with.mjs')}, "0"] }]`,
        '  - id: early',
        `    units: [{ id: early/1, maxAttempts: 2, command: [${node}, ${script('exit-with.mjs')}, "4", "nope"] }]`,
      ]),
    );
    const result = await runtime.finished;
    await runtime.store.close();
    expect(result.exitCode).toBe(1);
    expect(started).toEqual(['early/1', 'early/1']);
    expect(result.progress.units.get('early/1')).toMatchObject({ state: 'failed', attempts: 2, failures: 2 });
    expect(result.progress.units.get('late/1')?.state).toBe('blocked');
    expect(result.progress.milestones.map((m) => [m.spec.id, m.state])).toEqual([
      ['late', 'blocked'],
      ['early', 'failed'],
    ]);
  });

  it('turns a worker whose turn stalled into a zombie, replaces it, and hands the lease over with a higher token', async () => {
    const runtime = createRuntime({ store: path.join(dir, 's.db') });
    const died: string[] = [];
    const leases: [string, number][] = [];
    const quietFor: number[] = [];
    runtime.events.on('worker.died', (event) => {
      died.push(`${event.workerId}: ${event.unitId}: ${event.reason}`);
      if (event.lastActivityAt !== null) quietFor.push(Date.now() - event.lastActivityAt);
    });
    runtime.events.on('lease.acquired', (event) => leases.push([event.workerId, event.fencingToken]));
    await runtime.start(
      plan([
        'workers: 1',
        'defaults: { stallTimeout: 300ms, killGrace: 100ms, retryBackoff: 10ms, maxAttempts: 2 }',
        'milestones:',
        '  - id: m',
        `    units: [{ id: m/quiet, command: [${node}, ${script('silent-forever.mjs')}] }]`,
      ]),
    );
    const result = await runtime.finished;
    const workers = await runtime.store.listWorkers();
    const dispatches = await runtime.store.listDispatches('m/quiet');
    await runtime.store.close();
    expect(result.exitCode).toBe(1);
    expect(died).toEqual([
      expect.stringMatching(/^worker-1: m\/quiet: turn lost: no output for 300ms \(stall timeout\)/),
      expect.stringMatching(/^worker-2: m\/quiet: turn lost: no output for 300ms/),
    ]);
    expect(workers.map((w) => [w.id, w.state])).toEqual([
      ['worker-1', 'zombie'],
      ['worker-2', 'zombie'],
    ]);
    expect(leases).toEqual([
      ['worker-1', 1],
      ['worker-2', 2],
    ]);
    // The last activity is the turn's last output: at least the stall timeout before it died.
    expect(quietFor).toHaveLength(2);
    for (const ms of quietFor) expect(ms).toBeGreaterThanOrEqual(300);
    expect(dispatches.map((d) => [d.state, d.outcome, d.fencingToken])).toEqual([
      ['failed', 'stalled', 1],
      ['failed', 'stalled', 2],
    ]);
  });

  it('marks a unit stuck after the same failure three times in a row, across a restart, instead of using every attempt', async () => {
    const store = path.join(dir, 's.db');
    const thePlan = plan([
      'workers: 1',
      'defaults: { retryBackoff: 10ms, maxAttempts: 10 }',
      'milestones:',
      '  - id: m',
      `    units: [{ id: m/same, command: [${node}, ${script('exit-with.mjs')}, "2", "cannot find tsconfig.json"] }]`,
    ]);
    const first = createRuntime({ store });
    const second = nextEvent(first.events, 'unit.failed', (e) => e.attempt === 2);
    await first.start(thePlan);
    await second;
    first.detach();

    const restarted = createRuntime({ store });
    await restarted.start(thePlan);
    const result = await restarted.finished;
    const dispatches = await restarted.store.listDispatches('m/same');
    const status = await readStatus(restarted.store);
    await restarted.store.close();
    expect(result.exitCode).toBe(1);
    expect(dispatches.map((d) => d.state)).toEqual(['failed', 'failed', 'stuck']);
    expect(dispatches[2]?.reason).toBe('stuck: exit code 2: cannot find tsconfig.json');
    expect(status.units).toEqual([{ id: 'm/same', milestoneId: 'm', state: 'stuck', attempts: 3, turns: 3, ...NO_USAGE }]);
    expect(status.milestones).toEqual([{ id: 'm', state: 'failed', workspace: null, spentUsd: 0, failure: null }]);
  });

  it('does not call a unit stuck when its failures differ, and uses every attempt', async () => {
    const runtime = createRuntime({ store: path.join(dir, 's.db') });
    await runtime.start(
      plan([
        'defaults: { retryBackoff: 10ms, maxAttempts: 4 }',
        'milestones:',
        '  - id: m',
        `    units: [{ id: m/varies, command: [${node}, ${script('fail-with-attempt.mjs')}] }]`,
      ]),
    );
    const result = await runtime.finished;
    const dispatches = await runtime.store.listDispatches('m/varies');
    await runtime.store.close();
    expect(result.progress.units.get('m/varies')).toMatchObject({ state: 'failed', attempts: 4 });
    expect(dispatches.map((d) => d.lastStderrLine)).toEqual([1, 2, 3, 4].map((n) => `failure on attempt ${n}`));
  });

  it('re-arms a retry backoff after a restart with the time that was left, not from zero and not at once', async () => {
    const clock = createManualClock(Date.now());
    const store = path.join(dir, 's.db');
    const thePlan = plan([
      'workers: 1',
      'defaults: { retryBackoff: 1m }',
      'milestones:',
      '  - id: m',
      `    units: [{ id: m/flaky, maxAttempts: 3, command: [${node}, ${script('exit-with.mjs')}, "3", "flaky"] }]`,
    ]);
    const first = createRuntime({ store, clock });
    const backoff = nextEvent(first.events, 'actor.transition', (e) => e.actorId === 'm/flaky#2');
    await first.start(thePlan);
    const failed = await nextEvent(first.events, 'unit.failed');
    expect(failed).toMatchObject({ attempt: 1, retryInMs: 60_000 });
    await backoff;
    clock.advance(20_000);
    first.detach();

    const second = createRuntime({ store, clock });
    const secondStart = nextEvent(second.events, 'unit.started');
    let startedAt: number | null = null;
    void secondStart.then(() => (startedAt = clock.now()));
    await second.start(thePlan);
    await drainEventLoop();
    expect((await second.store.getActor('m/flaky#2'))?.state).toBe('pending.backoff');

    // Time passes as it does for a live runtime: in steps its heartbeat and lease renewals keep
    // up with (a runtime frozen for 40 s would be taken for dead, and start no turn).
    await advanceInSteps(clock, 39_999);
    expect(startedAt).toBeNull();
    expect((await second.store.getActor('m/flaky#2'))?.state).toBe('pending.backoff');

    clock.advance(1);
    const restarted = await secondStart;
    expect(restarted).toMatchObject({ unitId: 'm/flaky', attempt: 2 });
    expect(startedAt).toBe(clock.now());

    await nextEvent(second.events, 'unit.failed', (e) => e.attempt === 2);
    let ended = false;
    const finished = second.finished.then((result) => {
      ended = true;
      return result;
    });
    for (let advanced = 0; !ended && advanced < 120_000; advanced += 1_000) await advanceInSteps(clock, 1_000);
    const result = await finished;
    await second.store.close();
    expect(result.exitCode).toBe(1);
    // Three identical failures in a row: stuck (stuckAfter defaults to 3, like maxAttempts here).
    expect(result.progress.units.get('m/flaky')).toMatchObject({ state: 'stuck', attempts: 3 });
  });

  it('does not run completed units again when the plan changed, and runs the added ones', async () => {
    const store = path.join(dir, 's.db');
    const unit = (id: string) => `      - { id: ${id}, command: [${node}, ${script('exit-with.mjs')}, "0"] }`;
    const first = createRuntime({ store });
    await first.start(plan(['milestones:', '  - id: m', '    units:', unit('m/a'), unit('m/b')]));
    expect((await first.finished).exitCode).toBe(0);
    await first.store.close();

    const second = createRuntime({ store });
    const started: string[] = [];
    second.events.on('unit.started', (event) => started.push(event.unitId));
    const changed = nextEvent(second.events, 'plan.changed');
    await second.start(plan(['milestones:', '  - id: m', '    units:', unit('m/a'), unit('m/c')]));
    expect(await changed).toEqual({ added: ['m/c'], removed: ['m/b'], changed: [] });
    const result = await second.finished;
    await second.store.close();
    expect(result.exitCode).toBe(0);
    expect(started).toEqual(['m/c']);
  });

  it('cancels a dispatch waiting for its retry when the next run’s plan no longer has its unit', async () => {
    const store = path.join(dir, 's.db');
    const keep = `      - { id: m/keep, command: [${node}, ${script('exit-with.mjs')}, "0"] }`;
    const flaky = `      - { id: m/flaky, retryBackoff: 1h, command: [${node}, ${script('exit-with.mjs')}, "1"] }`;
    const first = createRuntime({ store });
    const waiting = nextEvent(first.events, 'actor.transition', (e) => e.actorId === 'm/flaky#2');
    await first.start(plan(['milestones:', '  - id: m', '    units:', flaky, keep]));
    await waiting;
    first.detach();

    const second = createRuntime({ store });
    await second.start(plan(['milestones:', '  - id: m', '    units:', keep]));
    const result = await second.finished;
    const flakyDispatches = await second.store.listDispatches('m/flaky');
    await second.store.close();
    expect(result.exitCode).toBe(0);
    expect(flakyDispatches.map((d) => [d.id, d.state, d.reason])).toEqual([
      ['m/flaky#1', 'failed', 'exit code 1'],
      ['m/flaky#2', 'canceled', 'unit removed from the plan'],
    ]);
  });

  it('fails a dispatch left running by a worker that is gone, instead of letting it block the unit', async () => {
    const store = path.join(dir, 's.db');
    const thePlan = plan(['milestones:', '  - id: m', `    units: [{ id: m/u, command: [${node}, ${script('exit-with.mjs')}, "0"] }]`]);
    const first = createRuntime({ store });
    const claimed = nextEvent(first.events, 'actor.transition', (e) => e.actorId === 'm/u#1' && e.to === 'claimed');
    await first.start(thePlan);
    await claimed;
    first.detach();
    // The worker's row is lost (for example quarantined): its dispatch stays `claimed` in the store.
    const raw = new Database(store);
    raw.prepare("UPDATE actors SET status = 'quarantined' WHERE kind = 'worker'").run();
    raw.close();

    const second = createRuntime({ store });
    await second.start(thePlan);
    const result = await second.finished;
    const dispatches = await second.store.listDispatches('m/u');
    await second.store.close();
    expect(result.exitCode).toBe(0);
    expect(dispatches.map((d) => [d.id, d.state])).toEqual([
      ['m/u#1', 'failed'],
      ['m/u#2', 'completed'],
    ]);
    expect(dispatches[0]?.reason).toMatch(/abandoned: its worker is not running/);
  });

  it('takes messages from the library API as the input of a unit’s next turns, in order', async () => {
    const runtime = createRuntime({ store: path.join(dir, 's.db') });
    const thePlan = plan([
      'workers: 1',
      'milestones:',
      '  - id: m',
      `    units: [{ id: m/echo, input: "own", command: [${node}, ${script('echo-stdin.mjs')}] }]`,
    ]);
    await runtime.start(thePlan);
    expect(await runtime.sendMessage('m/echo', 'one')).toBe(1);
    expect(await runtime.sendMessage('m/echo', 'two')).toBe(2);
    await expect(runtime.sendMessage('m/nope', 'x')).rejects.toThrow(/no unit m\/nope/);
    const result = await runtime.finished;
    const dispatches = await runtime.store.listDispatches('m/echo');
    await runtime.store.close();
    expect(result.exitCode).toBe(0);
    expect(dispatches.map((d) => [d.state, d.messageId])).toEqual([
      ['completed', null],
      ['completed', 1],
      ['completed', 2],
    ]);
  });
});

/** Advances `clock` by `ms` in steps of at most `step` ms, letting the event loop run after each (heartbeats, renewals, commits). */
async function advanceInSteps(clock: ManualClock, ms: number, step = 1_000): Promise<void> {
  for (let left = ms; left > 0; left -= step) {
    clock.advance(Math.min(step, left));
    await drainEventLoop();
  }
}
