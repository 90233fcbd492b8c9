import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive, listProcessGroup } from '../actors/processes.js';
import { TurnKeepAlive } from '../actors/keepAlive.js';
import { KEEPALIVE_POLL_MS } from '../actors/turnKeepAlive.js';
import { adoptTurn, runTurn, type TurnRequest, type TurnStarted } from '../actors/turnRunner.js';
import { readTurnStatus } from '../actors/turnSupervisor.js';
import { systemClock } from '../core/clock.js';
import { fixtureTurn, killTurnGroupIfOurs } from './helpers/turnRequest.js';

const LOST = "the turn's process is gone and left no exit status";

let dir: string;
type Runtime = { readonly process: ChildProcessByStdio<null, Readable, null>; readonly exited: Promise<unknown> };
const runtimes: Runtime[] = [];
const groups: TurnStarted[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'statecrew-adopt-'));
});

afterEach(async () => {
  // A failed test must not leave a fixture running: runtime stand-ins first, then every turn's group.
  for (const runtime of runtimes.splice(0)) {
    if (runtime.process.exitCode === null && runtime.process.signalCode === null) {
      runtime.process.kill('SIGKILL');
      await runtime.exited;
    }
  }
  for (const start of groups.splice(0)) await killTurnGroupIfOurs(start);
  rmSync(dir, { recursive: true, force: true });
});

function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** A turn running `fixtures/<script>` with generous limits; override what a test is about. */
function turn(script: string, args: readonly string[] = [], overrides: Partial<TurnRequest> = {}): TurnRequest {
  return fixtureTurn(dir, script, args, { ...{ dispatchId: 'dispatch-adopt', attempt: 1, fencingToken: 3, logPath: join(dir, 'logs', 'attempt-1.log') }, ...overrides });
}

/**
 * Starts `request` with the real runner in another runtime process
 * (`fixtures/run-turn-then-die.mjs`, with a keep-alive of `keepAliveGraceMs` when given),
 * reads the TurnStarted it reports, and SIGKILLs that process: what is left is a turn whose
 * runtime died, as after a crash.
 */
async function startThenKillRuntime(request: TurnRequest, keepAliveGraceMs?: number): Promise<TurnStarted> {
  const grace = keepAliveGraceMs === undefined ? [] : [String(keepAliveGraceMs)];
  const child = spawn(process.execPath, [fixture('run-turn-then-die.mjs'), JSON.stringify(request), ...grace], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const runtime = { process: child, exited: once(child, 'exit') };
  runtimes.push(runtime);
  const lines = createInterface({ input: child.stdout });
  let start: TurnStarted | null = null;
  for await (const line of lines) {
    start = JSON.parse(line) as TurnStarted;
    break;
  }
  lines.close();
  if (start === null) throw new Error('the runtime stand-in ended without reporting a start');
  groups.push(start);
  child.kill('SIGKILL');
  await runtime.exited;
  return start;
}

/** Resolves once `test()` holds, checked at once and on every change in `path`'s directory (watched, not polled). */
function whenChanged(path: string, test: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!test()) return;
      watcher.close();
      resolve();
    };
    const watcher = watch(dirname(path), check);
    watcher.on('error', reject);
    check();
  });
}

const whenLogged = (logPath: string, text: string): Promise<void> =>
  whenChanged(logPath, () => existsSync(logPath) && readFileSync(logPath, 'utf8').includes(text));

