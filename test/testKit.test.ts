import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { TurnAssignment, TurnResult, TurnStarted } from '../machines/turn.js';
import { workerMachine } from '../machines/worker.js';
import {
  checkCrashRecovery,
  createModel,
  createTempStore,
  missingCoverage,
  ModelPathError,
  runModelPath,
  type ModelSpec,
} from '../src/testing/index.js';

/**
 * The test kit (`statecrew/testing`) on a host's customized worker: its agents hit rate
 * limits and time out, and a turn that timed out should retire the worker (it becomes a
 * zombie and the pool replaces it) instead of counting as an ordinary failure. This is the
 * example of docs/api.md.
 */

const hostWorker = workerMachine.provide({
  guards: {
    turnWasLost: (_, params: { result: TurnResult }) => params.result.kind === 'stalled' || params.result.kind === 'timeout',
  },
});

const turn: TurnAssignment = {
  dispatchId: 'u1#1',
  unitId: 'u1',
  milestoneId: 'm',
  workerId: 'w1',
  attempt: 1,
  fencingToken: 1,
  command: ['agent'],
  cwd: '/repo',
  env: {},
  input: null,
  timeoutMs: 60_000,
  stallTimeoutMs: 30_000,
  killGraceMs: 1_000,
  logPath: '/logs/u1-1.log',
  turnKey: 'store:u1#1',
};
const started: TurnStarted = { pid: 4242, pgid: 4242, procStartTime: '1', startedAt: 10, logPath: turn.logPath, statusFile: `${turn.logPath}.status.json`, deadlineAt: 60_010 };
const ended = (kind: TurnResult['kind']): TurnResult => ({ kind, exitCode: kind === 'exited' ? 0 : null, signal: null, endedAt: 20, reason: kind, lastStderrLine: null });

const spec: ModelSpec = {
  kind: 'worker',
  machine: hostWorker,
  input: { workerId: 'w1' },
  events: [
    { type: 'xstate.done.actor.prepare', output: undefined },
    { type: 'LEASE_GRANTED', milestoneId: 'm', leaseId: 'm@lease-1', fencingToken: 1 },
    { type: 'ASSIGN', turn },
    { type: 'TURN_STARTED', started },
    { type: 'TURN_ENDED', result: ended('exited') },
    { type: 'TURN_ENDED', result: ended('timeout') },
  ],
};

describe('statecrew/testing on a customized worker machine', () => {
  const model = createModel(spec);

  it('finds paths through the customized guard: a timed-out turn retires the worker', () => {
    const timedOut = model.paths.find((p) => p.steps.at(-1)?.event.type === 'TURN_ENDED' && p.steps.at(-1)?.state.value === 'zombie');
    expect(timedOut?.description).toBe(
      'booting ─ done.prepare → between_turns ─ LEASE_GRANTED → between_turns ─ ASSIGN → in_turn ─ TURN_ENDED → zombie',
    );
  });

  it('covers the states and transitions these events can reach', () => {
    const { states } = missingCoverage(model);
    // Without STOP, FINISH and the stop outcomes, those states stay out of reach: the kit says which.
    expect(states).toEqual(['worker.completed', 'worker.stopped', 'worker.stopping']);
  });

  for (const modelPath of model.paths) {
    it(`persists every step and survives a crash at any step: ${modelPath.description}`, async () => {
      await runModelPath(spec, modelPath);
      await checkCrashRecovery(spec, modelPath);
    });
  }

  it('fails with ModelPathError at the step where the hosted machine leaves the model', async () => {
    // The model of the stock worker says a timed-out turn returns to between_turns; the host's
    // machine retires the worker instead, and the kit reports exactly that step.
    const [prepare, granted, assign, , , timeout] = spec.events;
    const scenario = [prepare, granted, assign, timeout].filter((event) => event !== undefined);
    const stock = createModel({ ...spec, machine: workerMachine, scenarios: [scenario] });
    const timedOut = stock.paths.at(-1);
    if (timedOut === undefined) throw new Error('the stock model has no timed-out path');
    expect(timedOut.steps.at(-1)?.state.value).toBe('between_turns');
    const run = () => runModelPath(spec, timedOut);
    await expect(run()).rejects.toThrow(ModelPathError);
    await expect(run()).rejects.toThrow(/step 4 \(TURN_ENDED\): state is zombie, the model says between_turns/);
  });

  it('gives a temp store that a runtime or a second connection can open, and removes it', async () => {
    const temp = createTempStore();
    const store = temp.open();
    expect((await store.listActors())).toEqual([]);
    await store.close();
    temp.cleanup();
    expect(fs.existsSync(temp.dir)).toBe(false);
  });
});
