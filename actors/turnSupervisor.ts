/**
 * Watching a running turn and closing it, the same way for a turn this runtime process
 * spawned (`runTurn`) and for one it adopted after a restart (`adoptTurn`):
 * absolute deadline, stall watchdog fed by the log file's growth, operator abort; then kill,
 * verify, read the shim's status file, and write the log's footer (invariant 4: kill,
 * verify, then record).
 * @internal used by `actors/turnRunner.ts`
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import type { Clock } from '../core/clock.js';
import { formatDuration } from '../core/duration.js';
import { ensureError, KillNotVerifiedError } from '../core/errors.js';
import {
  findProcessesByEnvSoon, isProcessAlive, killProcesses, killProcessGroup, listProcessGroup, readProcessStat,
  type KillReport, type KillSignal, type ProcessesKillReport,
} from './processes.js';
import { watchToolUses } from './toolWatch.js';
import type { TurnLog } from './turnLog.js';
import type { TurnOutcome, TurnRequest, TurnStarted } from './turnRunner.js';
import { errnoOf, type TurnStatus } from './turnStatus.js';

/** Why the runner stopped a turn that was still running. */
export interface Ending {
  readonly kind: 'timeout' | 'stalled' | 'signaled';
  readonly reason: string;
}

/** Reason of an outcome stopped by the operator (abort signal). */
export const STOPPED = 'stopped by runtime';
/** Reason of a `lost` outcome. */
export const LOST = "the turn's process is gone and left no exit status";
/** Interval between two liveness probes of an adopted turn's shim, in ms. */
export const LIVENESS_POLL_MS = 100;
/** Longest interval between two looks at the log's size, in ms (a quarter of the stall timeout when that is shorter). */
export const ACTIVITY_POLL_MS = 250;
/** Environment variable carrying {@link TurnRequest.turnKey} in every process of a turn. */
export const TURN_KEY_ENV = 'STATECREW_TURN_KEY';
/**
 * Most scans for processes of a turn outside its group once the group is gone, each killing
 * what it found: still finding some after that many means they spawn new sessions faster
 * than they die, and the kill is not verified.
 */
export const ESCAPEE_SCANS = 5;

/** What {@link watchTurn} needs. Times are clock ms. */
export interface WatchOptions {
  readonly request: TurnRequest;
  readonly started: TurnStarted;
  readonly log: TurnLog;
  readonly clock: Clock;
  readonly signal?: AbortSignal | undefined;
  /** Settles when the shim is gone; when omitted, its liveness is probed every {@link LIVENESS_POLL_MS}. */
  readonly exited?: Promise<unknown>;
  /** When the turn last produced output, as far as is known. */
  readonly lastActivityAt: number;
}

/** A turn being watched. */
export interface TurnWatch {
  /** Why the runner stops the turn, or `null` once its shim is gone by itself. Every timer is cleared when it settles. */
  readonly ended: Promise<Ending | null>;
  /** Records a failure of the runner itself: the turn is stopped, and the run rejects with it after the kill. */
  fail(error: Error): void;
  readonly failures: readonly Error[];
  /** Bytes the log grew by, not counting the runner's own lines, since the watch began. */
  observedBytes(): number;
  /** Clock ms of the turn's last output seen (or when the watch began). */
  lastActivityAt(): number;
}

/**
 * Watches a running turn until its shim is gone or the first of: the absolute deadline
 * `started.deadlineAt`, `request.stallTimeoutMs` without the log growing, the abort signal,
 * or a runner failure. The log's size is read every min({@link ACTIVITY_POLL_MS}, stall / 4)
 * ms of the clock, so a stall is declared at most that late and never early. A stream-json
 * turn (`request.stdoutPath` and `request.toolTimeoutMs` given) whose stdout shows a tool use
 * without its result is allowed `toolTimeoutMs` of silence instead.
 */
