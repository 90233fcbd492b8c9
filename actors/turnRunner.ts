/**
 * The turn runner: runs ONE turn of a unit as a child process, enforces the turn's
 * wall-clock and stall limits, and resolves only once every process of the turn's group is
 * verified gone (invariant 4: kill, verify, then record). It holds no durable state: the
 * worker statechart records the {@link TurnStarted} evidence and the {@link TurnOutcome}.
 *
 * The turn's command does not depend on the runtime process that started it. The runner
 * spawns the turn shim (`native/turn-shim.c`) as the leader of a new process group; the shim
 * runs the command in that group, appends its output to the log file and, when it exits,
 * writes the turn's status file. So when the runtime is killed, the turn keeps running and
 * logging, and a restarted runtime can {@link adoptTurn adopt} it: enforce the same absolute
 * deadline and stall watchdog, and learn how it ended.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TurnAssignment, TurnResult, TurnResultKind, TurnStarted } from '../machines/turn.js';
import type { Clock } from '../core/clock.js';
import { formatDuration } from '../core/duration.js';
import { ensureError } from '../core/errors.js';
import { isLocalHost, localHostIdentity } from './hostIdentity.js';
import type { TurnKeepAlive } from './keepAlive.js';
import { isProcessAlive, processStartTime } from './processes.js';
import { turnKeepAlivePath } from './turnKeepAlive.js';
import { openTurnLog } from './turnLog.js';
import { spawnDetached, SpawnError, type Spawned } from './turnSpawner.js';
import { turnStatusPath } from './turnStatus.js';
import { combine, finishTurn, outcomeFromStatus, readTurnStatus, STOPPED, watchTurn, type TurnWatch } from './turnSupervisor.js';

export { STDERR_LINE_LIMIT_BYTES } from './turnStatus.js';

/**
 * One turn to run: the worker's {@link TurnAssignment} (which dispatch it belongs to, what to
 * execute, its limits in ms), as the runner takes it: `turnKey` may be left out (then
 * processes that left the turn's group are not looked for), and `stdoutPath` names a file that
 * receives the command's stdout alone (besides the log), for protocols that parse it
 * (stream-json). `input: null` gives the process no stdin at all (`/dev/null`); `command[0]` is
 * resolved through `PATH`, never run through a shell; `logPath`'s folders are created.
 */
export interface TurnRequest extends Omit<TurnAssignment, 'turnKey' | 'protocol' | 'resumeSessionId'> {
  readonly turnKey?: string;
  readonly stdoutPath?: string;
  /** Whose event stream `stdoutPath` receives, for the stall watchdog's view of running tools. @default 'claude' */
  readonly stdoutDialect?: 'claude' | 'codex';
}

/** Evidence that a turn's process exists, reported synchronously right after the spawn: the worker records it ({@link TurnStarted}). */
export type { TurnStarted };

/**
 * How a turn ended, as the runner observed it: the fields of the worker's {@link TurnResult}
 * (its `kind` without `stopped`, which only the worker records), plus what only the runner
 * knows. `exited`/`signaled`: the command ended by itself (or was stopped by the runtime:
 * `signaled` with reason `stopped by runtime`); `timeout`/`stalled`: the runner killed it;
 * `spawn-failed`: the command was not started; `lost`: the turn's process vanished without
 * leaving an exit status (its shim was killed from outside). `signal`: when the runner killed
 * the group and the shim died with the command, the last signal the runner sent.
 * `lastStderrLine` is at most {@link STDERR_LINE_LIMIT_BYTES} bytes; `endedAt` is once the
 * process group was verified gone and the log's footer written (clock ms).
 */
export interface TurnOutcome extends Pick<TurnResult, 'exitCode' | 'signal' | 'endedAt' | 'reason' | 'lastStderrLine' | 'lastActivityAt'> {
  readonly kind: Exclude<TurnResultKind, 'stopped'>;
  /**
   * Bytes of stdout plus stderr, as counted by the shim; when the shim left no status, the
   * growth of the log this runtime process observed (a lower bound).
   */
  readonly outputBytes: number;
  /** Pid of the turn's shim (the group leader); `null` when no process was started. */
  readonly pid: number | null;
}

