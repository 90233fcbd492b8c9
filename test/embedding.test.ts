import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMachine, fromCallback, fromPromise } from 'xstate';
import type { TurnAssignment } from '../machines/turn.js';
import { workerMachine, type WorkerEvent } from '../machines/worker.js';
import { PlanError, RuntimeStoppedError, UsageError } from '../core/errors.js';
import { planFromObject } from '../src/plan/extend.js';
import { createManualClock } from '../core/clock.js';
import { createRuntime, type Logger } from '../src/runtime.js';
import { drainEventLoop, nextEvent } from './helpers/runtimeEvents.js';
import { fixture, tempDir } from './helpers/tempStore.js';

/** The embedding API: what a host (a server, an editor extension) drives without the CLI. */

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-embed-'));
});

afterEach(() => cleanup());

const node = process.execPath;
const exitWith = (code: number) => [node, fixture('exit-with.mjs'), String(code)];

describe('createRuntime as a library', () => {
  it('takes an open better-sqlite3 Database, runs a plan given as an object, and reads actors back by id, kind and state', async () => {
    const db = new Database(path.join(dir, 'host.db'));
    const runtime = createRuntime({ store: db });
    const plan = planFromObject({ version: 1, workers: 1, milestones: [{ id: 'm', units: [{ id: 'a', command: exitWith(0) }] }] }, { cwd: dir });
    await runtime.start(plan);
    expect((await runtime.finished).exitCode).toBe(0);

    const dispatches = await runtime.list({ kind: 'dispatch' });
    expect(dispatches.map((actor) => [actor.id, actor.state, actor.status])).toEqual([['a#1', 'completed', 'done']]);
    expect(await runtime.list({ kind: 'worker', state: 'completed' })).toHaveLength(1);
    expect(await runtime.list({ state: 'nope' })).toEqual([]);
    const view = await runtime.get('a#1');
    expect(view).toMatchObject({ id: 'a#1', kind: 'dispatch', machineId: 'statecrew.dispatch', state: 'completed', live: false, activePaths: ['completed'] });
    expect(view?.context).toMatchObject({ unitId: 'a', attempt: 1, result: { kind: 'exited', exitCode: 0 } });
    expect(await runtime.get('nope')).toBeUndefined();
    // The host's connection stays open and usable.
    expect(db.prepare('SELECT count(*) AS n FROM journal').get()).toMatchObject({ n: expect.any(Number) });
    db.close();
  });

  it('keeps running without a plan, runs units submitted while it runs in order, and records them in the store', async () => {
    const storeFile = path.join(dir, 's.db');
    const runtime = createRuntime({ store: storeFile, keepAlive: true, workers: 1, cwd: dir });
    await runtime.start();
    expect(await runtime.submit({ milestones: [{ id: 'm', units: [{ id: 'first', command: exitWith(0) }] }] })).toEqual(['first']);
    await nextEvent(runtime.events, 'unit.completed', (event) => event.unitId === 'first');
    const completed: string[] = [];
    runtime.events.on('unit.completed', (event) => completed.push(event.unitId));
    expect(
      await runtime.submit({
        defaults: { maxAttempts: 1 },
        milestones: [
          { id: 'm', units: [{ id: 'second', command: exitWith(0) }] },
          { id: 'n', dependsOn: ['m'], units: [{ id: 'third', command: exitWith(0) }] },
        ],
      }),
    ).toEqual(['second', 'third']);
    await nextEvent(runtime.events, 'unit.completed', (event) => event.unitId === 'third');
    expect(completed).toEqual(['second', 'third']);

    // Still running, idle: an invalid addition is refused with the field path, and adds nothing.
    expect((await runtime.list({ kind: 'supervisor' }))[0]?.state).toBe('running');
    const invalid = () => runtime.submit({ milestones: [{ id: 'm', units: [{ id: 'first', command: exitWith(0) }, { id: 'x', command: 'nope' as never }] }] });
    await expect(invalid()).rejects.toThrow(PlanError);
    await expect(invalid()).rejects.toThrow(/milestones\[0\]\.units\[0\]\.id: unit "first" is already in the plan/);
    await expect(invalid()).rejects.toThrow(/milestones\[0\]\.units\[1\]\.command/);
    await expect(runtime.submit({ workers: 3, milestones: [] } as never)).rejects.toThrow(/workers belongs to the running plan/);

    const result = await runtime.stop('host shutting down', 0);
    expect(result.exitCode).toBe(0);
    expect([...result.progress.units.values()].map((unit) => [unit.spec.id, unit.state])).toEqual([
      ['first', 'completed'],
      ['second', 'completed'],
      ['third', 'completed'],
    ]);
    await expect(runtime.submit({ milestones: [{ id: 'late', units: [{ id: 'late', command: exitWith(0) }] }] })).rejects.toThrow(RuntimeStoppedError);
    await runtime.store.close();

    // A restarted host resumes the submitted plan from the store.
    const again = createRuntime({ store: storeFile });
    await again.start();
    expect((await again.finished).exitCode).toBe(0);
    expect([...(await again.finished).progress.units.keys()]).toEqual(['first', 'second', 'third']);
    await again.store.close();
  });

  it('sends validated events to live actors and refuses XState internals', async () => {
    const runtime = createRuntime({ store: path.join(dir, 's.db'), keepAlive: true });
    expect(() => runtime.send('worker-1', { type: 'STOP' })).toThrow(RuntimeStoppedError);
    await runtime.start();
    const started = nextEvent(runtime.events, 'unit.started');
    await runtime.submit({ milestones: [{ id: 'm', units: [{ id: 'wait', command: [node, fixture('exit-when-file.mjs'), path.join(dir, 'never'), '0'] }] }] });
    const worker = (await started).workerId;
    expect(() => runtime.send(worker, { type: 'xstate.done.actor.prepare' })).toThrow(UsageError);
    expect(() => runtime.send(worker, { type: '' })).toThrow(UsageError);
    expect(runtime.send('no-such-actor', { type: 'STOP', reason: 'test' })).toBe(false);
    const stopped = nextEvent(runtime.events, 'actor.transition', (event) => event.actorId === worker && event.to === 'stopped');
    expect(runtime.send(worker, { type: 'STOP', reason: 'host asked' })).toBe(true);
    await stopped;
    expect((await runtime.get(worker))?.context).toMatchObject({ endReason: 'host asked' });
    await runtime.stop();
    await runtime.store.close();
  });

  it('logs notable events to a host logger at their levels', async () => {
    const lines: [string, string][] = [];
    const logger: Logger = {
      debug: (message) => lines.push(['debug', message]),
      info: (message) => lines.push(['info', message]),
      warn: (message) => lines.push(['warn', message]),
      error: (message) => lines.push(['error', message]),
    };
    const runtime = createRuntime({ store: path.join(dir, 's.db'), logger });
    await runtime.start(planFromObject({ version: 1, workers: 1, milestones: [{ id: 'm', units: [{ id: 'a', maxAttempts: 1, command: exitWith(3) }] }] }, { cwd: dir }));
    expect((await runtime.finished).exitCode).toBe(1);
    await runtime.store.close();
    expect(lines).toContainEqual(['info', expect.stringMatching(/^unit a attempt 1 started on worker-1 \(pid \d+\)$/)]);
    expect(lines).toContainEqual(['warn', expect.stringMatching(/^unit a attempt 1 failed: exit code 3/)]);
    expect(lines).toContainEqual(['debug', expect.stringMatching(/^a#1 #\d+ claimed → running \(START\)$/)]);
    expect(lines.at(-1)).toEqual(['info', 'run finished (exit code 1): finished with failures']);
  });

  it('emits lease.lost when another holder took the milestone (the renewal is refused), after lease.ended', async () => {
    const clock = createManualClock(Date.now());
    const storeFile = path.join(dir, 's.db');
    const runtime = createRuntime({ store: storeFile, clock, leaseTtlMs: 30_000 });
    const seen: string[] = [];
    runtime.events.on('lease.ended', () => seen.push('lease.ended'));
    runtime.events.on('lease.lost', () => seen.push('lease.lost'));
    const started = nextEvent(runtime.events, 'unit.started');
    const lost = nextEvent(runtime.events, 'lease.lost');
    await runtime.start(
      planFromObject(
        { version: 1, workers: 1, milestones: [{ id: 'm', units: [{ id: 'wait', command: [node, fixture('exit-when-file.mjs'), path.join(dir, 'never'), '0'] }] }] },
        { cwd: dir },
      ),
    );
    await started;
    // Another process takes the milestone over: a newer fencing token in the ledger.
    const other = new Database(storeFile);
    other.prepare("UPDATE lease_ledger SET fencing_token = fencing_token + 1, holder_id = 'elsewhere' WHERE milestone_id = 'm'").run();
    other.close();
    clock.advance(10_000); // the holder renews every third of the TTL
    expect(await lost).toMatchObject({ milestoneId: 'm', workerId: 'worker-1', fencingToken: 1, state: 'lost' });
    expect(seen).toEqual(['lease.ended', 'lease.lost']);
    // Stopping kills the turn: SIGTERM, then the kill is verified on the (manual) clock's timers.
    let stopped = false;
    const stopping = runtime.stop().then(() => {
      stopped = true;
    });
    for (let turn = 0; turn < 10_000 && !stopped; turn++) {
      clock.advance(100);
      await drainEventLoop(1);
    }
    await stopping;
    await runtime.store.close();
  });

  it('emits unit.stuck when a unit fails the same way stuckAfter times', async () => {
    const runtime = createRuntime({ store: path.join(dir, 's.db') });
    const stuck = nextEvent(runtime.events, 'unit.stuck');
    await runtime.start(
      planFromObject(
        { version: 1, workers: 1, defaults: { retryBackoff: '1ms' }, milestones: [{ id: 'm', units: [{ id: 'a', maxAttempts: 5, stuckAfter: 2, command: exitWith(7) }] }] },
        { cwd: dir },
      ),
    );
    expect(await stuck).toMatchObject({ unitId: 'a', attempt: 2 });
    await runtime.finished;
    await runtime.store.close();
  });
});

describe('createRuntime({ machines }): a host’s own implementations', () => {
  /** An in-process agent: no child process; the turn "runs" the unit's command as data. */
  function inProcessWorker(ran: TurnAssignment[]) {
    return workerMachine.provide({
      actors: {
        runTurn: fromCallback<WorkerEvent, TurnAssignment>(({ input, sendBack }) => {
          const startedAt = Date.now();
          ran.push(input);
          sendBack({
            type: 'TURN_STARTED',
            started: { pid: process.pid, pgid: process.pid, procStartTime: null, startedAt, logPath: input.logPath, statusFile: `${input.logPath}.status.json`, deadlineAt: startedAt + input.timeoutMs },
          });
          const exitCode = input.command.includes('fail') ? 1 : 0;
          const timer = setImmediate(() =>
            sendBack({ type: 'TURN_ENDED', result: { kind: 'exited', exitCode, signal: null, endedAt: Date.now(), reason: `exit code ${exitCode}`, lastStderrLine: null } }),
          );
          return () => clearImmediate(timer);
        }),
        // Nothing to kill: the agent lives in this process.
        stopTurn: fromPromise(() => Promise.resolve({ endedAt: Date.now() })),
      },
    });
  }

  it('runs turns with a provided runTurn and persists them exactly like child-process turns', async () => {
    const ran: TurnAssignment[] = [];
    const runtime = createRuntime({ store: path.join(dir, 's.db'), machines: { worker: inProcessWorker(ran) } });
    await runtime.start(
      planFromObject(
        { version: 1, workers: 1, milestones: [{ id: 'm', units: [{ id: 'ok', command: ['agent', 'ok'] }, { id: 'bad', maxAttempts: 1, command: ['agent', 'fail'] }] }] },
        { cwd: dir },
      ),
    );
    const result = await runtime.finished;
    expect(result.exitCode).toBe(1);
    expect(ran.map((turn) => [turn.unitId, turn.command])).toEqual([
      ['ok', ['agent', 'ok']],
      ['bad', ['agent', 'fail']],
    ]);
    expect((await runtime.store.listDispatches()).map((d) => [d.unitId, d.state, d.exitCode])).toEqual([
      ['ok', 'completed', 0],
      ['bad', 'failed', 1],
    ]);
    const worker = (await runtime.list({ kind: 'worker' }))[0];
    expect(worker?.machineId).toBe('statecrew.worker');
    expect((await runtime.store.journal(worker?.id ?? '')).map((row) => row.eventType)).toEqual([
      'xstate.init',
      'xstate.done.actor.prepare',
      'LEASE_GRANTED',
      'ASSIGN',
      'TURN_STARTED',
      'TURN_ENDED',
      'ASSIGN',
      'TURN_STARTED',
      'TURN_ENDED',
      'LEASE_ENDED',
      'FINISH',
    ]);
    await runtime.store.close();
  });

  it('stops an actor whose provided action throws, reports it, and keeps the runtime and the store intact', async () => {
    const ran: TurnAssignment[] = [];
    const broken = inProcessWorker(ran).provide({
      actions: {
        recordTurnEnd: () => {
          throw new Error('host bug in recordTurnEnd');
        },
      },
    });
    const runtime = createRuntime({ store: path.join(dir, 's.db'), machines: { worker: broken } });
    const failed = nextEvent(runtime.events, 'actor.failed');
    await runtime.start(planFromObject({ version: 1, workers: 1, milestones: [{ id: 'm', units: [{ id: 'ok', command: ['agent', 'ok'] }] }] }, { cwd: dir }));
    const failure = await failed;
    expect(failure).toMatchObject({ kind: 'worker', actorId: 'worker-1' });
    expect(failure.error.message).toMatch(/host bug in recordTurnEnd/);
    // The failed step (TURN_ENDED) was not written: the row is still in_turn, and the actor is stopped.
    expect(await runtime.get('worker-1')).toMatchObject({ state: 'in_turn', live: false });
    const result = await runtime.stop('test over', 130);
    expect(result.exitCode).toBe(130);
    await runtime.store.close();
  });

  it('refuses a machine that is not made from the exported one', () => {
    const foreign = createMachine({ id: 'worker', initial: 'idle', states: { idle: {} } });
    expect(() => createRuntime({ store: path.join(dir, 's.db'), machines: { worker: foreign } })).toThrow(
      /machines\.worker must be the exported workerMachine or made from it with \.provide\(\)/,
    );
    expect(fs.existsSync(path.join(dir, 's.db')), 'nothing created').toBe(false);
  });
});
