import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { localHostIdentity } from '../../actors/hostIdentity.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../actors/processes.js';
import { openStoreAt } from '../../persistence/openStore.js';
import type { WorkerProjection } from '../../persistence/types.js';
import { parsePlan } from '../../src/plan/load.js';
import type { Plan } from '../../src/plan/types.js';
import { createRuntime, type RunResult } from '../../src/runtime.js';
import { checkJournal } from '../fuzz/checks.js';
import { FaultInjector, type FaultMode, type StoreMethod } from '../helpers/faultyStore.js';
import { fixture, tempDir } from '../helpers/tempStore.js';

/**
 * The fault-injection matrix of the store boundary: for each Store method, a real run (child
 * processes, a SQLite file; a dead runtime's unreadable actor to take over and quarantine; an
 * operator's `stop --worker` once the first turn runs) in which that method fails once
 * (`transient`) or for good (`fatal`), from the moment the first turn started — or from the
 * start for methods a run calls only while starting. Expected: no uncaught exception or unhandled rejection; a
 * transient fault is waited out (`runtime.store-waiting`) and the run completes; a fatal one
 * stops the run with exit code 4 (`runtime.store-failed`, then `run.finished`, every turn
 * killed), and a second run on the same store completes every unit with invariants 1–3 (and
 * the final state of 6) holding in its journal. A method no run calls is shown to be not
 * called while armed.
 */

const node = JSON.stringify(process.execPath);
const script = (name: string) => JSON.stringify(fixture(name));

function plan(dir: string): Plan {
  const sleep = (ms: number) => `[${node}, ${script('sleep-then-exit.mjs')}, "${ms}"]`;
  const claude = `[${node}, ${script('fake-claude.mjs')}, --mode, success, --resume, "{sessionId}"]`;
  return parsePlan(
    [
      'version: 1',
      'workers: 2',
      'defaults: { retryBackoff: 10ms, killGrace: 300ms }',
      // Retention compacts during the run, so that its store calls are in the matrix too.
      'retention: { turnOutput: 0s, every: 100ms }',
      // So do notifications: a command that takes every event (exit 0: delivered).
      `notify: [{ command: [${node}, -e, ""] }]`,
      'milestones:',
      '  - id: a',
      `    units: [{ id: a/1, command: ${sleep(250)} }, { id: a/2, command: ${sleep(150)} }]`,
      '  - id: b',
      `    units: [{ id: b/1, command: ${claude}, protocol: stream-json }, { id: b/2, command: ${sleep(250)} }]`,
      '  - id: c',
      '    dependsOn: [a]',
      `    units: [{ id: c/1, command: ${sleep(100)} }]`,
    ].join('\n'),
    { file: path.join(dir, 'plan.yaml'), cwd: dir },
  );
}

/** Short TTLs so that heartbeats and lease renewals happen many times during a run of about a second. */
const RUNTIME_OPTIONS = { heartbeatTtlMs: 300, leaseTtlMs: 450, pollMs: 50, storeRetryMs: 10_000 } as const;

interface Run {
  readonly result: RunResult;
  readonly events: string[];
  readonly pids: number[];
  readonly injector: FaultInjector;
  readonly startError: Error | undefined;
}

/**
 * What the first run of each case finds in the store besides its plan, so that the methods of
 * takeover, quarantine and operator commands are called too: a dead runtime (a pid that does
 * not exist on this host) owning an unreadable worker row, which the run takes over and
 * quarantines.
 */
async function seed(file: string): Promise<void> {
  const store = openStoreAt(file);
  try {
    await store.registerRuntime({ id: 'runtime-dead', host: os.hostname(), hostId: localHostIdentity().id, pid: 2 ** 22 + 7, procStartTime: '1', now: 0, ttlMs: 1 });
    const row: WorkerProjection = { id: 'worker-old', state: 'between_turns', milestoneId: null, unitId: null, dispatchId: null, fencingToken: null, pid: null, turns: 0 };
    await store.commitJob([
      {
        actorId: 'worker-old',
        kind: 'worker',
        machineId: 'statecrew.worker',
        machineVersion: 1,
        state: 'between_turns',
        status: 'active',
        snapshot: '{not json',
        eventType: 'xstate.init',
        fromState: null,
        at: 0,
        seq: 1,
        owner: 'runtime-dead',
        projection: { kind: 'worker', row },
      },
    ]);
  } finally {
    await store.close();
  }
}

async function run(file: string, dir: string, injector: FaultInjector, armAtStart: boolean): Promise<Run> {
  const inner = openStoreAt(file);
  // The operator, in another process: once the first turn runs, `statecrew stop --worker` for its worker.
  const operator = openStoreAt(file);
  let stopAsked = false;
  const runtime = createRuntime({ store: injector.wrap(inner), logsDir: path.join(dir, 'logs'), ...RUNTIME_OPTIONS });
  const events: string[] = [];
  const pids: number[] = [];
  runtime.events.on('runtime.store-waiting', (e) => events.push(`store-waiting:${e.operation}`));
  runtime.events.on('runtime.store-failed', () => events.push('store-failed'));
  runtime.events.on('run.finished', (e) => events.push(`run.finished:${e.exitCode}`));
  runtime.events.on('unit.started', (e) => {
    pids.push(e.pid);
    injector.arm();
    if (stopAsked) return;
    stopAsked = true;
    void operator.enqueueCommand({ kind: 'stop', target: e.workerId, now: Date.now() });
  });
  if (armAtStart) injector.arm();
  let startError: Error | undefined;
  await runtime.start(plan(dir)).catch((error: unknown) => {
    startError = error as Error;
  });
  const result = await runtime.finished;
  await inner.close();
  await operator.close();
  return { result, events, pids, injector, startError };
}

