import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive, killProcessGroup } from '../actors/processes.js';
import Database from 'better-sqlite3';
import { openStoreAt } from '../persistence/openStore.js';
import type { SchedulerView, SchedulerViewRequest } from '../persistence/store.js';
import type { LeaseLedgerEntry } from '../persistence/types.js';
import { systemClock } from '../core/clock.js';
import type { RuntimeEvents } from '../src/events.js';
import { parsePlan } from '../src/plan/load.js';
import type { Plan } from '../src/plan/types.js';
import { createRuntime, type Runtime } from '../src/runtime.js';
import { nextEvent } from './helpers/runtimeEvents.js';
import { fixture, tempDir } from './helpers/tempStore.js';

/**
 * One test per row of docs/recovery.md that no other test covers: each crashes a runtime
 * (with one commit per transition, `groupCommit: false`, so that the crash can fall between
 * any two transitions; crash fuzzing kills group-committing runtimes for real)
 * (in-process: `detach()` stops every actor without writing, leaving processes running)
 * at a chosen transition, then starts a new runtime on the same store and checks what
 * reconciliation did.
 */

let dir: string;
let cleanup: () => void;
let storeFile: string;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-recovery-'));
  storeFile = path.join(dir, 's.db');
});

afterEach(() => cleanup());

const node = JSON.stringify(process.execPath);
const script = (name: string) => JSON.stringify(fixture(name));

function onePlan(command: string, extra = ''): Plan {
  return parsePlan(
    ['version: 1', 'workers: 1', `defaults: { retryBackoff: 10ms, killGrace: 200ms${extra} }`, 'milestones:', '  - id: m', `    units: [{ id: m/u, command: ${command} }]`].join('\n'),
    { file: path.join(dir, 'plan.yaml'), cwd: dir },
  );
}

/** Starts a runtime and crashes it (stops every actor in memory, writes nothing more) at the first matching transition. */
async function crashAt(plan: Plan, match: (event: RuntimeEvents['actor.transition']) => boolean): Promise<RuntimeEvents['actor.transition']> {
  const runtime = createRuntime({ store: storeFile, groupCommit: false });
  const crashed = new Promise<RuntimeEvents['actor.transition']>((resolve) => {
    runtime.events.on('actor.transition', (event) => {
      if (match(event)) {
        runtime.detach();
        resolve(event);
      }
    });
  });
  await runtime.start(plan);
  return crashed;
}

/** Restarts on the same store and runs the plan to its end. */
async function resume(plan: Plan, observe?: (runtime: Runtime) => void) {
  const runtime = createRuntime({ store: storeFile, groupCommit: false });
  const transitions: RuntimeEvents['actor.transition'][] = [];
  runtime.events.on('actor.transition', (event) => transitions.push(event));
  observe?.(runtime);
  await runtime.start(plan);
  const result = await runtime.finished;
  const dispatches = await runtime.store.listDispatches('m/u');
  await runtime.store.close();
  return { result, dispatches, transitions };
}

async function workerSnapshot(id = 'worker-1'): Promise<{ context: { started: { pid: number; pgid: number; statusFile: string } | null } }> {
  const store = openStoreAt(storeFile);
  try {
    return JSON.parse((await store.getActor(id))?.snapshot ?? '{}') as never;
  } finally {
    await store.close();
  }
}

