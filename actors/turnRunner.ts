/**
 * The turn runner: runs ONE turn of a unit as a child process in its own process group,
 * streams its output to a log file, enforces the turn's wall-clock and stall limits, and
 * resolves only once every process of the group is verified gone (invariant 4: kill,
 * verify, then record). It holds no durable state: the worker statechart records the
 * {@link TurnStart} evidence and the {@link TurnOutcome}.
 */
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, openSync, type WriteStream } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Clock } from '../src/clock.js';
import { formatDuration } from '../src/duration.js';
import { ensureError } from '../src/errors.js';
import { killProcessGroup, processStartTime, type KillReport } from './processes.js';

/** One turn to run: which dispatch it belongs to, what to execute, and its limits (ms). */
export interface TurnRequest {
  readonly dispatchId: string;
  readonly unitId: string;
  readonly milestoneId: string;
  readonly workerId: string;
  /** 1-based attempt number of the unit. */
  readonly attempt: number;
  /** Fencing token of the milestone lease the turn runs under. */
  readonly fencingToken: number;
  /** argv; `command[0]` is the program, resolved through `PATH`, never run through a shell. */
  readonly command: readonly string[];
  readonly cwd: string;
  /** Added to the runtime's own environment (then the `STATECREW_*` markers are added). */
  readonly env: Readonly<Record<string, string>>;
  /** Written to stdin, then stdin is closed; `null` gives the process no stdin at all. */
  readonly input: string | null;
  /** Wall-clock limit, from the spawn, in ms. */
  readonly timeoutMs: number;
  /** Longest silence (no stdout/stderr chunk) allowed, in ms. */
  readonly stallTimeoutMs: number;
  /** Time between SIGTERM and SIGKILL when the group is killed, in ms. */
  readonly killGraceMs: number;
  /** Absolute path of the log file (appended to); parent directories are created by the runner. */
  readonly logPath: string;
}

/** Evidence that a turn's process exists, reported synchronously right after the spawn. */
export interface TurnStart {
  readonly pid: number;
  /** Process group id; every turn is its own group, so it equals `pid`. */
  readonly pgid: number;
  /** Kernel start time (clock ticks since boot), `null` if the process was already gone when read. */
  readonly procStartTime: string | null;
  /** Clock ms. */
  readonly startedAt: number;
  readonly logPath: string;
}

/** How a turn ended. Only `kind: 'exited'` with `exitCode: 0` is a success. */
export type TurnOutcome = {
  /**
   * `exited`/`signaled`: the process ended by itself (or was stopped by the runtime:
   * `signaled` with reason `stopped by runtime`); `timeout`/`stalled`: the runner killed it;
   * `spawn-failed`: no process was started.
   */
  readonly kind: 'exited' | 'signaled' | 'timeout' | 'stalled' | 'spawn-failed';
  readonly exitCode: number | null;
  /** Name of the signal that ended the process, e.g. `SIGKILL`. */
  readonly signal: string | null;
  /** Clock ms, once the process group was verified gone and the log flushed. */
  readonly endedAt: number;
  /** For people, e.g. `exit code 3: cannot find tsconfig`, `killed after timeout of 500ms`. */
  readonly reason: string;
  /** Last non-empty line of stderr, at most {@link STDERR_LINE_LIMIT_BYTES} bytes. */
  readonly lastStderrLine: string | null;
  /** Bytes of stdout plus stderr. */
  readonly outputBytes: number;
  readonly pid: number | null;
};

/** What the caller gives the runner besides the request. */
export interface TurnHooks {
  readonly clock: Clock;
  /** Called synchronously right after a successful spawn; if it throws, the turn is killed and the run rejects with that error. */
  readonly onStart: (start: TurnStart) => void;
  /** Operator stop: aborting kills the group and resolves with kind `signaled`, reason `stopped by runtime`. */
  readonly signal?: AbortSignal;
}

/** Bound of {@link TurnOutcome.lastStderrLine}, in bytes of UTF-8. */
export const STDERR_LINE_LIMIT_BYTES = 1_024;

type Ending = { readonly kind: 'timeout' | 'stalled' | 'signaled'; readonly reason: string };
type Exit = { readonly code: number | null; readonly signal: NodeJS.Signals | null };