/** What the caller gives the runner besides the request. */
export interface TurnHooks {
  readonly clock: Clock;
  /** Called synchronously right after a successful spawn; if it throws, the turn is killed and the run rejects with that error. */
  readonly onStart: (start: TurnStarted) => void;
  /** Operator stop: aborting kills the group and resolves with kind `signaled`, reason `stopped by runtime`. */
  readonly signal?: AbortSignal;
  /**
   * The runtime's keep-alive: the turn's keep-alive file is held while the runner watches the
   * turn, and its shim kills the turn once the file lapses (the runtime died, or lost its store).
   * Without one, the turn has no keep-alive and outlives a dead runner until its command ends.
   */
  readonly keepAlive?: TurnKeepAlive;
}

/** What the caller gives {@link adoptTurn} besides the request and the recorded start. */
export interface AdoptHooks {
  readonly clock: Clock;
  /** Operator stop, as in {@link TurnHooks.signal}. */
  readonly signal?: AbortSignal;
  /** The adopting runtime's keep-alive, held for the adopted turn while it is watched (see {@link TurnHooks.keepAlive}). */
  readonly keepAlive?: TurnKeepAlive;
}

/** How often the liveness of a shim whose spawner ended is checked, in ms. */
const LIVENESS_POLL_MS = 100;

/**
 * Runs one turn and reports how it ended.
 *
 * The first thing it does is `await Promise.resolve()`: the caller persists the turn's
 * state synchronously before calling, and no I/O (not even the log file) happens before
 * that write is done. Then it spawns the turn shim detached (own process group, pgid = pid)
 * with `STATECREW_UNIT_ID`, `STATECREW_MILESTONE_ID`, `STATECREW_ATTEMPT` (1-based),
 * `STATECREW_DISPATCH_ID`, `STATECREW_WORKER_ID` and `STATECREW_FENCING_TOKEN` in its
 * environment (which the command inherits), and calls `hooks.onStart` synchronously. The
 * shim appends the command's output to the log (nothing is held in the runtime's memory)
 * between a header and a footer line written by the runner. The shim is started by the
 * runtime's turn spawner (`actors/turnSpawner.ts`); the input is written to
 * `<logPath>.input` (mode 0600) first and read by the command as its stdin.
 *
 * On timeout (`deadlineAt`), stall (`stallTimeoutMs` without the log growing) or abort, the
 * group is killed (SIGTERM, `killGraceMs`, SIGKILL). When the shim exits by itself, whatever
 * is left of its group (a grandchild) is killed too. Processes that left the group but carry
 * the request's `turnKey` are killed alongside, with the same grace. Either way the promise
 * settles only after all of them are verified gone; the exit status then comes from the status file. A
 * program that cannot be started (ENOENT, EACCES, missing `cwd`) resolves with kind
 * `spawn-failed` (after `onStart`, which reported the shim).
 *
 * @throws KillNotVerifiedError when the group, or a process of the turn outside it, is still alive after SIGKILL
 *   (the turn's fate is unknown).
 * @throws the error of the log file, of `onStart`, or of a malformed status file,
 *   after the group was killed and verified gone; an `AggregateError` (kill failure first) when several happened.
 * @throws RangeError for a request with a relative `logPath` or a negative or non-finite limit; Error when the
 *   shim is not built (`npm run build`); the file-system error when the log's directory or file cannot be
 *   created. Nothing is started then.
 */
export async function runTurn(request: TurnRequest, hooks: TurnHooks): Promise<TurnOutcome> {
  await Promise.resolve();
  validateRequest(request);
  const release = holdKeepAlive(request.logPath, hooks.keepAlive);
  try {
    return await runHeldTurn(request, hooks);
  } finally {
    release();
  }
}

/** Holds the keep-alive file of the turn logging to `logPath` (creating its folder), when there is a keep-alive. */
function holdKeepAlive(logPath: string, keepAlive: TurnKeepAlive | undefined): () => void {
  if (keepAlive === undefined) return () => undefined;
  mkdirSync(dirname(logPath), { recursive: true });
  return keepAlive.hold(turnKeepAlivePath(logPath));
}