export function watchTurn(options: WatchOptions): TurnWatch {
  const { request, started, log, clock } = options;
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

  const outputSize = (): number => log.size() - log.ownBytes();
  let lastSize = 0;
  try {
    lastSize = outputSize();
  } catch (error) {
    fail(ensureError(error));
  }
  const baseline = lastSize;
  let lastActivityAt = options.lastActivityAt;
  const timers = new Set<unknown>();
  const after = (ms: number, fn: () => void): void => {
    const timer = clock.setTimeout(() => {
      timers.delete(timer);
      if (!decided) fn();
    }, Math.max(0, ms));
    timers.add(timer);
  };

  after(started.deadlineAt - clock.now(), () =>
    requestStop({ kind: 'timeout', reason: `killed after timeout of ${formatDuration(request.timeoutMs)}` }));
  const pollMs = Math.max(1, Math.min(ACTIVITY_POLL_MS, request.stallTimeoutMs / 4));
  const tools = request.stdoutPath !== undefined && request.toolTimeoutMs !== undefined ? watchToolUses(request.stdoutPath, request.stdoutDialect) : null;
  let inTool = false;
  const checkActivity = (): void => {
    try {
      const size = outputSize();
      if (size !== lastSize) {
        lastSize = size;
        lastActivityAt = clock.now();
        // Output changed: what the agent waits on may have too.
        if (tools !== null) inTool = tools.openToolUses() > 0;
      }
    } catch (error) {
      fail(ensureError(error));
      return;
    }
    const limitMs = inTool ? Math.max(request.stallTimeoutMs, request.toolTimeoutMs ?? 0) : request.stallTimeoutMs;
    const silentMs = clock.now() - lastActivityAt;
    if (silentMs >= limitMs) {
      const reason = inTool
        ? `no output for ${formatDuration(limitMs)} while a tool call ran (tool timeout)`
        : `no output for ${formatDuration(limitMs)} (stall timeout)`;
      requestStop({ kind: 'stalled', reason });
    } else after(Math.min(pollMs, limitMs - silentMs), checkActivity);
  };
  if (tools !== null) {
    try {
      // An adopted turn may be inside a tool call already.
      inTool = tools.openToolUses() > 0;
    } catch (error) {
      fail(ensureError(error));
    }
  }
  after(Math.min(pollMs, request.stallTimeoutMs - (clock.now() - lastActivityAt)), checkActivity);

  let gone: Promise<unknown>;
  if (options.exited === undefined) {
    gone = new Promise<void>((resolve) => {
      const probe = (): void => {
        let alive: boolean;
        try {
          alive = isProcessAlive(started.pid, started.procStartTime);
        } catch (error) {
          fail(ensureError(error));
          return;
        }
        if (alive) after(LIVENESS_POLL_MS, probe);
        else resolve();
      };
      probe();
    });
  } else gone = options.exited;

  const onAbort = (): void => requestStop({ kind: 'signaled', reason: STOPPED });
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted === true) onAbort();

  const ended = Promise.race([gone.then(() => null), stopRequested]).then((ending) => {
    decided = true;
    for (const timer of timers) clock.clearTimeout(timer);
    timers.clear();
    options.signal?.removeEventListener('abort', onAbort);
    return ending;
  });
  return { ended, fail, failures, observedBytes: () => Math.max(0, lastSize - baseline), lastActivityAt: () => lastActivityAt };
}

/** What {@link finishTurn} needs. */
export interface FinishOptions {
  readonly request: TurnRequest;
  readonly started: TurnStarted;
  readonly log: TurnLog;
  readonly clock: Clock;
  /** Why the runner stopped the turn, `null` when it ended by itself (or was found ended). */
  readonly ending: Ending | null;
  readonly failures: readonly Error[];
  /** Output bytes seen by this process, used when the shim left no status. */
  readonly observedBytes: number;
  /** Clock ms of the last output this process saw, `null` when it watched none. */
  readonly lastActivityAt?: number | null;
  /** Runs once the group is verified gone, before the status is read (the spawner waits for the shim's exit and its stdin here). */
  readonly afterKill?: () => Promise<void>;
}

/**
 * Closes a turn: kills what is left of its process group and, when the request has a
 * `turnKey`, every process outside the group that carries it (those found at once with the
 * same grace as the group, beside it; then until a scan finds none), and verifies them all gone
 * (no scan of /proc when the shim, the turn's subreaper, found no process of it left:
 * {@link TurnStatus.descendantsLeft}); then reads the shim's status file, writes the footer (naming the
 * signals sent, and the pids of processes found outside the group), closes the log, and
 * returns the outcome. The group is left alone when its id now belongs to another process
 * (the shim's pid was reused, so the turn's group had emptied before).
 * @throws KillNotVerifiedError when the group or a process outside it survives SIGKILL; the status file's error when
 *   it cannot be read or is malformed; the runner's failures (an `AggregateError` when several).
 */
