import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixture, fixtureCommand, killRunningClis, makeTempDir, runCli, startCli, writePlan } from './helpers/cli.js';

/**
 * `statecrew run` while another process holds the store's write lock (`BEGIN EXCLUSIVE`) for
 * 15 s: the run says it is waiting and finishes once the lock is free, or — told to wait less
 * (`--store-wait`) — stops with exit code 4 and a clear message. Never a stack trace.
 */

let dir: string;

beforeEach(() => {
  dir = makeTempDir();
});

afterEach(async () => {
  await killRunningClis();
  fs.rmSync(dir, { recursive: true, force: true });
});

const HOLD_MS = 15_000;

function writeUnitsPlan(): void {
  writePlan(dir, {
    version: 1,
    workers: 2,
    store: 'state/s.db',
    milestones: [
      { id: 'a', units: ['a1', 'a2', 'a3'].map((id) => ({ id, command: fixtureCommand('sleep-then-exit.mjs', '300') })) },
      { id: 'b', units: ['b1', 'b2', 'b3'].map((id) => ({ id, command: fixtureCommand('sleep-then-exit.mjs', '300') })) },
    ],
  });
}

/** Starts a process that takes the store's write lock for `ms` and resolves once it holds it. */
async function holdLock(ms: number) {
  const holder = spawn(process.execPath, [fixture('hold-write-lock.mjs'), path.join(dir, 'state', 's.db'), String(ms), 'exclusive'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(holder, 'exit');
  await once(holder.stdout, 'data');
  return { holder, exited };
}

const STACK_TRACE = /^\s+at .+(\(|:\d+:\d+)/m;

describe('a store locked by another process', () => {
  it('waits for the lock, says so, and finishes every unit once it is free', async () => {
    writeUnitsPlan();
    const run = startCli(dir, ['run', 'plan.yaml']);
    await run.waitForLine(/start\s+a1/);
    const { exited } = await holdLock(HOLD_MS);
    await run.waitForLine(/the store is unavailable .*locked.*; waiting, retry \d+ in/);
    const result = await run.done;
    await exited;
    expect(result.stdout).toMatch(/the store is available again after/);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/6\/6 units completed/);
    expect(result.stdout + result.stderr).not.toMatch(STACK_TRACE);
    const status = await runCli(dir, 'status', '--store', 'state/s.db', '--json');
    const report = JSON.parse(status.stdout) as { units: { state: string }[] };
    expect(report.units.map((unit) => unit.state)).toEqual(Array(6).fill('completed'));
  }, 90_000);

  it('stops with exit code 4 and a clear message when the lock outlasts --store-wait, and a later run resumes', async () => {
    writeUnitsPlan();
    const run = startCli(dir, ['run', 'plan.yaml', '--store-wait', '2s']);
    await run.waitForLine(/start\s+a1/);
    const { holder, exited } = await holdLock(HOLD_MS);
    const result = await run.done;
    expect(result.code, result.stdout + result.stderr).toBe(4);
    // Each attempt waits the store's busyTimeoutMs (5 s) for the lock: one is already past --store-wait.
    expect(result.stdout).toMatch(/the store failed \(.*still unavailable after \d+ ms.*database is locked by another process/);
    expect(result.stderr).toMatch(/statecrew: store failure: .*database is locked.*fix the cause and run the same command again/);
    expect(result.stdout + result.stderr).not.toMatch(STACK_TRACE);
    holder.kill('SIGKILL');
    await exited;
    const again = await runCli(dir, 'run', 'plan.yaml');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/6\/6 units completed/);
  }, 90_000);
});