/** {@link runTurn} once its request is valid and its keep-alive held. */
async function runHeldTurn(request: TurnRequest, hooks: TurnHooks): Promise<TurnOutcome> {
  const { clock } = hooks;
  const shim = turnShimPath();
  const statusFile = turnStatusPath(request.logPath);
  // A status left by an earlier run logging to the same path must not be taken for this turn's.
  rmSync(statusFile, { force: true });
  rmSync(`${statusFile}.tmp`, { force: true });

  let watch: TurnWatch | null = null;
  const early: Error[] = [];
  const fail = (error: Error): void => {
    if (watch === null) early.push(error);
    else watch.fail(error);
  };
  const log = openTurnLog(request.logPath, fail);
  const header = (pid: number | null, at: number): void =>
    log.note(`statecrew turn ${request.dispatchId} attempt ${request.attempt} started ${new Date(at).toISOString()}`
      + `${pid === null ? '' : ` pid ${pid}`}: ${JSON.stringify(request.command)}`);
  const notStarted = (kind: 'signaled' | 'spawn-failed', reason: string): TurnOutcome => {
    header(null, clock.now());
    log.note(reason);
    log.close();
    if (early.length > 0) throw combine(early);
    return { kind, exitCode: null, signal: null, endedAt: clock.now(), reason, lastStderrLine: null, outputBytes: 0, pid: null };
  };

  if (hooks.signal?.aborted === true) return notStarted('signaled', STOPPED);
  const [program, ...args] = request.command;
  if (program === undefined) return notStarted('spawn-failed', 'spawn failed: empty command');
  // The input is a file beside the log, read as the command's stdin: delivered whole even when
  // the runtime dies during the turn, and no pipe of the runtime to keep open.
  const inputPath = request.input === null ? null : `${request.logPath}.input`;
  let spawned: Spawned;
  try {
    if (inputPath !== null) writeFileSync(inputPath, request.input ?? '', { mode: 0o600 });
    // A relative cwd is resolved here, against the runtime's working directory, as spawn() would.
    const shimArgs = [
      statusFile,
      request.logPath,
      '--cwd',
      resolvePath(request.cwd),
      ...(request.stdoutPath === undefined ? [] : ['--stdout', request.stdoutPath]),
      ...(hooks.keepAlive === undefined
        ? []
        : ['--keepalive', turnKeepAlivePath(request.logPath), '--kill-grace', String(hooks.keepAlive.lapseKillGraceMs(request.killGraceMs))]),
      '--',
      program,
      ...args,
    ];
    // Detached (its own session and process group, pgid = pid), from `/` so that it holds no
    // directory busy (the command runs in `cwd`); its stderr only ever carries a line about a
    // failure of the shim itself: kept with the turn.
    spawned = await spawnDetached({
      argv: [shim, ...shimArgs],
      env: { ...process.env, ...request.env, ...markerEnv(request) },
      stdinPath: inputPath,
      stderrPath: request.logPath,
    });
  } catch (error) {
    // A NUL byte in an argument, the input file, or the shim itself not starting.
    const failure = ensureError(error);
    return notStarted('spawn-failed', `spawn failed: ${failure instanceof SpawnError ? `turn shim: ${failure.message}` : failure.message}`);
  }
  const { pid } = spawned;
  const startedAt = clock.now();
  header(pid, startedAt);
  // The spawner reports the shim's end; if the spawner itself ended first, the shim's liveness is watched instead.
  const exited = spawned.exited.then((how) => how ?? untilGone(pid, clock));
  let procStartTime: string | null = null;
  try {
    procStartTime = processStartTime(pid);
  } catch (error) {
    // The shim runs: whatever fails from here on stops it through the watch, never leaks it.
    fail(ensureError(error));
  }
  const start: TurnStarted = {
    pid,
    pgid: pid,
    procStartTime,
    hostId: localHostIdentity().id,
    startedAt,
    logPath: request.logPath,
    statusFile,
    deadlineAt: startedAt + request.timeoutMs,
  };
  watch = watchTurn({ request, started: start, log, clock, signal: hooks.signal, exited, lastActivityAt: startedAt });
  for (const error of early.splice(0)) watch.fail(error);

  try {
    hooks.onStart(start);
  } catch (error) {
    fail(ensureError(error));
  }

  const ending = await watch.ended;
  const { failures } = watch;
  return finishTurn({
    request, started: start, log, clock, ending, failures, observedBytes: watch.observedBytes(), lastActivityAt: watch.lastActivityAt(),
    afterKill: async () => {
      // The shim is the spawner's child and a member of the verified-gone group: its end is bound to be reported.
      const shimEnd = await exited;
      if (ending === null && !existsSync(statusFile)) log.note(`turn shim ${pid} ended (${shimEnd}) without writing ${statusFile}`);
    },
  });
}