export async function finishTurn(options: FinishOptions): Promise<TurnOutcome> {
  const { request, started, log, clock, ending } = options;
  const failures = [...options.failures];
  let report: KillReport | null = null;
  const escaped: ProcessesKillReport[] = [];
  let status: TurnStatus | null;
  try {
    // A shim that ended by itself saw, as the turn's subreaper, whether any process of the turn
    // was left (TurnStatus.descendantsLeft): when none was, there is nothing to scan /proc for.
    const early = ending === null ? statusBeforeKill(started.statusFile) : null;
    const nothingLeft = early !== null && early.descendantsLeft === false && early.turnKey === (request.turnKey ?? null);
    const turnKey = nothingLeft ? undefined : request.turnKey;
    // Looked at before the scan: with no member of the group left then, and no process of the
    // turn outside it found by the scan, nothing of the turn is left to fork another one, and
    // the sweep after the kill would scan /proc again for nothing (the common end of a turn).
    const groupEmpty = groupMayBeOurs(started) && listProcessGroup(started.pgid).length === 0;
    // Processes that left the group get the same SIGTERM, grace, SIGKILL, at the same time as the group.
    const escapees = turnKey === undefined ? [] : await findEscapees(turnKey, started.pgid);
    const kills = await Promise.allSettled([killGroup(options), killProcesses(escapees, { graceMs: request.killGraceMs, clock })]);
    const [group, first] = kills;
    if (group.status === 'fulfilled') report = group.value;
    if (first.status === 'fulfilled') escaped.push(first.value);
    const killFailures = kills.flatMap((kill): unknown[] => (kill.status === 'rejected' ? [kill.reason] : []));
    if (killFailures.length > 0) throw combine(killFailures);
    if (turnKey !== undefined && !(groupEmpty && escapees.length === 0)) escaped.push(...await sweepEscapees(turnKey, started.pgid, clock));
    await options.afterKill?.();
    status = early ?? readTurnStatus(started.statusFile);
  } catch (error) {
    log.note(`turn not closed: ${ensureError(error).message}`);
    log.close();
    throw combine([error, ...failures]);
  }
  if (status !== null && status.logError !== null) failures.push(new Error(`output of the turn not fully logged to ${request.logPath}: ${status.logError}`));

  const lastSignal = report?.signals.at(-1) ?? null;
  const outcome = describeOutcome(ending, status, lastSignal);
  const killed = (report === null || report.signals.length === 0 ? '' : `; process group ${started.pgid} sent ${report.signals.join(', ')}`)
    + describeEscapees(escaped);
  const ran = formatDuration(clock.now() - started.startedAt);
  if (outcome.kind === 'spawn-failed') log.note(`${outcome.reason}${killed}`);
  else if (outcome.kind === 'lost') log.note(`${outcome.reason}; noticed after ${ran}${killed}`);
  else log.note(`${outcome.reason}${ending === null ? ' after' : '; ended after'} ${ran}${killed}`);
  log.close();
  if (failures.length > 0) throw combine(failures);
  return {
    ...outcome,
    endedAt: clock.now(),
    lastStderrLine: status?.lastStderrLine ?? null,
    outputBytes: status?.outputBytes ?? options.observedBytes,
    lastActivityAt: options.lastActivityAt ?? null,
    pid: started.pid,
  };
}

/**
 * The status file read before the kill, to learn whether anything of the turn is left; `null`
 * when there is none or it cannot be read: the kill then scans as before, and the read after it
 * reports the error (the group is killed first either way).
 */
function statusBeforeKill(path: string): TurnStatus | null {
  try {
    return readTurnStatus(path);
  } catch {
    return null;
  }
}

/** Kills what is left of the turn's group and verifies it gone; `null` when the group id is someone else's now. */
async function killGroup(options: FinishOptions): Promise<KillReport | null> {
  const { request, started, log, clock } = options;
  if (groupMayBeOurs(started)) return killProcessGroup(started.pgid, { graceMs: request.killGraceMs, clock });
  log.note(`process group ${started.pgid} now belongs to another process (pid ${started.pid} was reused); not killed`);
  return null;
}

/**
 * Live processes carrying the turn's {@link TURN_KEY_ENV} outside its process group `pgid`:
 * they left it (`setsid`, a double fork into a new session), so a group kill never reaches
 * them. A process that rewrote its environment is not found (see `findProcessesByEnv`). One
 * scan of /proc serves every turn that asks in the same macrotask (`findProcessesByEnvSoon`).
 */
async function findEscapees(turnKey: string, pgid: number): Promise<number[]> {
  return (await findProcessesByEnvSoon(TURN_KEY_ENV, turnKey)).filter((pid) => {
    const stat = readProcessStat(pid);
    return stat !== null && stat.pgid !== pgid;
  });
}

/**
 * Once the group is gone: scans for processes of the turn outside it until none is found,
 * killing each lot (SIGTERM, then SIGKILL at once: the turn had its grace), so that one that
 * left the group during the kill, or was forked by an escaped one meanwhile, is caught too.
 * @throws KillNotVerifiedError when some survive SIGKILL, or are still found after {@link ESCAPEE_SCANS} scans.
 */
async function sweepEscapees(turnKey: string, pgid: number, clock: Clock): Promise<ProcessesKillReport[]> {
  const reports: ProcessesKillReport[] = [];
  for (let scan = 0; ; scan += 1) {
    const found = await findEscapees(turnKey, pgid);
    if (found.length === 0) return reports;
    if (scan === ESCAPEE_SCANS) throw new KillNotVerifiedError(groupOf(found), found);
    reports.push(await killProcesses(found, { graceMs: 0, clock }));
  }
}