/**
 * Runs one turn and reports how it ended.
 *
 * The first thing it does is `await Promise.resolve()`: the caller persists the turn's
 * state synchronously before calling, and no I/O (not even the log file) happens before
 * that write is done. Then it spawns `command` detached (own process group, pgid = pid),
 * with `STATECREW_UNIT_ID`, `STATECREW_MILESTONE_ID`, `STATECREW_ATTEMPT` (1-based),
 * `STATECREW_DISPATCH_ID`, `STATECREW_WORKER_ID` and `STATECREW_FENCING_TOKEN` in its
 * environment, and calls `hooks.onStart` synchronously. stdout and stderr are piped into
 * the log (with backpressure, nothing is accumulated in memory) between a header and a
 * footer line written by the runner. A failed stdin write (EPIPE from a process that never
 * reads) becomes a note in the log.
 *
 * On timeout (`startedAt + timeoutMs`), stall (`stallTimeoutMs` without output) or abort,
 * the group is killed (SIGTERM, `killGraceMs`, SIGKILL). When the process exits by itself,
 * whatever is left of its group (a grandchild) is killed too. Either way the promise
 * settles only after the group is verified gone. A program that cannot be started
 * resolves with kind `spawn-failed` and `onStart` is not called.
 *
 * @throws KillNotVerifiedError when the group is still alive after SIGKILL (the turn's fate is unknown).
 * @throws the error of the log file, of `onStart`, or of the child's pipes, after the group was killed and
 *   verified gone; an `AggregateError` (kill failure first) when several happened.
 * @throws RangeError for a request with a relative `logPath` or a negative or non-finite limit;
 *   the file-system error when the log's directory or file cannot be created. Nothing is started then.
 */