/** Resolves once `pid` is gone (checked every {@link LIVENESS_POLL_MS} of the clock): for a shim no longer anyone's child here. */
function untilGone(pid: number, clock: Clock): Promise<string> {
  return new Promise((resolve) => {
    const probe = (): void => {
      if (isProcessAlive(pid, null)) clock.setTimeout(probe, LIVENESS_POLL_MS);
      else resolve('gone (its spawner ended before it)');
    };
    probe();
  });
}

/**
 * Takes over a turn whose start was recorded by an earlier runtime process (that was
 * killed or crashed), and reports how it ended, like {@link runTurn} would have.
 *
 * - When the status file exists, the command already ended: whatever is left of its group
 *   (a grandchild) is killed and verified gone, and the outcome comes from the file, at once.
 * - When the shim (`started.pid` with `started.procStartTime`) is alive, the turn is watched
 *   as if it had been spawned here: killed at the absolute `started.deadlineAt`, or after
 *   `request.stallTimeoutMs` without the log growing (silence counted from the log's
 *   modification time, or from now when that is later), or on abort; its liveness is probed
 *   every 100 ms of the clock. Once the shim is gone, the group is killed and verified, and
 *   the status file read.
 * - Otherwise (no process, no status) it resolves with kind `lost`, reason
 *   `the turn's process is gone and left no exit status`, after killing anything left of the group.
 *
 * Either way, processes outside the group that carry the request's `turnKey` are killed and
 * verified gone too, as in {@link runTurn}.
 * The input is in `<logPath>.input`, which the command reads as its stdin whichever runtime watches it.
 * The log gets an adoption note and a footer.
 *
 * @throws KillNotVerifiedError when the group is still alive after SIGKILL.
 * @throws the error of the log file or of a malformed status file, after the group was killed and verified gone.
 * @throws RangeError for an invalid request (as {@link runTurn}) or a `started` without a pid and pgid above 1,
 *   an absolute `statusFile` and a finite `deadlineAt`; the file-system error when the log cannot be opened or
 *   `/proc` cannot be read. Nothing was signalled then.
 */
export async function adoptTurn(request: TurnRequest, started: TurnStarted, hooks: AdoptHooks): Promise<TurnOutcome> {
  await Promise.resolve();
  validateRequest(request);
  validateStart(started);
  const { clock } = hooks;
  if (!isLocalHost(started.hostId)) return foreignTurnOutcome(started, clock);
  let watch: TurnWatch | null = null;
  const early: Error[] = [];
  const log = openTurnLog(request.logPath, (error) => {
    if (watch === null) early.push(error);
    else watch.fail(error);
  });
  let lastActivityAt: number;
  let alive: boolean;
  let ended: boolean;
  try {
    // Read before the note below touches the file. A log recreated just now reads as "now".
    lastActivityAt = Math.min(clock.now(), log.modifiedAt());
    // Liveness before the status: a shim that exits between the two looks has written its status first.
    alive = isProcessAlive(started.pid, started.procStartTime);
    ended = existsSync(started.statusFile);
  } catch (error) {
    log.close();
    throw error;
  }
  const adopted = `adopted by runtime process ${process.pid} at ${new Date(clock.now()).toISOString()}`;
  if (ended || !alive) {
    log.note(`${adopted}: ${ended ? 'the turn had ended' : `its process ${started.pid} was gone`}`);
    return finishTurn({ request, started, log, clock, ending: null, failures: early, observedBytes: 0 });
  }
  log.note(`${adopted}: process ${started.pid} still running, ${formatDuration(Math.max(0, started.deadlineAt - clock.now()))} left before the timeout`);
  watch = watchTurn({ request, started, log, clock, signal: hooks.signal, lastActivityAt });
  for (const error of early.splice(0)) watch.fail(error);
  let release: () => void = () => undefined;
  try {
    release = holdKeepAlive(request.logPath, hooks.keepAlive);
  } catch (error) {
    watch.fail(ensureError(error));
  }
  const ending = await watch.ended;
  release();
  return finishTurn({
    request,
    started,
    log,
    clock,
    ending,
    failures: watch.failures,
    observedBytes: watch.observedBytes(),
    lastActivityAt: watch.lastActivityAt(),
  });
}

