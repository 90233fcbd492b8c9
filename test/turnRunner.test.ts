import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive, listProcessGroup } from '../actors/processes.js';
import { runTurn, type TurnRequest, type TurnStarted } from '../actors/turnRunner.js';
import { systemClock } from '../core/clock.js';
import { fixtureTurn } from './helpers/turnRequest.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'statecrew-turn-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A turn running `fixtures/<script>` with generous limits; override what a test is about. */
function turn(script: string, args: readonly string[] = [], overrides: Partial<TurnRequest> = {}): TurnRequest {
  return fixtureTurn(dir, script, args, overrides);
}

/** Runs a turn with the system clock, recording what `onStart` reported. */
async function run(request: TurnRequest, signal?: AbortSignal) {
  const starts: TurnStarted[] = [];
  const outcome = await runTurn(request, { clock: systemClock, onStart: (start) => starts.push(start), ...(signal ? { signal } : {}) });
  return { outcome, starts, log: readFileSync(request.logPath, 'utf8') };
}

/** Calls `then` once, as soon as the log file contains `text` (watched, not polled); returns a function that stops watching. */
function whenLogged(logPath: string, text: string, then: () => void): () => void {
  let done = false;
  const check = (): void => {
    if (!done && readFileSync(logPath, 'utf8').includes(text)) {
      done = true;
      then();
    }
  };
  const watcher = watch(logPath, check);
  check();
  return () => watcher.close();
}

/** Aborts `controller` as soon as the log file contains `text`. */
function abortWhenLogged(logPath: string, text: string, controller: AbortController): () => void {
  return whenLogged(logPath, text, () => controller.abort());
}