export async function runTurn(request: TurnRequest, hooks: TurnHooks): Promise<TurnOutcome> {
  await Promise.resolve();
  validateRequest(request);
  const { clock } = hooks;

  // A stop is decided once, by the first of: timeout, stall, abort, or a runner failure.
  let decided = false;
  let stop: (ending: Ending) => void = () => undefined;
  const stopRequested = new Promise<Ending>((resolve) => { stop = resolve; });
  const requestStop = (ending: Ending): void => {
    if (decided) return;
    decided = true;
    stop(ending);
  };
  const failures: Error[] = [];
  const fail = (error: Error): void => {
    failures.push(error);
    requestStop({ kind: 'signaled', reason: `runner failure: ${error.message}` });
  };

  mkdirSync(dirname(request.logPath), { recursive: true });
  // Opened synchronously so that a log that cannot be opened stops the turn before it starts.
  const log = createWriteStream(request.logPath, { fd: openSync(request.logPath, 'a') });
  // A log that fails mid-turn loses the turn's record: the turn is stopped and the run rejects.
  log.on('error', fail);
  const note = (text: string): void => {
    if (!log.destroyed && !log.writableEnded) log.write(`# ${text}\n`);
  };
  const header = (pid: number | null, at: number): void =>
    note(`statecrew turn ${request.dispatchId} attempt ${request.attempt} started ${new Date(at).toISOString()}`
      + `${pid === null ? '' : ` pid ${pid}`}: ${JSON.stringify(request.command)}`);
  const notStarted = async (kind: 'signaled' | 'spawn-failed', reason: string): Promise<TurnOutcome> => {
    header(null, clock.now());
    await endLog(log, `# ${reason}\n`);
    if (failures.length > 0) throw combine(failures);
    return { kind, exitCode: null, signal: null, endedAt: clock.now(), reason, lastStderrLine: null, outputBytes: 0, pid: null };
  };

  if (hooks.signal?.aborted === true) return notStarted('signaled', STOPPED);
  const [program, ...args] = request.command;
  if (program === undefined) return notStarted('spawn-failed', 'spawn failed: empty command');
  let child: ChildProcess;
  try {
    child = spawn(program, args, {
      cwd: request.cwd,
      env: { ...process.env, ...request.env, ...markerEnv(request) },
      detached: true,
      stdio: [request.input === null ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      shell: false,
    });
  } catch (error) {
    // spawn() throws synchronously for arguments it cannot hand to the OS (e.g. a NUL byte).
    return notStarted('spawn-failed', `spawn failed: ${ensureError(error).message}`);
  }
  const { pid } = child;
  if (pid === undefined) {
    // Node reports a failed spawn (ENOENT, EACCES, bad cwd) with an undefined pid and an 'error' event.
    const error = await new Promise<unknown>((resolve) => child.once('error', resolve));
    return notStarted('spawn-failed', describeSpawnFailure(ensureError(error), request.cwd));
  }
  // stdio 1 and 2 are 'pipe', so both streams exist; stdin exists when input is given.
  const { stdout, stderr, stdin } = child as ChildProcessByStdio<Writable | null, Readable, Readable>;

  const startedAt = clock.now();
  header(pid, startedAt);
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.on('error', fail);

  let outputBytes = 0;
  let lastOutputAt = startedAt;
  const tail = createLineTail(STDERR_LINE_LIMIT_BYTES);
  // Settled when every pipe to the child is closed, so their last data and errors reach the log first.
  const pipes = stdin === null ? [stdout, stderr] : [stdin, stdout, stderr];
  const pipesClosed = Promise.all(pipes.map((stream) => new Promise<void>((resolve) => stream.once('close', resolve))));
  stdout.on('data', (chunk: Buffer) => { outputBytes += chunk.length; lastOutputAt = clock.now(); });
  stderr.on('data', (chunk: Buffer) => { outputBytes += chunk.length; lastOutputAt = clock.now(); tail.push(chunk); });
  stdout.pipe(log, { end: false });
  stderr.pipe(log, { end: false });

  if (stdin !== null && request.input !== null) {
    stdin.on('error', (error) => {
      // EPIPE/ECONNRESET: the process closed its stdin or exited without reading all input.
      // That is the turn's business and its exit decides the outcome; keep it as evidence.
      if (hasErrno(error, 'EPIPE', 'ECONNRESET')) note(`stdin not fully delivered: ${error.message}`);
      else fail(error);
    });
    stdin.end(request.input);
  }

  const timeoutTimer = clock.setTimeout(
    () => requestStop({ kind: 'timeout', reason: `killed after timeout of ${formatDuration(request.timeoutMs)}` }),
    Math.max(0, startedAt + request.timeoutMs - clock.now()),
  );
  let stallTimer: unknown = null;
  const armStall = (ms: number): void => {
    stallTimer = clock.setTimeout(() => {
      const silentMs = clock.now() - lastOutputAt;
      if (silentMs >= request.stallTimeoutMs) {
        requestStop({ kind: 'stalled', reason: `no output for ${formatDuration(request.stallTimeoutMs)} (stall timeout)` });
      } else if (!decided) armStall(request.stallTimeoutMs - silentMs);
    }, ms);
  };
  armStall(request.stallTimeoutMs);
  const onAbort = (): void => requestStop({ kind: 'signaled', reason: STOPPED });
  hooks.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    hooks.onStart({ pid, pgid: pid, procStartTime: processStartTime(pid), startedAt, logPath: request.logPath });
  } catch (error) {
    fail(ensureError(error));
  }

  // null: the process exited by itself; otherwise why the runner stops it.
  const ending = await Promise.race([exited.then(() => null), stopRequested]);
  decided = true;
  clock.clearTimeout(timeoutTimer);
  clock.clearTimeout(stallTimer);
  hooks.signal?.removeEventListener('abort', onAbort);

  // Both ways end here: kill the group (after a normal exit, whatever the process left behind).
  // The process is a session leader (detached), so it cannot have left its group: once the
  // group is verified gone, its 'exit' is bound to arrive.
  let report: KillReport;
  try {
    report = await killProcessGroup(pid, { graceMs: request.killGraceMs, clock });
  } catch (error) {
    await endLog(log, `# process group ${pid} not verified gone: ${ensureError(error).message}\n`);
    throw combine([error, ...failures]);
  }
  const exit = await exited;
  const drainMs = Math.max(request.killGraceMs, PIPE_DRAIN_MS);
  if (!(await closedWithin(pipesClosed, () => Math.max(lastOutputAt, report.verifiedAt) + drainMs, clock))) {
    note(`pipes still open after process group ${pid} was gone (held by a process outside the group); closed by the runner`);
    for (const stream of pipes) stream.destroy();
  }

  const lastStderrLine = tail.last();
  const reason = ending?.reason ?? describeExit(exit, lastStderrLine);
  const kind = ending?.kind ?? (exit.code === null ? 'signaled' : 'exited');
  const killed = report.signals.length === 0 ? '' : `; process group ${pid} sent ${report.signals.join(', ')}`;
  const ran = formatDuration(clock.now() - startedAt);
  await endLog(log, `# ${reason}${ending === null ? ' after' : '; ended after'} ${ran}${killed}\n`);
  if (failures.length > 0) throw combine(failures);
  return { kind, exitCode: exit.code, signal: exit.signal, endedAt: clock.now(), reason, lastStderrLine, outputBytes, pid };
}