describe('adoptTurn', () => {
  it('follows a turn whose runtime died until the command exits, with its exit code and last stderr line', async () => {
    const go = join(dir, 'go');
    const request = turn('exit-when-file.mjs', [go, '3', 'cannot find tsconfig']);
    const start = await startThenKillRuntime(request);
    await whenLogged(request.logPath, 'waiting\n');
    expect(isProcessAlive(start.pid, start.procStartTime)).toBe(true);
    expect(listProcessGroup(start.pgid).length).toBeGreaterThanOrEqual(2); // the shim and the command
    process.kill(start.pid, 'SIGHUP'); // the shim ignores a hang-up

    const adopted = adoptTurn(request, start, { clock: systemClock });
    await whenLogged(request.logPath, ' still running, ');
    writeFileSync(go, '');
    const outcome = await adopted;

    expect(outcome).toMatchObject({
      kind: 'exited', exitCode: 3, signal: null, reason: 'exit code 3: cannot find tsconfig',
      lastStderrLine: 'cannot find tsconfig', pid: start.pid,
    });
    const log = readFileSync(request.logPath, 'utf8');
    expect(log).toMatch(/^# adopted by runtime process \d+ at .*: process \d+ still running, .* left before the timeout$/m);
    expect(log).toContain('an earlier complaint\ncannot find tsconfig\n');
    expect(log).toMatch(/\n# exit code 3: cannot find tsconfig after [^\n]*\n$/);
    expect(listProcessGroup(start.pgid)).toEqual([]);
  });

  it('kills the turn at its absolute deadline, counting the time the runtime was down', async () => {
    const request = turn('silent-forever.mjs', [], { timeoutMs: 1_500 });
    const start = await startThenKillRuntime(request);
    // The runtime stays down for the first second of the turn (a deliberate downtime, not a wait for an event).
    await delay(Math.max(0, start.startedAt + 1_000 - Date.now()));
    const adoptedAt = Date.now();
    const outcome = await adoptTurn(request, start, { clock: systemClock });

    expect(adoptedAt - start.startedAt).toBeGreaterThanOrEqual(1_000);
    expect(outcome).toMatchObject({ kind: 'timeout', reason: 'killed after timeout of 1.5s', exitCode: null, signal: 'SIGTERM' });
    expect(outcome.endedAt).toBeGreaterThanOrEqual(start.deadlineAt);
    expect(outcome.endedAt).toBeLessThanOrEqual(start.deadlineAt + request.killGraceMs + 1_000);
    expect(outcome.endedAt).toBeLessThan(start.startedAt + 2 * request.timeoutMs);
    expect(listProcessGroup(start.pgid)).toEqual([]);
  });

  it('kills the turn at once when its deadline passed while the runtime was down', async () => {
    const request = turn('silent-forever.mjs', [], { timeoutMs: 300 });
    const start = await startThenKillRuntime(request);
    await delay(Math.max(0, start.deadlineAt + 100 - Date.now())); // deliberate downtime past the deadline
    const adoptedAt = Date.now();
    const outcome = await adoptTurn(request, start, { clock: systemClock });

    expect(outcome).toMatchObject({ kind: 'timeout', reason: 'killed after timeout of 300ms', signal: 'SIGTERM' });
    expect(outcome.endedAt - adoptedAt).toBeLessThan(request.killGraceMs + 500);
    expect(listProcessGroup(start.pgid)).toEqual([]);
  });

  it('stops an adopted turn as stalled once its log stops growing', async () => {
    const request = turn('tick-then-silent.mjs', ['10', '100'], { stallTimeoutMs: 500 });
    const start = await startThenKillRuntime(request);
    const outcome = await adoptTurn(request, start, { clock: systemClock });

    expect(outcome).toMatchObject({ kind: 'stalled', reason: 'no output for 500ms (stall timeout)', signal: 'SIGTERM' });
    expect(readFileSync(request.logPath, 'utf8')).toContain('tick 10\n');
    // The ticks logged after the adoption kept the watchdog quiet: it fired only after the last one.
    expect(outcome.endedAt - start.startedAt).toBeGreaterThanOrEqual(10 * 100 + 500);
    expect(outcome.endedAt).toBeLessThan(start.deadlineAt);
    expect(listProcessGroup(start.pgid)).toEqual([]);
  });

  it('reports a turn that ended while the runtime was down from its status file, killing what it left behind', async () => {
    const go = join(dir, 'go');
    const request = turn('exit-when-file.mjs', [go, '0', '--leave-grandchild']);
    const start = await startThenKillRuntime(request);
    writeFileSync(go, '');
    await whenChanged(start.statusFile, () => existsSync(start.statusFile));
    const printed = readFileSync(request.logPath, 'utf8');
    const grandchild = Number(/^grandchild (\d+)$/m.exec(printed)?.[1]);
    // By pid and start time: pids are reused while the suite runs.
    const grandchildStart = /^grandchild-start (\d+)$/m.exec(printed)?.[1] ?? null;
    expect(isProcessAlive(grandchild, grandchildStart)).toBe(true);

    const adoptedAt = Date.now();
    const outcome = await adoptTurn(request, start, { clock: systemClock });

    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0, signal: null, reason: 'exit code 0' });
    expect(outcome.endedAt - adoptedAt).toBeLessThan(request.killGraceMs + 1_000); // no waiting on a deadline
    expect(isProcessAlive(grandchild, grandchildStart)).toBe(false);
    const log = readFileSync(request.logPath, 'utf8');
    expect(log).toMatch(/^# adopted by runtime process \d+ at .*: the turn had ended$/m);
    expect(log).toMatch(/\n# exit code 0 after [^\n]*; process group \d+ sent SIGTERM\n$/);
    expect(listProcessGroup(start.pgid)).toEqual([]);
  });

  it('never probes or signals a turn recorded under another host identity: lost while no status is readable, else the status decides', async () => {
    // The same pid in another PID namespace (or on another machine) is some other process:
    // here it is a live turn of this namespace that the foreign record must not touch.
    const go = join(dir, 'go');
    const request = turn('exit-when-file.mjs', [go, '4', 'from the other namespace']);
    const local = await startThenKillRuntime(request);
    await whenLogged(request.logPath, 'waiting\n');
    const foreign: TurnStarted = { ...local, hostId: 'another-machine/another-boot/pid:4026532178' };
    const logBefore = readFileSync(request.logPath, 'utf8');

    const lost = await adoptTurn(request, foreign, { clock: systemClock });
    expect(lost).toMatchObject({ kind: 'lost', exitCode: null, signal: null, pid: local.pid });
    expect(lost.reason).toMatch(/ran under host another-machine\/another-boot\/pid:4026532178, whose processes cannot be seen or signalled from here/);
    expect(isProcessAlive(local.pid, local.procStartTime), 'not signalled').toBe(true);
    expect(listProcessGroup(local.pgid).length).toBeGreaterThanOrEqual(2);
    expect(readFileSync(request.logPath, 'utf8'), 'its log is not touched').toBe(logBefore);

    // A status file readable here (a file system shared with that namespace) says how it ended.
    writeFileSync(go, '');
    await whenChanged(local.statusFile, () => existsSync(local.statusFile));
    const ended = await adoptTurn(request, foreign, { clock: systemClock });
    expect(ended).toMatchObject({ kind: 'exited', exitCode: 4, reason: 'exit code 4: from the other namespace', lastStderrLine: 'from the other namespace' });
  });

  it('resolves lost when the shim was killed while the runtime was down, and kills the command it left', async () => {
    const request = turn('silent-forever.mjs');
    const start = await startThenKillRuntime(request);
    await whenLogged(request.logPath, 'started\n');
    const [command] = listProcessGroup(start.pgid).filter((pid) => pid !== start.pid);
    process.kill(start.pid, 'SIGKILL');
    const outcome = await adoptTurn(request, start, { clock: systemClock });

    expect(outcome).toMatchObject({ kind: 'lost', reason: LOST, exitCode: null, signal: null, lastStderrLine: null });
    expect(isProcessAlive(command ?? 0, null)).toBe(false);
    expect(readFileSync(request.logPath, 'utf8')).toMatch(/\n# the turn's process is gone and left no exit status; noticed after [^\n]*; process group \d+ sent SIGTERM\n$/);
    expect(listProcessGroup(start.pgid)).toEqual([]);
  });

  it('kills an adopted turn with SIGKILL after the grace period when stopped and it ignores SIGTERM', async () => {
    const request = turn('ignore-sigterm.mjs');
    const start = await startThenKillRuntime(request);
    await whenLogged(request.logPath, 'ready\n');
    const controller = new AbortController();
    const adopted = adoptTurn(request, start, { clock: systemClock, signal: controller.signal });
    await whenLogged(request.logPath, ' still running, ');
    controller.abort();
    const outcome = await adopted;

    expect(outcome).toMatchObject({ kind: 'signaled', reason: 'stopped by runtime', signal: 'SIGKILL' });
    const log = readFileSync(request.logPath, 'utf8');
    expect(log).toContain('got SIGTERM, ignoring it');
    expect(log).toMatch(/sent SIGTERM, SIGKILL\n$/);
    expect(listProcessGroup(start.pgid)).toEqual([]);
  });

  it('kills the group, then rejects, when the status file is malformed', async () => {
    const request = turn('silent-forever.mjs');
    const start = await startThenKillRuntime(request);
    // SIGKILL the shim alone (the command stays in the group): it must not replace the
    // malformed file with a good one when the adopter kills the command.
    process.kill(start.pid, 'SIGKILL');
    writeFileSync(start.statusFile, '{"exitCode": "zero"}');
    await expect(adoptTurn(request, start, { clock: systemClock })).rejects.toThrow(/turn status file .* is malformed/);
    expect(listProcessGroup(start.pgid)).toEqual([]);
  });

  it('rejects a recorded start without an absolute status file before touching anything', async () => {
    const request = turn('silent-forever.mjs');
    const start: TurnStarted = {
      pid: 4_194_305, pgid: 4_194_305, procStartTime: null, startedAt: 0, logPath: request.logPath, statusFile: 'status.json', deadlineAt: 1,
    };
    await expect(adoptTurn(request, start, { clock: systemClock })).rejects.toThrow(RangeError);
    expect(existsSync(request.logPath)).toBe(false);
  });
});

describe('the turn keep-alive', () => {
  const GRACE_MS = 600;
  const keepAlive = (): TurnKeepAlive =>
    new TurnKeepAlive({ graceMs: GRACE_MS, renewEveryMs: GRACE_MS / 4, mayRenew: () => true, onError: (_path, error) => { throw error; } });

  it('ends a turn whose runtime died and that no runtime adopted, by its shim, within the bound; even a command that ignores SIGTERM', async () => {
    const request = turn('ignore-sigterm.mjs', [], { killGraceMs: 400 });
    const start = await startThenKillRuntime(request, GRACE_MS);
    const killedAt = Date.now();
    await whenChanged(start.statusFile, () => existsSync(start.statusFile));
    const status = readTurnStatus(start.statusFile);

    // Never before one grace after the start; at most a grace (and a poll, and scheduling slack)
    // after the runtime's death. Then SIGTERM, and SIGKILL after the (capped) kill grace.
    // (Held for one grace just before the spawn, so a little before `startedAt`.)
    expect(status?.keepAliveLapsedAt).toBeGreaterThanOrEqual(start.startedAt + GRACE_MS - 250);
    expect(status?.keepAliveLapsedAt).toBeLessThanOrEqual(killedAt + GRACE_MS + KEEPALIVE_POLL_MS + 2_000);
    expect(status).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(status?.endedAt).toBeGreaterThanOrEqual((status?.keepAliveLapsedAt ?? 0) + keepAlive().lapseKillGraceMs(400));
    expect(readFileSync(request.logPath, 'utf8')).toContain('got SIGTERM, ignoring it\n');
    // The shim SIGKILLs what is left of the group, itself included, right after its status.
    await waitForEmptyGroup(start.pgid);
    expect(isProcessAlive(start.pid, start.procStartTime)).toBe(false);

    const outcome = await adoptTurn(request, start, { clock: systemClock });
    expect(outcome.kind).toBe('signaled');
    expect(outcome.reason).toMatch(/^killed by its turn shim at .*: no runtime renewed the turn's keep-alive$/);
  });

  it('keeps a turn alive for as long as the runtime that adopted it renews it, long past one grace', async () => {
    const go = join(dir, 'go');
    const request = turn('exit-when-file.mjs', [go, '3', 'adopted and kept']);
    const start = await startThenKillRuntime(request, GRACE_MS);
    const adopted = adoptTurn(request, start, { clock: systemClock, keepAlive: keepAlive() });
    await whenLogged(request.logPath, ' still running, ');
    // Four graces without the dead runtime (a deliberate span of time, not a wait for an event).
    await delay(4 * GRACE_MS);
    expect(isProcessAlive(start.pid, start.procStartTime)).toBe(true);
    writeFileSync(go, '');
    expect(await adopted).toMatchObject({ kind: 'exited', exitCode: 3, reason: 'exit code 3: adopted and kept' });
    expect(readTurnStatus(start.statusFile)?.keepAliveLapsedAt).toBeNull();
  });

  it('lets the turns lapse once the runtime may no longer vouch for them (its heartbeat is not being recorded)', async () => {
    let mayRenew = true;
    const lapsing = new TurnKeepAlive({ graceMs: GRACE_MS, renewEveryMs: GRACE_MS / 4, mayRenew: () => mayRenew, onError: (_path, error) => { throw error; } });
    const request = turn('silent-forever.mjs');
    let reportStart: (start: TurnStarted) => void = () => undefined;
    const started = new Promise<TurnStarted>((resolve) => { reportStart = resolve; });
    const running = runTurn(request, { clock: systemClock, keepAlive: lapsing, onStart: (start) => reportStart(start) });
    const { pgid } = await started;
    mayRenew = false;
    const stoppedAt = Date.now();
    const outcome = await running;
    expect(outcome.kind).toBe('signaled');
    expect(outcome.reason).toMatch(/no runtime renewed the turn's keep-alive$/);
    expect(outcome.endedAt - stoppedAt).toBeLessThanOrEqual(GRACE_MS + KEEPALIVE_POLL_MS + lapsing.lapseKillGraceMs(request.killGraceMs) + 1_500);
    expect(listProcessGroup(pgid)).toEqual([]);
  });
});

/** Resolves once process group `pgid` is empty; the shim's last act is SIGKILL to it, so this is immediate or nearly so. */
async function waitForEmptyGroup(pgid: number): Promise<void> {
  for (let i = 0; i < 100 && listProcessGroup(pgid).length > 0; i++) await delay(20);
  expect(listProcessGroup(pgid)).toEqual([]);
}