type Phase = 'running' | 'start' | 'not called';

/** Which methods a fault-free run calls after its first turn started, only while starting, or not at all. */
async function probe(): Promise<Map<StoreMethod, Phase>> {
  const { dir, cleanup } = tempDir('statecrew-faults-probe-');
  try {
    await seed(path.join(dir, 's.db'));
    const clean = await run(path.join(dir, 's.db'), dir, new FaultInjector(null, 'transient'), false);
    expect(clean.result.exitCode, 'the probe run completes').toBe(0);
    const phases = new Map<StoreMethod, Phase>();
    for (const [method, count] of clean.injector.calls) phases.set(method, count.afterArmed > 0 ? 'running' : 'start');
    return phases;
  } finally {
    cleanup();
  }
}

const outcomes = new Map<string, string>();

/** Describes the matrix for `methods`; the observed outcomes go to `test-artifacts/fault-matrix-<name>.md`. */
export function describeFaultMatrix(name: string, methods: readonly StoreMethod[]): void {
  describe(`store fault matrix (${name})`, () => {
    let phases: Map<StoreMethod, Phase>;
    const unhandled: unknown[] = [];
    const onUnhandled = (error: unknown) => unhandled.push(error);

    beforeAll(async () => {
      process.on('unhandledRejection', onUnhandled);
      process.on('uncaughtException', onUnhandled);
      phases = await probe();
    });

    afterAll(() => {
      process.off('unhandledRejection', onUnhandled);
      process.off('uncaughtException', onUnhandled);
      const rows = [...outcomes].map(([key, outcome]) => `| ${key.replace(' ', ' | ')} | ${outcome} |`);
      fs.mkdirSync('test-artifacts', { recursive: true });
      fs.writeFileSync(path.join('test-artifacts', `fault-matrix-${name}.md`), ['| method | fault | outcome |', '|---|---|---|', ...rows, ''].join('\n'));
    });

    for (const method of methods) {
      for (const mode of ['transient', 'fatal'] as const satisfies readonly FaultMode[]) {
        it(`${method} ${mode}`, async () => {
          const phase = phases.get(method) ?? 'not called';
          const { dir, cleanup } = tempDir('statecrew-faults-');
          const file = path.join(dir, 's.db');
          try {
            await seed(file);
            const faulty = await run(file, dir, new FaultInjector(method, mode), phase === 'start');
            expect(unhandled, 'no uncaught exception or unhandled rejection').toEqual([]);
            for (const pid of faulty.pids) expect(isProcessAlive(pid, null), `turn ${pid} left running`).toBe(false);
            if (phase === 'not called') {
              expect(faulty.injector.faults, `${method} is not called by a run`).toBe(0);
              expect(faulty.result.exitCode).toBe(0);
              outcomes.set(`${method} ${mode}`, 'not called by a run (only by the CLI, the inspector or a host); the run completes, exit 0');
              return;
            }
            expect(faulty.injector.faults, `the fault of ${method} was injected (${phase})`).toBeGreaterThan(0);
            if (mode === 'transient') {
              expect(faulty.events).toContain(`store-waiting:${method}`);
              expect(faulty.result.exitCode, faulty.result.reason).toBe(0);
              expect([...faulty.result.progress.units.values()].every((unit) => unit.state === 'completed')).toBe(true);
              outcomes.set(`${method} ${mode}`, `${phase}: waited (runtime.store-waiting), retried, run completed, exit 0`);
              return;
            }
            expect(faulty.result.exitCode, faulty.result.reason).toBe(4);
            expect(faulty.result.reason).toMatch(/store failure/);
            expect(faulty.events.filter((event) => !event.startsWith('store-waiting')).slice(-2)).toEqual(['store-failed', 'run.finished:4']);
            if (phase === 'start') expect(faulty.startError).toBeDefined();

            const again = await run(file, dir, new FaultInjector(null, 'transient'), false);
            expect(again.result.exitCode, again.result.reason).toBe(0);
            expect([...again.result.progress.units.values()].map((unit) => unit.state)).toEqual(['completed', 'completed', 'completed', 'completed', 'completed']);
            const store = openStoreAt(file, { readonly: true });
            try {
              const violations: string[] = [];
              await checkJournal(store, true, violations);
              expect(violations).toEqual([]);
            } finally {
              await store.close();
            }
            expect(unhandled).toEqual([]);
            outcomes.set(`${method} ${mode}`, `${phase}: exit 4, runtime.store-failed then run.finished, turns killed${phase === 'start' ? ', start() rejects' : ''}; a second run completes every unit, invariants hold`);
          } finally {
            cleanup();
          }
        });
      }
    }
  });
}