const STOPPED = 'stopped by runtime';
/** Least time output may take to drain once the group is gone, in ms, before the pipes are closed by the runner. */
const PIPE_DRAIN_MS = 1_000;

function markerEnv(request: TurnRequest): Record<string, string> {
  return {
    STATECREW_UNIT_ID: request.unitId,
    STATECREW_MILESTONE_ID: request.milestoneId,
    STATECREW_ATTEMPT: String(request.attempt),
    STATECREW_DISPATCH_ID: request.dispatchId,
    STATECREW_WORKER_ID: request.workerId,
    STATECREW_FENCING_TOKEN: String(request.fencingToken),
  };
}

function validateRequest(request: TurnRequest): void {
  if (!isAbsolute(request.logPath)) throw new RangeError(`logPath must be absolute, got ${request.logPath}`);
  for (const key of ['timeoutMs', 'stallTimeoutMs', 'killGraceMs'] as const) {
    const value = request[key];
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`${key} must be a non-negative number of ms, got ${value}`);
  }
}

function describeSpawnFailure(error: Error, cwd: string): string {
  const code = 'code' in error && typeof error.code === 'string' ? error.code : null;
  // Node reports a missing working directory as ENOENT of the program; say which it was.
  if (code === 'ENOENT' && !existsSync(cwd)) return `spawn failed: ENOENT: working directory ${cwd} does not exist`;
  return `spawn failed: ${code === null ? '' : `${code}: `}${error.message}`;
}

function describeExit(exit: Exit, lastStderrLine: string | null): string {
  if (exit.code === null) return `killed by signal ${exit.signal ?? 'unknown'}`;
  if (exit.code === 0 || lastStderrLine === null) return `exit code ${exit.code}`;
  return `exit code ${exit.code}: ${lastStderrLine}`;
}

function combine(errors: readonly unknown[]): Error {
  const [first] = errors;
  if (errors.length === 1) return ensureError(first);
  return new AggregateError(errors, `turn runner failed: ${errors.map((e) => ensureError(e).message).join('; ')}`);
}

/** Ends the log with `text` and waits until it is flushed and closed (its errors are reported through its 'error' listener). */
async function endLog(log: WriteStream, text: string): Promise<void> {
  if (log.closed) return;
  const closed = new Promise<void>((resolve) => log.once('close', () => resolve()));
  if (!log.destroyed && !log.writableEnded) log.end(text);
  await closed;
}

/**
 * Waits for `closed`; gives up (false) once the clock passes `deadline()`, re-read after
 * every wait, so output still flowing keeps the wait going.
 */
async function closedWithin(closed: Promise<unknown>, deadline: () => number, clock: Clock): Promise<boolean> {
  for (;;) {
    let timer: unknown = null;
    const timedOut = new Promise<false>((resolve) => {
      timer = clock.setTimeout(() => resolve(false), Math.max(0, deadline() - clock.now()));
    });
    const done = await Promise.race([closed.then(() => true), timedOut]);
    clock.clearTimeout(timer);
    if (done) return true;
    if (deadline() <= clock.now()) return false;
  }
}

/** Keeps the last non-empty line of a byte stream, bounded to `limitBytes` of UTF-8 (a longer line keeps its start). */
function createLineTail(limitBytes: number): { push(chunk: Buffer): void; last(): string | null } {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let lastLine: string | null = null;
  const bound = (text: string): string => {
    const bytes = Buffer.from(text, 'utf8');
    // StringDecoder.write holds back a trailing incomplete character, so a cut never splits one.
    return bytes.length <= limitBytes ? text : new StringDecoder('utf8').write(bytes.subarray(0, limitBytes));
  };
  const take = (text: string): void => {
    const line = text.trim();
    if (line !== '') lastLine = bound(line);
  };
  return {
    push(chunk) {
      const parts = decoder.write(chunk).split('\n');
      const rest = parts.pop() ?? '';
      for (const part of parts) {
        take(partial + part);
        partial = '';
      }
      partial = bound(partial + rest);
    },
    last() {
      take(partial + decoder.end());
      partial = '';
      return lastLine;
    },
  };
}

function hasErrno(error: unknown, ...codes: string[]): boolean {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && codes.includes(error.code);
}
