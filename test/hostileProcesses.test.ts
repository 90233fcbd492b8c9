/**
 * Hostile agents: each fixture in `fixtures/hostile/` misbehaves in one way, and runs as a
 * real turn through `runTurn` with short real limits. Whatever it does, the turn must end
 * within its timeout plus the kill grace (plus a small slack for the verification), every
 * process of the turn must be verified gone — its process group, every pid it printed, and
 * every process carrying its STATECREW_TURN_KEY — the reason must be recorded, and its output
 * must go to the log file, not to the runtime's memory.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findProcessesByEnv, isProcessAlive, killProcesses, listProcessGroup } from '../actors/processes.js';
import { adoptTurn, runTurn, type TurnOutcome, type TurnRequest, type TurnStarted } from '../actors/turnRunner.js';
import { systemClock } from '../core/clock.js';
import { killTurnGroupIfOurs } from './helpers/turnRequest.js';

/** Wall-clock limit of a hostile turn, in ms. */
const TIMEOUT_MS = 1_500;
/** Stall timeout of the turn of the agent that prints nothing, in ms. */
const STALL_MS = 500;
/**
 * Stall timeout of the other hostile turns, in ms: they print all the time once running, but
 * the first output comes after two or three Node startups (shim, agent, its child), which
 * take longer than {@link STALL_MS} on a loaded machine.
 */
const STARTUP_TOLERANT_STALL_MS = 1_000;
/** Kill grace of a hostile turn, in ms. */
const GRACE_MS = 300;
/**
 * What the end of a turn may take beyond its timeout plus grace, in ms: the last probes of
 * the group (every 25 ms), the shim's exit, the footer. Generous for a loaded test machine.
 */
const SLACK_MS = 500;
const TURN_KEY_ENV = 'STATECREW_TURN_KEY';

let dir: string;
let turnKey: string;
const groups: TurnStarted[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'statecrew-hostile-'));
  turnKey = `hostile-test:${randomUUID()}`;
});

afterEach(async () => {
  // Cleanup only (a failed test must not leave a fixture running): the assertions are in the tests.
  for (const start of groups.splice(0)) await killTurnGroupIfOurs(start);
  const left = findProcessesByEnv(TURN_KEY_ENV, turnKey);
  if (left.length > 0) await killProcesses(left, { graceMs: 0, clock: systemClock });
  rmSync(dir, { recursive: true, force: true });
});

function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** A turn running `fixtures/hostile/<script>` with the short hostile limits; override what a test is about. */
function hostileTurn(script: string, args: readonly string[] = [], overrides: Partial<TurnRequest> = {}): TurnRequest {
  return {
    dispatchId: 'dispatch-hostile',
    unitId: 'unit-h',
    milestoneId: 'm1',
    workerId: 'worker-1',
    attempt: 1,
    fencingToken: 1,
    command: [process.execPath, fixture(`hostile/${script}`), ...args],
    cwd: dir,
    env: {},
    input: null,
    timeoutMs: TIMEOUT_MS,
    stallTimeoutMs: STARTUP_TOLERANT_STALL_MS,
    killGraceMs: GRACE_MS,
    logPath: join(dir, 'logs', 'attempt-1.log'),
    turnKey,
    ...overrides,
  };
}

interface HostileRun {
  readonly outcome: TurnOutcome;
  readonly start: TurnStarted;
  /** Clock ms when the runner's promise resolved. */
  readonly resolvedAt: number;
  /** Growth of this process's V8 heap from just before the turn to just after it resolved, in bytes. */
  readonly heapGrowth: number;
  readonly log: string;
}

/** Runs `request` with the system clock; returns the outcome, the reported start, when it resolved, and the log. */
async function runHostile(request: TurnRequest): Promise<HostileRun> {
  const starts: TurnStarted[] = [];
  const heapBefore = process.memoryUsage().heapUsed;
  const outcome = await runTurn(request, {
    clock: systemClock,
    onStart: (start) => {
      starts.push(start);
      groups.push(start);
    },
  });
  const resolvedAt = systemClock.now();
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  const [start] = starts;
  if (start === undefined) throw new Error('runTurn resolved without reporting a start');
  return { outcome, start, resolvedAt, heapGrowth, log: readFileSync(request.logPath, 'utf8') };
}

/** The pids the fixture printed on lines `<label> <pid>`, in order. */
function printedPids(log: string, label: string): number[] {
  return [...log.matchAll(new RegExp(`^${label} (\\d+)$`, 'gm'))].map((match) => Number(match[1]));
}

/** The turn ended, and its promise resolved, no later than its timeout plus the kill grace (plus {@link SLACK_MS}). */
function expectEndedInTime({ outcome, start, resolvedAt }: HostileRun, request: TurnRequest): void {
  const bound = start.startedAt + request.timeoutMs + request.killGraceMs + SLACK_MS;
  expect(outcome.endedAt).toBeGreaterThanOrEqual(start.startedAt);
  expect(outcome.endedAt).toBeLessThanOrEqual(bound);
  expect(resolvedAt).toBeLessThanOrEqual(bound);
}