describe('recovery (docs/recovery.md)', () => {
  it('W1 worker booting: its boot effect runs again and it reaches between_turns', async () => {
    const plan = onePlan(`[${node}, ${script('exit-with.mjs')}, "0"]`);
    await crashAt(plan, (e) => e.kind === 'worker' && e.to === 'booting');
    const { result, transitions } = await resume(plan);
    expect(result.exitCode).toBe(0);
    expect(transitions.find((t) => t.actorId === 'worker-1')).toMatchObject({ from: 'booting', to: 'between_turns' });
  });

  it('W3 worker in_turn with no recorded start and no process of the turn: the turn is spawned (once)', async () => {
    const plan = onePlan(`[${node}, ${script('exit-with.mjs')}, "0"]`);
    await crashAt(plan, (e) => e.kind === 'worker' && e.to === 'in_turn' && e.event === 'ASSIGN');
    expect((await workerSnapshot()).context.started).toBeNull();
    const { result, dispatches } = await resume(plan);
    expect(result.exitCode).toBe(0);
    expect(dispatches.map((d) => [d.id, d.state])).toEqual([['m/u#1', 'completed']]);
  });

  it('W4 worker in_turn with no recorded start but a live process carrying the turn key: killed and verified gone, turn lost, retried', async () => {
    const plan = onePlan(`[${node}, ${script('exit-with.mjs')}, "0"]`);
    await crashAt(plan, (e) => e.kind === 'worker' && e.to === 'in_turn' && e.event === 'ASSIGN');
    const store = openStoreAt(storeFile);
    const turnKey = `${(await store.storeId())}:m/u#1`;
    await store.close();
    // The crash came between the spawn and its record: the runner had created the turn's log
    // (it does so before it spawns anything), the process runs, nothing says so.
    const logPath = ((await workerSnapshot()) as unknown as { context: { turn: { logPath: string } } }).context.turn.logPath;
    fs.mkdirSync(path.dirname(logPath), { recursive: true });
    fs.writeFileSync(logPath, '');
    const orphan = spawn(process.execPath, [fixture('silent-forever.mjs')], { env: { ...process.env, STATECREW_TURN_KEY: turnKey }, stdio: 'ignore' });
    const pid = orphan.pid ?? 0;
    const { result, dispatches } = await resume(plan);
    expect(isProcessAlive(pid, null)).toBe(false);
    expect(result.exitCode).toBe(0);
    expect(dispatches.map((d) => [d.id, d.state, d.outcome])).toEqual([
      ['m/u#1', 'failed', 'lost'],
      ['m/u#2', 'completed', 'exited'],
    ]);
    expect(dispatches[0]?.reason).toMatch(new RegExp(`unrecorded processes ${pid} of this turn were killed`));
  });

  it('W5 worker in_turn whose process survived: adopted, and killed at its original absolute deadline, not a new one', async () => {
    const ticks = path.join(dir, 'ticks.jsonl');
    const plan = onePlan(`[${node}, ${script('tick-logger.mjs')}, ${JSON.stringify(ticks)}, "60000"]`, ', timeout: 1500ms, stallTimeout: 1h, maxAttempts: 1');
    await crashAt(plan, (e) => e.kind === 'worker' && e.event === 'TURN_STARTED');
    const started = (await workerSnapshot()).context.started as unknown as { startedAt: number; deadlineAt: number; pgid: number };
    // Let the orphan use up two thirds of its timeout while no runtime runs.
    await whenTicksSpan(ticks, 1_000);
    const restartAt = Date.now();
    const { result, dispatches } = await resume(plan);
    expect(result.exitCode).toBe(1);
    const [dispatch] = dispatches;
    expect(dispatch).toMatchObject({ state: 'failed', outcome: 'timeout', startedAt: started.startedAt });
    expect(dispatch?.endedAt).toBeGreaterThanOrEqual(started.deadlineAt);
    // A timer re-armed from zero at the restart would have fired only after restartAt + 1500 ms.
    expect(dispatch?.endedAt).toBeLessThan(restartAt + 1_500);
    expect(listAlive(started.pgid)).toBe(false);
  });

  it('W6 worker in_turn whose process ended while no runtime ran: the exit recorded by its shim is used, nothing runs again', async () => {
    const flag = path.join(dir, 'go');
    const plan = onePlan(`[${node}, ${script('exit-when-file.mjs')}, ${JSON.stringify(flag)}, "3"]`, ', maxAttempts: 1');
    await crashAt(plan, (e) => e.kind === 'worker' && e.event === 'TURN_STARTED');
    const started = (await workerSnapshot()).context.started;
    fs.writeFileSync(flag, 'now');
    await waitForFile(started?.statusFile ?? '');
    const { result, dispatches } = await resume(plan);
    expect(result.exitCode).toBe(1);
    expect(dispatches.map((d) => [d.state, d.outcome, d.exitCode])).toEqual([['failed', 'exited', 3]]);
  });

  it('W7 worker in_turn whose process vanished without an exit status: turn lost (no attempt used), retried', async () => {
    const plan = onePlan(`[${node}, ${script('silent-forever.mjs')}]`, ', maxAttempts: 1, stallTimeout: 1h');
    await crashAt(plan, (e) => e.kind === 'worker' && e.event === 'TURN_STARTED');
    const started = (await workerSnapshot()).context.started;
    // SIGKILL the whole group at once: the shim gets no chance to write a status (a SIGTERM
    // first, as killProcessGroup sends, lets it record the command's death). Then verify it gone.
    process.kill(-(started?.pgid ?? 0), 'SIGKILL');
    await killProcessGroup(started?.pgid ?? 0, { graceMs: 0, clock: systemClock });
    const finalPlan = onePlan(`[${node}, ${script('exit-with.mjs')}, "0"]`, ', maxAttempts: 1');
    const { result, dispatches } = await resume(finalPlan);
    expect(result.exitCode).toBe(0);
    expect(dispatches.map((d) => [d.state, d.outcome])).toEqual([
      ['failed', 'lost'],
      ['completed', 'exited'],
    ]);
    expect(dispatches[0]?.reason).toMatch(/the runtime stopped while the turn ran; .*no exit status/);
  });

  it('W8 worker stopping: the stop runs again (kill, verify), it ends stopped, and the interrupted unit is run again', async () => {
    const plan = onePlan(`[${node}, ${script('ignore-sigterm.mjs')}]`, ', stallTimeout: 1h');
    const runtime = createRuntime({ store: storeFile, groupCommit: false });
    let pgid = 0;
    runtime.events.on('unit.started', (event) => {
      pgid = event.pid;
      void runtime.stop('operator', 130);
    });
    const crashed = new Promise<void>((resolve) =>
      runtime.events.on('actor.transition', (event) => {
        if (event.kind === 'worker' && event.to === 'stopping') {
          runtime.detach();
          resolve();
        }
      }),
    );
    await runtime.start(plan);
    await crashed;
    expect(listAlive(pgid)).toBe(true);
    const finalPlan = onePlan(`[${node}, ${script('exit-with.mjs')}, "0"]`);
    const { result, dispatches, transitions } = await resume(finalPlan);
    expect(listAlive(pgid)).toBe(false);
    expect(transitions.find((t) => t.actorId === 'worker-1' && t.from === 'stopping')).toMatchObject({ to: 'stopped' });
    expect(result.exitCode).toBe(0);
    expect(dispatches.map((d) => [d.id, d.state])).toEqual([
      ['m/u#1', 'canceled'],
      ['m/u#2', 'completed'],
    ]);
  });

  it('D4 dispatch claimed by a worker that never got the turn: the turn is assigned again under the same token', async () => {
    const plan = onePlan(`[${node}, ${script('exit-with.mjs')}, "0"]`);
    await crashAt(plan, (e) => e.kind === 'dispatch' && e.to === 'claimed');
    const { result, dispatches } = await resume(plan);
    expect(result.exitCode).toBe(0);
    expect(dispatches.map((d) => [d.id, d.state, d.fencingToken])).toEqual([['m/u#1', 'completed', 1]]);
  });

  it('D5 dispatch claimed under a fencing token the milestone no longer has: abandoned, and the unit runs under the new token', async () => {
    const plan = onePlan(`[${node}, ${script('exit-with.mjs')}, "0"]`);
    await crashAt(plan, (e) => e.kind === 'dispatch' && e.to === 'claimed');
    // Meanwhile another holder took the milestone over and released it (token 2).
    const raw = new Database(storeFile);
    raw.prepare("UPDATE lease_ledger SET fencing_token = 2, holder_id = NULL, lease_id = NULL, expires_at = NULL WHERE milestone_id = 'm'").run();
    raw.close();
    const { result, dispatches } = await resume(plan);
    expect(result.exitCode).toBe(0);
    expect(dispatches.map((d) => [d.id, d.state, d.fencingToken])).toEqual([
      ['m/u#1', 'failed', 1],
      ['m/u#2', 'completed', 3],
    ]);
    expect(dispatches[0]?.reason).toMatch(/^abandoned: claimed by worker-1 under fencing token 1, now held by worker-1 under 3/);
  });

  it('D9 a completion written under a stale fencing token is refused and recorded failed (fenced); the unit runs again', async () => {
    const plan = onePlan(`[${node}, ${script('sleep-then-exit.mjs')}, "300"]`);
    const runtime = createRuntime({ store: storeFile, leaseTtlMs: 600_000 });
    const refused = nextEvent(runtime.events, 'actor.persist-failed');
    let takenOver = false;
    runtime.events.on('unit.started', () => {
      if (takenOver) return;
      takenOver = true;
      // Another holder takes the milestone over while the first turn runs; its lease ends soon.
      bumpLedger(storeFile);
    });
    await runtime.start(plan);
    expect((await refused).error.name).toBe('StaleFencingTokenError');
    const result = await runtime.finished;
    const dispatches = await runtime.store.listDispatches('m/u');
    await runtime.store.close();
    expect(result.exitCode).toBe(0);
    expect(dispatches[0]).toMatchObject({ id: 'm/u#1', state: 'failed' });
    expect(dispatches[0]?.reason).toMatch(/^fenced: write under lease of milestone m with fencing token 1 refused: current token is 2/);
    expect(dispatches.at(-1)).toMatchObject({ state: 'completed', fencingToken: 3 });
  });

  it('D9 a completion written under a token the ledger moved past after the pass read it is refused and recorded failed (fenced); the unit runs again', async () => {
    const plan = onePlan(`[${node}, ${script('sleep-then-exit.mjs')}, "300"]`);
    const real = openStoreAt(storeFile);
    // The pass recording the completion sees the ledger as it was before the takeover (the
    // takeover lands between its read and its commit); every later pass sees the store as it is.
    let before: LeaseLedgerEntry | undefined;
    let staleViews = false;
    const store = new Proxy(real, {
      get(target, property) {
        if (property === 'readSchedulerView') {
          return async (request: SchedulerViewRequest): Promise<SchedulerView> => {
            const view = await target.readSchedulerView(request);
            const old = before;
            return staleViews && old !== undefined ? { ...view, ledger: view.ledger.map((entry) => (entry.milestoneId === 'm' ? old : entry)) } : view;
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const runtime = createRuntime({ store, leaseTtlMs: 600_000 });
    const refused = nextEvent(runtime.events, 'actor.persist-failed');
    runtime.events.on('actor.persist-failed', () => {
      staleViews = false;
    });
    let takenOver = false;
    runtime.events.on('unit.started', () => {
      if (takenOver) return;
      takenOver = true;
      void real.getLease('m').then((entry) => {
        before = entry;
        staleViews = true;
        bumpLedger(storeFile);
      });
    });
    await runtime.start(plan);
    expect((await refused).error.name).toBe('StaleFencingTokenError');
    const result = await runtime.finished;
    const dispatches = await real.listDispatches('m/u');
    await real.close();
    expect(result.exitCode).toBe(0);
    expect(dispatches[0]).toMatchObject({ id: 'm/u#1', state: 'failed' });
    expect(dispatches[0]?.reason).toMatch(/^fenced: write under lease of milestone m with fencing token 1 refused: current token is 2/);
    expect(dispatches.at(-1)).toMatchObject({ state: 'completed', fencingToken: 3 });
  });
});

/** Another holder takes milestone `m` over (a new fencing token) with a lease that ends 400 ms later. */
function bumpLedger(file: string): void {
  const raw = new Database(file);
  raw.prepare("UPDATE lease_ledger SET fencing_token = fencing_token + 1, holder_id = 'elsewhere', expires_at = ? WHERE milestone_id = 'm'").run(Date.now() + 400);
  raw.close();
}

function listAlive(pgid: number): boolean {
  return isProcessAlive(pgid, null);
}

/** Resolves once the tick log spans at least `ms` from its first line (fs.watch, not a timer). */
function whenTicksSpan(file: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
      const first = lines[0];
      const last = lines.at(-1);
      if (first !== undefined && last !== undefined && (JSON.parse(last) as { t: number }).t - (JSON.parse(first) as { t: number }).t >= ms) {
        watcher.close();
        resolve();
      }
    };
    fs.writeFileSync(file, '', { flag: 'a' });
    const watcher = fs.watch(file, check);
    check();
  });
}

/** Resolves once `file` exists (watched on its folder, not polled on a timer). */
function waitForFile(file: string): Promise<void> {
  return new Promise((resolve) => {
    const folder = path.dirname(file);
    const watcher = fs.watch(folder, () => {
      if (fs.existsSync(file)) {
        watcher.close();
        resolve();
      }
    });
    if (fs.existsSync(file)) {
      watcher.close();
      resolve();
    }
  });
}