describe('runTurn', () => {
  it('resolves exited with code 0 and logs the output between header and footer when the turn succeeds', async () => {
    const request = turn('exit-with.mjs', ['0']);
    const { outcome, starts, log } = await run(request);
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0, signal: null, reason: 'exit code 0', lastStderrLine: null });
    expect(outcome.outputBytes).toBe(Buffer.byteLength('exit-with says hello\n'));
    expect(starts).toHaveLength(1);
    const [start] = starts;
    expect(start).toMatchObject({ pid: outcome.pid, pgid: outcome.pid, logPath: request.logPath });
    expect(start?.procStartTime).toMatch(/^\d+$/);
    expect(outcome.endedAt).toBeGreaterThanOrEqual(start?.startedAt ?? Infinity);
    const lines = log.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^# statecrew turn dispatch-1 attempt 2 started \d{4}-\d\d-\d\dT.* pid \d+: /);
    expect(lines).toContain('exit-with says hello');
    expect(lines.at(-1)).toMatch(/^# exit code 0 after \d+ms$/);
  });

  it('reports the status file beside the log and the absolute deadline in the start', async () => {
    const request = turn('exit-with.mjs', ['0'], { timeoutMs: 12_345 });
    const { outcome, starts } = await run(request);
    const [start] = starts;
    expect(start?.statusFile).toBe(`${request.logPath}.status.json`);
    expect(start?.deadlineAt).toBe((start?.startedAt ?? 0) + 12_345);
    expect(JSON.parse(readFileSync(start?.statusFile ?? '', 'utf8'))).toEqual({
      exitCode: 0, signal: null, lastStderrLine: null, outputBytes: outcome.outputBytes,
      endedAt: expect.any(Number), spawnError: null, logError: null, turnKey: request.turnKey ?? null, keepAliveLapsedAt: null, descendantsLeft: false,
    });
  });

  it('ignores a status file left at the same path by an earlier run', async () => {
    const request = turn('exit-with.mjs', ['0']);
    mkdirSync(join(dir, 'logs', 'unit-a'), { recursive: true });
    writeFileSync(`${request.logPath}.status.json`, JSON.stringify({ exitCode: 9 }));
    const { outcome } = await run(request);
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0 });
  });

  it('streams output to the log without holding it in the runtime’s memory', async () => {
    const bytes = 10 * 1024 * 1024;
    const request = turn('write-bulk.mjs', [String(bytes)]);
    const heapBefore = process.memoryUsage().heapUsed;
    const outcome = await runTurn(request, { clock: systemClock, onStart: () => undefined });
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0, outputBytes: bytes });
    expect(statSync(request.logPath).size).toBeGreaterThan(bytes);
    // A loose sanity bound, not a measurement: the output never passes through this process.
    expect(heapGrowth).toBeLessThan(bytes / 2);
  });

  it('puts the last stderr line in the reason when the turn exits non-zero', async () => {
    const { outcome, log } = await run(turn('exit-with.mjs', ['3', 'cannot find tsconfig']));
    expect(outcome).toMatchObject({
      kind: 'exited', exitCode: 3, reason: 'exit code 3: cannot find tsconfig', lastStderrLine: 'cannot find tsconfig',
    });
    expect(log).toContain('some earlier diagnostic\ncannot find tsconfig\n');
  });

  it('starts the footer on a line of its own when the output does not end with a newline', async () => {
    const request = turn('exit-with.mjs', [], { command: [process.execPath, '-e', "process.stdout.write('no newline')"] });
    const { outcome, log } = await run(request);
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0, outputBytes: 'no newline'.length });
    expect(log).toMatch(/\nno newline\n# exit code 0 after \d+ms\n$/);
  });

  it('passes the STATECREW_* markers and the request env to the process', async () => {
    const { outcome, log } = await run(turn('print-env.mjs', [], { env: { STATECREW_EXTRA: 'from the plan' } }));
    expect(outcome.kind).toBe('exited');
    const json = log.split('\n').find((line) => line.startsWith('{'));
    expect(JSON.parse(json ?? 'null')).toEqual({
      STATECREW_ATTEMPT: '2',
      STATECREW_DISPATCH_ID: 'dispatch-1',
      STATECREW_EXTRA: 'from the plan',
      STATECREW_FENCING_TOKEN: '7',
      STATECREW_MILESTONE_ID: 'm1',
      STATECREW_UNIT_ID: 'unit-a',
      STATECREW_WORKER_ID: 'worker-1',
    });
  });

  it('delivers the input on stdin and closes it', async () => {
    const input = 'first line of the prompt\nsecond line\n';
    const { outcome, log } = await run(turn('echo-stdin.mjs', [], { input }));
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0, outputBytes: Buffer.byteLength(input) });
    expect(log).toContain(input);
  });

  it('keeps the input in a file beside the log (mode 0600), read as stdin: a process that never reads it just exits', async () => {
    const request = turn('exit-with.mjs', ['0'], { input: 'x'.repeat(4 * 1024 * 1024) });
    const { outcome, log } = await run(request);
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0 });
    expect(log).not.toMatch(/stdin/);
    const input = statSync(`${request.logPath}.input`);
    expect(input.size).toBe(4 * 1024 * 1024);
    expect(input.mode & 0o777).toBe(0o600);
  });

  it('kills the group and verifies it gone when the timeout passes', async () => {
    const { outcome, starts, log } = await run(turn('silent-forever.mjs', [], { timeoutMs: 300 }));
    expect(outcome).toMatchObject({ kind: 'timeout', exitCode: null, signal: 'SIGTERM', reason: 'killed after timeout of 300ms' });
    const [start] = starts;
    expect(isProcessAlive(start?.pid ?? 0, start?.procStartTime ?? null)).toBe(false);
    expect(listProcessGroup(start?.pgid ?? 0)).toEqual([]);
    expect(log.trimEnd().split('\n').at(-1)).toMatch(/^# killed after timeout of 300ms; ended after .*; process group \d+ sent SIGTERM$/);
  });

  it('stops the turn as stalled when it stays silent for the stall timeout', async () => {
    const { outcome, starts } = await run(turn('silent-forever.mjs', [], { stallTimeoutMs: 300 }));
    expect(outcome).toMatchObject({ kind: 'stalled', signal: 'SIGTERM', reason: 'no output for 300ms (stall timeout)' });
    expect(outcome.endedAt - (starts[0]?.startedAt ?? 0)).toBeGreaterThanOrEqual(300);
    expect(isProcessAlive(starts[0]?.pid ?? 0, starts[0]?.procStartTime ?? null)).toBe(false);
  });

  it('sends SIGKILL after the grace period when the process ignores SIGTERM', async () => {
    const request = turn('ignore-sigterm.mjs', [], { killGraceMs: 200 });
    const controller = new AbortController();
    let stopWatching = (): void => undefined;
    const starts: TurnStarted[] = [];
    const outcome = await runTurn(request, {
      clock: systemClock,
      signal: controller.signal,
      onStart: (start) => {
        starts.push(start);
        stopWatching = abortWhenLogged(request.logPath, 'ready\n', controller);
      },
    }).finally(() => stopWatching());
    expect(outcome).toMatchObject({ kind: 'signaled', signal: 'SIGKILL', reason: 'stopped by runtime' });
    const log = readFileSync(request.logPath, 'utf8');
    expect(log).toContain('got SIGTERM, ignoring it');
    expect(log).toMatch(/sent SIGTERM, SIGKILL\n$/);
    expect(isProcessAlive(starts[0]?.pid ?? 0, starts[0]?.procStartTime ?? null)).toBe(false);
  });

  it('records how the command ended when it handles the SIGTERM of a stop', async () => {
    const request = turn('exit-on-sigterm.mjs', ['3']);
    const controller = new AbortController();
    let stopWatching = (): void => undefined;
    const outcome = await runTurn(request, {
      clock: systemClock,
      signal: controller.signal,
      onStart: () => { stopWatching = abortWhenLogged(request.logPath, 'ready\n', controller); },
    }).finally(() => stopWatching());
    expect(outcome).toMatchObject({
      kind: 'signaled', reason: 'stopped by runtime', exitCode: 3, signal: null, lastStderrLine: 'cleaning up after SIGTERM',
    });
    expect(readFileSync(request.logPath, 'utf8')).toMatch(/cleaning up after SIGTERM\n# stopped by runtime; ended after .*; process group \d+ sent SIGTERM\n$/);
  });

  it('resolves lost and kills what is left of the group when the shim is killed from outside', async () => {
    const request = turn('silent-forever.mjs');
    let stopWatching = (): void => undefined;
    const starts: TurnStarted[] = [];
    const outcome = await runTurn(request, {
      clock: systemClock,
      onStart: (start) => {
        starts.push(start);
        stopWatching = whenLogged(request.logPath, 'started\n', () => process.kill(start.pid, 'SIGKILL'));
      },
    }).finally(() => stopWatching());
    expect(outcome).toMatchObject({ kind: 'lost', exitCode: null, signal: null, reason: "the turn's process is gone and left no exit status" });
    expect(listProcessGroup(starts[0]?.pgid ?? 0)).toEqual([]);
    expect(readFileSync(request.logPath, 'utf8')).toMatch(/^# the turn's process is gone and left no exit status; noticed after .*; process group \d+ sent SIGTERM\n$/m);
  });

  it('kills and verifies a grandchild left behind when the process exits 0', async () => {
    const { outcome, log } = await run(turn('fork-grandchild.mjs'));
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0, reason: 'exit code 0' });
    const grandchild = Number(/^grandchild (\d+)$/m.exec(log)?.[1]);
    const startTime = /^grandchild-start (\d+)$/m.exec(log)?.[1] ?? null;
    expect(grandchild).toBeGreaterThan(0);
    expect(startTime).not.toBeNull();
    // By pid and start time: the suite spawns thousands of processes, and pids (max 32768 here) are reused.
    expect(isProcessAlive(grandchild, startTime)).toBe(false);
    expect(listProcessGroup(outcome.pid ?? 0)).toEqual([]);
    expect(log).toMatch(/^# exit code 0 after .*; process group \d+ sent SIGTERM\n$/m);
  });

  it('resolves spawn-failed from the status file when the program does not exist', async () => {
    const request = turn('exit-with.mjs', [], { command: ['/nonexistent/statecrew-no-such-agent', '--help'] });
    const { outcome, starts, log } = await run(request);
    // onStart reports the shim, which was started; the command was not.
    expect(starts).toHaveLength(1);
    expect(outcome).toMatchObject({ kind: 'spawn-failed', exitCode: null, signal: null, pid: starts[0]?.pid, outputBytes: 0 });
    expect(outcome.reason).toMatch(/^spawn failed: ENOENT: /);
    expect(JSON.parse(readFileSync(starts[0]?.statusFile ?? '', 'utf8'))).toMatchObject({ spawnError: outcome.reason, exitCode: null });
    expect(log).toMatch(/^# statecrew turn dispatch-1 attempt 2 started .*\n# spawn failed: ENOENT: .*\n$/);
    expect(listProcessGroup(starts[0]?.pgid ?? 0)).toEqual([]);
  });

  it('resolves spawn-failed naming the directory when the cwd does not exist', async () => {
    const { outcome } = await run(turn('exit-with.mjs', ['0'], { cwd: join(dir, 'missing') }));
    expect(outcome.kind).toBe('spawn-failed');
    expect(outcome.reason).toBe(`spawn failed: ENOENT: working directory ${join(dir, 'missing')} does not exist`);
  });

  it('resolves spawn-failed with EACCES when the program is not executable', async () => {
    const program = join(dir, 'not-executable');
    writeFileSync(program, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    const { outcome } = await run(turn('exit-with.mjs', [], { command: [program] }));
    expect(outcome).toMatchObject({ kind: 'spawn-failed', exitCode: null });
    expect(outcome.reason).toMatch(/^spawn failed: EACCES: /);
  });

  it('kills the group and resolves signaled when the runtime aborts the turn', async () => {
    const controller = new AbortController();
    const request = turn('sleep-then-exit.mjs', ['20000']);
    const starts: TurnStarted[] = [];
    const outcome = await runTurn(request, {
      clock: systemClock,
      signal: controller.signal,
      onStart: (start) => {
        starts.push(start);
        queueMicrotask(() => controller.abort());
      },
    });
    expect(outcome).toMatchObject({ kind: 'signaled', signal: 'SIGTERM', reason: 'stopped by runtime' });
    expect(isProcessAlive(starts[0]?.pid ?? 0, starts[0]?.procStartTime ?? null)).toBe(false);
  });

  it('starts no process when the signal is already aborted', async () => {
    const { outcome, starts } = await run(turn('exit-with.mjs', ['0']), AbortSignal.abort());
    expect(outcome).toMatchObject({ kind: 'signaled', reason: 'stopped by runtime', pid: null });
    expect(starts).toEqual([]);
  });

  it('kills the turn and rejects with the error when onStart throws', async () => {
    let started: TurnStarted | null = null;
    const failure = new Error('could not record the turn');
    await expect(runTurn(turn('silent-forever.mjs'), {
      clock: systemClock,
      onStart: (start) => {
        started = start;
        throw failure;
      },
    })).rejects.toBe(failure);
    const start = started as TurnStarted | null;
    expect(start).not.toBeNull();
    expect(isProcessAlive(start?.pid ?? 0, start?.procStartTime ?? null)).toBe(false);
  });

  it('does no I/O before the caller’s synchronous code has run', async () => {
    const request = turn('exit-with.mjs', ['0']);
    const pending = runTurn(request, { clock: systemClock, onStart: () => undefined });
    expect(existsSync(request.logPath)).toBe(false);
    expect((await pending).kind).toBe('exited');
  });
});