/** `; processes 12, 34 outside the group (by STATECREW_TURN_KEY) sent SIGTERM, SIGKILL`, or `''` when there were none. */
function describeEscapees(reports: readonly ProcessesKillReport[]): string {
  const pids = [...new Set(reports.flatMap((r) => r.pids))];
  if (pids.length === 0) return '';
  const sent = new Set<KillSignal>(reports.flatMap((r) => r.signals));
  const signals = (['SIGTERM', 'SIGKILL'] as const).filter((signal) => sent.has(signal));
  return `; processes ${pids.join(', ')} outside the group (by ${TURN_KEY_ENV}) sent ${signals.join(', ')}`;
}

type Described = Pick<TurnOutcome, 'kind' | 'exitCode' | 'signal' | 'reason'>;

function describeOutcome(ending: Ending | null, status: TurnStatus | null, lastSignal: string | null): Described {
  if (ending !== null) {
    // Stopped by the runner: how the command died comes from the shim when it outlived it (it ignores SIGTERM).
    if (status === null) return { kind: ending.kind, reason: ending.reason, exitCode: null, signal: lastSignal };
    return { kind: ending.kind, reason: ending.reason, exitCode: status.exitCode, signal: status.signal };
  }
  if (status === null) return { kind: 'lost', reason: LOST, exitCode: null, signal: null };
  return outcomeFromStatus(status);
}

/**
 * How a turn ended by itself, from its shim's status file: `spawn-failed` (with the spawn
 * error), `signaled` (`killed by signal SIGTERM`, or `killed by its turn shim at <ISO time>: no
 * runtime renewed the turn's keep-alive`) or `exited` (`exit code 3: <last stderr line>`).
 * The one mapping of a status to an outcome, for the runner and for a turn that ended while no
 * runtime watched it.
 */
export function outcomeFromStatus(status: TurnStatus): Pick<TurnOutcome, 'kind' | 'exitCode' | 'signal' | 'reason'> {
  if (status.spawnError !== null) return { kind: 'spawn-failed', reason: status.spawnError, exitCode: null, signal: null };
  const { exitCode, signal, lastStderrLine } = status;
  if (status.keepAliveLapsedAt !== null) {
    const lapsed = new Date(status.keepAliveLapsedAt).toISOString();
    return { kind: 'signaled', reason: `killed by its turn shim at ${lapsed}: no runtime renewed the turn's keep-alive`, exitCode, signal };
  }
  if (exitCode === null) return { kind: 'signaled', reason: `killed by signal ${signal ?? 'unknown'}`, exitCode, signal };
  const reason = exitCode === 0 || lastStderrLine === null ? `exit code ${exitCode}` : `exit code ${exitCode}: ${lastStderrLine}`;
  return { kind: 'exited', reason, exitCode, signal };
}

/** Process group of the first of `pids` (its pid when it vanished meanwhile). */
function groupOf(pids: readonly number[]): number {
  const [first = 0] = pids;
  return first === 0 ? 0 : readProcessStat(first)?.pgid ?? first;
}

/**
 * False when a live process other than the recorded shim now has the shim's pid: the kernel
 * reuses a pid only once no process group has that id any more, so the group is someone else's.
 */
function groupMayBeOurs(started: TurnStarted): boolean {
  const leader = readProcessStat(started.pid);
  return leader === null || started.procStartTime === null || leader.startTime === started.procStartTime;
}

const turnStatusSchema = z.object({
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  lastStderrLine: z.string().nullable(),
  outputBytes: z.number().int().nonnegative(),
  endedAt: z.number(),
  spawnError: z.string().nullable(),
  logError: z.string().nullable().default(null),
  turnKey: z.string().nullable().default(null),
  keepAliveLapsedAt: z.number().nullable().default(null),
  descendantsLeft: z.boolean().nullable().default(null),
});

/**
 * Reads a turn's status file.
 * @returns the status, or `null` when there is no file (the command has not ended, or its shim was killed).
 * @throws Error when the file is not JSON or not a {@link TurnStatus}; the read error for anything but ENOENT.
 */
export function readTurnStatus(path: string): TurnStatus | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return null;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`turn status file ${path} is not JSON: ${ensureError(error).message}`, { cause: error });
  }
  const parsed = turnStatusSchema.safeParse(json);
  if (!parsed.success) throw new Error(`turn status file ${path} is malformed: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** One error for several: the first alone, or an `AggregateError` in order. */
export function combine(errors: readonly unknown[]): Error {
  const [first] = errors;
  if (errors.length === 1) return ensureError(first);
  return new AggregateError(errors, `turn runner failed: ${errors.map((e) => ensureError(e).message).join('; ')}`);
}