/** Nothing of the turn is alive: its process group, every pid given, and every process carrying its turn key. */
function expectAllGone(start: TurnStarted, pids: readonly number[]): void {
  expect(listProcessGroup(start.pgid)).toEqual([]);
  expect(isProcessAlive(start.pid, start.procStartTime)).toBe(false);
  for (const pid of pids) expect(isProcessAlive(pid, null), `process ${pid} printed by the fixture`).toBe(false);
  expect(findProcessesByEnv(TURN_KEY_ENV, turnKey)).toEqual([]);
}

/** The log's last line: the runner's footer. */
function footer(log: string): string {
  return log.trimEnd().split('\n').at(-1) ?? '';
}

describe('runTurn against hostile agents', () => {
  it('kills an agent that ignores SIGTERM with SIGKILL after the grace, at its timeout', async () => {
    const request = hostileTurn('ignore-sigterm.mjs');
    const run = await runHostile(request);
    expect(run.outcome).toMatchObject({ kind: 'timeout', exitCode: null, signal: 'SIGKILL', reason: 'killed after timeout of 1.5s' });
    expect(run.outcome.endedAt).toBeGreaterThanOrEqual(run.start.deadlineAt + GRACE_MS);
    expectEndedInTime(run, request);
    expectAllGone(run.start, []);
    expect(run.log).toContain('got SIGTERM, ignoring it\n');
    expect(footer(run.log)).toMatch(/^# killed after timeout of 1\.5s; ended after [\d.]+m?s; process group \d+ sent SIGTERM, SIGKILL$/);
  });

  it('kills the grandchildren an agent forked in its group, which keep running and ignore SIGTERM', async () => {
    const request = hostileTurn('fork-grandchildren.mjs', ['3']);
    const run = await runHostile(request);
    // The grandchildren keep the log growing, so the wall-clock limit ends the turn, not the stall watchdog.
    expect(run.outcome).toMatchObject({ kind: 'timeout', exitCode: null, reason: 'killed after timeout of 1.5s' });
    expect(run.outcome.signal).not.toBeNull();
    expectEndedInTime(run, request);
    const grandchildren = printedPids(run.log, 'grandchild');
    expect(grandchildren).toHaveLength(3);
    expectAllGone(run.start, grandchildren);
    expect(footer(run.log)).toMatch(/; process group \d+ sent SIGTERM, SIGKILL$/);
  });

  it('records how an agent that closed its stdout but kept running on stderr ended', async () => {
    const request = hostileTurn('close-stdout.mjs');
    const run = await runHostile(request);
    // The shim outlives the agent's SIGTERM, so how it died and its last stderr line are recorded.
    expect(run.outcome).toMatchObject({
      kind: 'timeout', exitCode: null, signal: 'SIGTERM', reason: 'killed after timeout of 1.5s', lastStderrLine: 'stdout closed: EBADF',
    });
    expectEndedInTime(run, request);
    const children = printedPids(run.log, 'child');
    expect(children).toHaveLength(1);
    expectAllGone(run.start, children);
    expect(run.log).toContain('stdout closed: EBADF\n');
    expect(run.log).not.toContain('lost\n');
    expect(footer(run.log)).toMatch(/^# killed after timeout of 1\.5s; ended after .*; process group \d+ sent SIGTERM$/);
  });

  it('streams 10 MB written at once to the log file, not to the runtime’s memory', async () => {
    const bytes = 10 * 1024 * 1024;
    const request = hostileTurn('flood.mjs', [String(bytes)]);
    const run = await runHostile(request);
    expect(run.outcome).toMatchObject({ kind: 'exited', exitCode: 0, reason: 'exit code 0', outputBytes: bytes });
    expectEndedInTime(run, request);
    expectAllGone(run.start, []);
    expect(statSync(request.logPath).size).toBeGreaterThanOrEqual(bytes);
    // A loose sanity bound, not a measurement: the output never passes through this process
    // (the heap is measured before runHostile reads the log back).
    expect(run.heapGrowth).toBeLessThan(bytes / 4);
    expect(footer(run.log)).toMatch(/^# exit code 0 after [\d.]+m?s$/);
  });

  it('ends an agent that never reads its stdin at its timeout (its input waits in a file: nothing blocks on a pipe)', async () => {
    const request = hostileTurn('never-read-stdin.mjs', [], { input: 'y'.repeat(4 * 1024 * 1024) });
    const run = await runHostile(request);
    expect(run.outcome).toMatchObject({ kind: 'timeout', exitCode: null, signal: 'SIGTERM', reason: 'killed after timeout of 1.5s' });
    expectEndedInTime(run, request);
    expectAllGone(run.start, []);
    expect(run.log).toContain('not reading stdin\n');
    expect(footer(run.log)).toMatch(/^# killed after timeout of 1\.5s; ended after .*; process group \d+ sent SIGTERM$/);
  });

  it('stops an agent that prints nothing as stalled once the stall timeout passes', async () => {
    const request = hostileTurn('silent.mjs', [], { stallTimeoutMs: STALL_MS });
    const run = await runHostile(request);
    expect(run.outcome).toMatchObject({
      kind: 'stalled', exitCode: null, signal: 'SIGTERM', reason: 'no output for 500ms (stall timeout)', outputBytes: 0, lastStderrLine: null,
    });
    expect(run.outcome.endedAt - run.start.startedAt).toBeGreaterThanOrEqual(STALL_MS);
    expectEndedInTime(run, request);
    expectAllGone(run.start, []);
    expect(footer(run.log)).toMatch(/^# no output for 500ms \(stall timeout\); ended after .*; process group \d+ sent SIGTERM$/);
  });

  it('kills the child an agent that exits 0 leaves behind, which ignores SIGTERM and keeps writing', async () => {
    // The shim drains the pipes the child keeps busy for up to 1 s after the agent's exit:
    // a longer limit, so that the turn is not timed out meanwhile.
    const request = hostileTurn('exit-leaving-child.mjs', [], { timeoutMs: 2_500 });
    const run = await runHostile(request);
    expect(run.outcome).toMatchObject({ kind: 'exited', exitCode: 0, signal: null, reason: 'exit code 0' });
    expectEndedInTime(run, request);
    const children = printedPids(run.log, 'child');
    expect(children).toHaveLength(1);
    expectAllGone(run.start, children);
    expect(footer(run.log)).toMatch(/^# exit code 0 after [\d.]+m?s; process group \d+ sent SIGTERM, SIGKILL$/);
  });

  it('kills a grandchild that left the process group with setsid, found by the turn key', async () => {
    const request = hostileTurn('setsid-grandchild.mjs');
    const run = await runHostile(request);
    expect(run.outcome).toMatchObject({ kind: 'exited', exitCode: 0, signal: null, reason: 'exit code 0' });
    expectEndedInTime(run, request);
    const [escaped, ...more] = printedPids(run.log, 'escaped');
    expect(escaped).toBeGreaterThan(0);
    expect(more).toEqual([]);
    expectAllGone(run.start, [escaped ?? 0]);
    expect(listProcessGroup(escaped ?? 0)).toEqual([]); // its own group, made by setsid
    expect(footer(run.log)).toMatch(new RegExp(`^# exit code 0 after [\\d.]+m?s; processes ${escaped} outside the group \\(by STATECREW_TURN_KEY\\) sent SIGTERM, SIGKILL$`));
  });

  it('empties the group of an agent that keeps forking children every 10 ms until killed', async () => {
    const request = hostileTurn('fork-bomb-lite.mjs');
    const run = await runHostile(request);
    expect(run.outcome).toMatchObject({ kind: 'timeout', exitCode: null, signal: 'SIGKILL', reason: 'killed after timeout of 1.5s' });
    expectEndedInTime(run, request);
    const children = printedPids(run.log, 'child');
    expect(children.length).toBeGreaterThan(10);
    expectAllGone(run.start, children);
    expect(run.log).toContain('got SIGTERM, forking on\n');
    expect(footer(run.log)).toMatch(/; process group \d+ sent SIGTERM, SIGKILL$/);
  });
});

describe('adoptTurn against hostile agents', () => {
  it('kills a grandchild that left the process group of a turn whose runtime died', async () => {
    const request = hostileTurn('setsid-grandchild.mjs', [], { timeoutMs: 20_000, stallTimeoutMs: 20_000 });
    const start = await startThenKillRuntime(request);
    // The agent exits 0 on its own; its escaped child stays behind, outside the group.
    await whenExists(start.statusFile);
    const escaped = printedPids(readFileSync(request.logPath, 'utf8'), 'escaped');
    expect(escaped).toHaveLength(1);
    expect(isProcessAlive(escaped[0] ?? 0, null)).toBe(true);

    const outcome = await adoptTurn(request, start, { clock: systemClock });
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0, reason: 'exit code 0' });
    expectAllGone(start, escaped);
    expect(footer(readFileSync(request.logPath, 'utf8'))).toMatch(/; processes \d+ outside the group \(by STATECREW_TURN_KEY\) sent SIGTERM, SIGKILL$/);
  });
});

/**
 * Starts `request` with the real runner (from `dist/`) in another runtime process
 * (`fixtures/run-turn-then-die.mjs`), reads the TurnStarted it reports and SIGKILLs that
 * process: a turn whose runtime died, as after a crash.
 */
async function startThenKillRuntime(request: TurnRequest): Promise<TurnStarted> {
  const runtime = spawn(process.execPath, [fixture('run-turn-then-die.mjs'), JSON.stringify(request)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(runtime, 'exit');
  const lines = createInterface({ input: runtime.stdout });
  let start: TurnStarted | null = null;
  for await (const line of lines) {
    start = JSON.parse(line) as TurnStarted;
    break;
  }
  lines.close();
  runtime.kill('SIGKILL');
  await exited;
  if (start === null) throw new Error('the runtime stand-in ended without reporting a start');
  groups.push(start);
  return start;
}

/** Resolves once `path` exists, checked at once and on every change in its directory (watched, not polled). */
function whenExists(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dirname(path), () => check());
    const check = (): void => {
      if (!existsSync(path)) return;
      watcher.close();
      resolve();
    };
    watcher.on('error', reject);
    check();
  });
}