/**
 * A turn whose start was recorded under another host identity (another machine, boot or PID
 * namespace): its pid and process group name nothing here, or someone else's processes, so
 * nothing is probed or signalled. When its status file is readable here (a file system shared
 * with that namespace), the turn had ended and the outcome comes from it; otherwise the turn is
 * `lost`. Such a turn is only ever adopted after its runtime was declared dead by heartbeat;
 * in a PID namespace the runtime is init, and its turns died with it. The log is not touched:
 * its path may not exist on this host.
 */
function foreignTurnOutcome(started: TurnStarted, clock: Clock): TurnOutcome {
  const status = readTurnStatus(started.statusFile);
  const common = { endedAt: clock.now(), lastStderrLine: status?.lastStderrLine ?? null, outputBytes: status?.outputBytes ?? 0, pid: started.pid };
  if (status !== null) return { ...outcomeFromStatus(status), ...common };
  const reason = `the turn ran under host ${started.hostId ?? '?'}, whose processes cannot be seen or signalled from here, and left no exit status here`;
  return { kind: 'lost', exitCode: null, signal: null, reason, ...common };
}

function markerEnv(request: TurnRequest): Record<string, string> {
  return {
    STATECREW_UNIT_ID: request.unitId,
    STATECREW_MILESTONE_ID: request.milestoneId,
    STATECREW_ATTEMPT: String(request.attempt),
    STATECREW_DISPATCH_ID: request.dispatchId,
    STATECREW_WORKER_ID: request.workerId,
    STATECREW_FENCING_TOKEN: String(request.fencingToken),
    ...(request.turnKey === undefined ? {} : { STATECREW_TURN_KEY: request.turnKey }),
  };
}

function validateRequest(request: TurnRequest): void {
  if (!isAbsolute(request.logPath)) throw new RangeError(`logPath must be absolute, got ${request.logPath}`);
  for (const key of ['timeoutMs', 'stallTimeoutMs', 'killGraceMs'] as const) {
    const value = request[key];
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`${key} must be a non-negative number of ms, got ${value}`);
  }
}

function validateStart(started: TurnStarted): void {
  for (const key of ['pid', 'pgid'] as const) {
    const value = started[key];
    if (!Number.isSafeInteger(value) || value <= 1) throw new RangeError(`started.${key} must be an integer above 1, got ${value}`);
  }
  if (!isAbsolute(started.statusFile)) throw new RangeError(`started.statusFile must be absolute, got ${started.statusFile}`);
  if (!Number.isFinite(started.deadlineAt)) throw new RangeError(`started.deadlineAt must be a finite clock time, got ${started.deadlineAt}`);
}

let shimPath: string | null = null;

/**
 * Absolute path of the turn shim (`native/turn-shim.c`, compiled by `node native/build.mjs` as
 * part of `npm run build` and of the package's install): beside this module when it runs from
 * `dist/`, or `dist/actors/turn-shim` when it runs from its TypeScript source (tests).
 * @throws Error when neither exists (run `npm run build`; it needs a C compiler).
 */
function turnShimPath(): string {
  if (shimPath !== null) return shimPath;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'turn-shim'), join(here, '..', 'dist', 'actors', 'turn-shim')];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) throw new Error(`turn shim not found at ${candidates.join(' or ')}: run \`npm run build\` (it compiles native/turn-shim.c with cc)`);
  shimPath = found;
  return found;
}

