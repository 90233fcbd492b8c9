/**
 * Linux process probes and verified kills: the evidence behind invariant 4
 * ("kill, verify, then record"). Everything here reads `/proc` (see proc(5)), so it
 * only works on Linux. A process counts as *live* when it exists and is not a zombie:
 * a zombie has already exited and only waits for its parent to reap it.
 *
 * Expected errno values are handled in code where they occur: a process can vanish
 * between listing `/proc` and reading one of its files (ENOENT, ESRCH), and a signal can
 * reach a process that just exited (ESRCH). Any other failure is rethrown.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Clock } from '../core/clock.js';
import { KillNotVerifiedError } from '../core/errors.js';

/** What `/proc/<pid>/stat` says about one process (fields 1, 3, 4, 5 and 22 of proc(5)). */
export interface ProcessStat {
  readonly pid: number;
  /** Parent pid. */
  readonly ppid: number;
  /** Process group id. */
  readonly pgid: number;
  /** One-letter state: `R` running, `S` sleeping, `D` uninterruptible, `Z` zombie, `T` stopped, … */
  readonly state: string;
  /** Start time in clock ticks since boot, as a decimal string. With the pid it identifies a process across pid reuse. */
  readonly startTime: string;
}

/** A signal sent by the killers, in the order they are sent. */
export type KillSignal = 'SIGTERM' | 'SIGKILL';

/** Options of {@link killProcessGroup} and {@link killProcesses}. Durations in ms. */
export interface KillOptions {
  /** Time given to SIGTERM before SIGKILL is sent. `0` sends SIGKILL at once if anything survived SIGTERM. */
  readonly graceMs: number;
  /** Source of time for every wait; nothing here calls the global timers. */
  readonly clock: Clock;
  /** Interval between two probes of `/proc`. @default 25 */
  readonly pollMs?: number;
  /** Time given to SIGKILL before the kill is declared not verified. @default 5_000 */
  readonly verifyTimeoutMs?: number;
}

/** What a verified kill did. Times are clock ms. */
export interface KillReport {
  readonly pgid: number;
  /** Signals sent to the group; empty when it had no live member to begin with. */
  readonly signals: readonly KillSignal[];
  /** When the group was last seen without a live member. */
  readonly verifiedAt: number;
  /** From the call to `verifiedAt`. */
  readonly durationMs: number;
}

/** What {@link killProcesses} did. Times are clock ms. */
export interface ProcessesKillReport {
  /** The pids that were live (with their start time recorded at the call) and so were targeted. */
  readonly pids: readonly number[];
  readonly signals: readonly KillSignal[];
  readonly verifiedAt: number;
  readonly durationMs: number;
}

const DEFAULT_POLL_MS = 25;
const DEFAULT_VERIFY_TIMEOUT_MS = 5_000;
/** Index of proc(5) field 22 (starttime) in the fields after the comm's closing `)`, which start at field 3. */
const START_TIME_INDEX = 22 - 3;

/**
 * Parses the text of `/proc/<pid>/stat`. The comm field (2) is the executable name in
 * parentheses and may itself contain spaces and parentheses, so the fields after it are
 * taken from the LAST `)`.
 * @throws Error when the text does not have the proc(5) shape.
 * @internal exported for tests
 */
export function parseProcessStat(text: string): ProcessStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const fields = close < 0 ? [] : text.slice(close + 1).trim().split(' ');
  const pid = Number(text.slice(0, Math.max(open, 0)).trim());
  const [state, ppid, pgid] = fields;
  const startTime = fields[START_TIME_INDEX];
  if (open <= 0 || close < open || !Number.isInteger(pid) || state === undefined || ppid === undefined
    || pgid === undefined || startTime === undefined || !/^\d+$/.test(startTime)) {
    throw new Error(`unexpected /proc stat format: ${JSON.stringify(text.slice(0, 120))}`);
  }
  return { pid, ppid: Number(ppid), pgid: Number(pgid), state, startTime };
}

/**
 * Reads and parses `/proc/<pid>/stat`.
 * @returns the process's stat, or `null` when no process has that pid.
 * @throws RangeError when `pid` is not a positive integer; the read error for anything but ENOENT/ESRCH.
 */
export function readProcessStat(pid: number): ProcessStat | null {
  assertPositiveInteger(pid, 'pid');
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    // ENOENT: no such process (or it was reaped while we looked); ESRCH: it exited between open and read.
    if (hasErrno(error, 'ENOENT', 'ESRCH')) return null;
    throw error;
  }
  return parseProcessStat(text);
}

/** Start time of `pid` in clock ticks since boot (see {@link ProcessStat.startTime}), or `null` when it does not exist. */
export function processStartTime(pid: number): string | null {
  return readProcessStat(pid)?.startTime ?? null;
}

/**
 * True when `pid` exists, is not a zombie, and — when `startTime` is given — started at
 * that time, so a recycled pid is not mistaken for the process that was recorded.
 * @param startTime as recorded by {@link processStartTime}; `null` skips the check.
 */
export function isProcessAlive(pid: number, startTime: string | null): boolean {
  const stat = readProcessStat(pid);
  if (stat === null || !isLiveState(stat.state)) return false;
  return startTime === null || stat.startTime === startTime;
}

/**
 * Pids of the live (non-zombie) processes whose process group is `pgid`, in `/proc` order.
 * Asks the kernel first (`kill(-pgid, 0)`) and scans `/proc` only when the group exists.
 */
export function listProcessGroup(pgid: number): number[] {
  assertPositiveInteger(pgid, 'pgid');
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    // ESRCH: no process at all in the group. EPERM means it exists but is not ours: scan anyway.
    if (hasErrno(error, 'ESRCH')) return [];
    if (!hasErrno(error, 'EPERM')) throw error;
  }
  const members: number[] = [];
  for (const pid of listPids()) {
    const stat = readProcessStat(pid);
    if (stat !== null && stat.pgid === pgid && isLiveState(stat.state)) members.push(pid);
  }
  return members;
}

/**
 * Pids of the live processes whose environment holds exactly `name=value` — how orphans of
 * a turn are found by their `STATECREW_*` marker after a crash, even when they left the
 * turn's process group. The calling process itself is never returned. The environment read
 * is the one the process started with (proc(5)); a process that rewrote it is not found.
 * @throws RangeError when `name` is empty or contains `=` or a NUL.
 */
export function findProcessesByEnv(name: string, value: string): number[] {
  if (name === '' || /[=\0]/.test(name)) throw new RangeError(`invalid environment variable name ${JSON.stringify(name)}`);
  return scanEnvirons([Buffer.from(`${name}=${value}\0`)])[0] ?? [];
}

/**
 * One walk of /proc: for each `name=value\0` entry, the pids of the live processes (other than
 * this one) whose initial environment holds it. A process that exited after /proc was listed
 * (ENOENT, ESRCH) or belongs to another user (EACCES: it cannot be one of our turns, which
 * inherit our uid) matches nothing.
 * @throws the read error of an environment for anything else.
 */
function scanEnvirons(entries: readonly Buffer[]): number[][] {
  const found = entries.map((): number[] => []);
  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${pid}/environ`);
    } catch (error) {
      if (hasErrno(error, 'ENOENT', 'ESRCH', 'EACCES')) continue;
      throw error;
    }
    entries.forEach((entry, i) => {
      if (environHas(environ, entry) && isProcessAlive(pid, null)) found[i]?.push(pid);
    });
  }
  return found;
}

/** Scans asked for and not started yet, by the `name=value\0` entry they look for. */
const queuedScans = new Map<string, { entry: Buffer; waiters: { resolve: (pids: number[]) => void; reject: (error: Error) => void }[] }>();

/**
 * {@link findProcessesByEnv}, batched: every call made before the next macrotask is answered
 * by one walk of /proc that reads each process's environment once and looks for all their
 * entries. Turns that end together (a fleet's workers) then cost one scan, not one each. The
 * scan starts after the call (on a later macrotask), so it sees every process that existed
 * when the caller asked.
 * @throws RangeError when `name` is empty or contains `=` or a NUL (at once, not batched).
 */
export function findProcessesByEnvSoon(name: string, value: string): Promise<number[]> {
  if (name === '' || /[=\0]/.test(name)) throw new RangeError(`invalid environment variable name ${JSON.stringify(name)}`);
  const key = `${name}=${value}\0`;
  return new Promise((resolve, reject) => {
    if (queuedScans.size === 0) setImmediate(runQueuedScans);
    let queued = queuedScans.get(key);
    if (queued === undefined) {
      queued = { entry: Buffer.from(key), waiters: [] };
      queuedScans.set(key, queued);
    }
    queued.waiters.push({ resolve, reject });
  });
}

function runQueuedScans(): void {
  const scans = [...queuedScans.values()];
  queuedScans.clear();
  let found: number[][];
  try {
    found = scanEnvirons(scans.map((scan) => scan.entry));
  } catch (error) {
    for (const scan of scans) for (const waiter of scan.waiters) waiter.reject(error instanceof Error ? error : new Error(String(error)));
    return;
  }
  scans.forEach((scan, i) => {
    for (const waiter of scan.waiters) waiter.resolve([...(found[i] ?? [])]);
  });
}

/**
 * Live processes (other than this one) whose initial environment has `name` set to a value
 * starting with `prefix`, with that value: e.g. every turn of one store by the prefix of its
 * `STATECREW_TURN_KEY`. Unreadable processes are skipped as in {@link findProcessesByEnv}.
 * @throws RangeError when `name` is empty or contains `=` or a NUL.
 */
export function findProcessesByEnvPrefix(name: string, prefix: string): { pid: number; value: string }[] {
  if (name === '' || /[=\0]/.test(name)) throw new RangeError(`invalid environment variable name ${JSON.stringify(name)}`);
  const start = `${name}=${prefix}`;
  const found: { pid: number; value: string }[] = [];
  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch (error) {
      // As in findProcessesByEnv: gone since listed, or another user's (not one of our turns).
      if (hasErrno(error, 'ENOENT', 'ESRCH', 'EACCES')) continue;
      throw error;
    }
    const entry = environ.split('\0').find((item) => item.startsWith(start));
    if (entry !== undefined && isProcessAlive(pid, null)) found.push({ pid, value: Buffer.from(entry.slice(name.length + 1), 'latin1').toString('utf8') });
  }
  return found;
}

/**
 * Kills a whole process group and verifies that none of its members is alive: SIGTERM to
 * the group, up to `graceMs` for it to empty, then SIGKILL (repeated on every probe, so a
 * process forked meanwhile is caught too) and up to `verifyTimeoutMs` for it to empty.
 * Does nothing but verify when the group has no live member. Zombies count as gone.
 * Processes that left the group (`setsid`) are not reached: find them with {@link findProcessesByEnv}.
 * @throws KillNotVerifiedError when members are still alive after SIGKILL and `verifyTimeoutMs`.
 * @throws RangeError when `pgid` is not an integer above 1 or is the caller's own group.
 */
export async function killProcessGroup(pgid: number, options: KillOptions): Promise<KillReport> {
  assertPositiveInteger(pgid, 'pgid');
  if (pgid === 1 || pgid === readProcessStat(process.pid)?.pgid) {
    throw new RangeError(`refusing to kill process group ${pgid}: it is init's or the caller's own`);
  }
  const { clock } = options;
  const startedAt = clock.now();
  const probe = (): number[] => listProcessGroup(pgid);
  const signals = await escalate(probe, (signal) => signalGroup(pgid, signal), () => pgid, options);
  const verifiedAt = clock.now();
  return { pgid, signals, verifiedAt, durationMs: verifiedAt - startedAt };
}

/**
 * Kills an explicit list of processes (for example orphans found by {@link findProcessesByEnv})
 * and verifies each is gone, with the same SIGTERM → grace → SIGKILL escalation as
 * {@link killProcessGroup}, but signalling each pid on its own. Start times are recorded at
 * the call and checked before every signal, so a pid recycled meanwhile is left alone
 * (a recycling between that check and the signal itself cannot be excluded without pidfds).
 * @throws KillNotVerifiedError when some are still alive after SIGKILL and `verifyTimeoutMs`;
 *   its `pgid` is the process group of the first survivor.
 * @throws RangeError when a pid is not an integer above 1 or is the caller itself.
 */
export async function killProcesses(pids: readonly number[], options: KillOptions): Promise<ProcessesKillReport> {
  for (const pid of pids) {
    assertPositiveInteger(pid, 'pid');
    if (pid === 1 || pid === process.pid) throw new RangeError(`refusing to kill pid ${pid}: it is init or the caller`);
  }
  const { clock } = options;
  const startedAt = clock.now();
  const targets = pids
    .map((pid) => ({ pid, startTime: readLiveStartTime(pid) }))
    .filter((target): target is { pid: number; startTime: string } => target.startTime !== null);
  const survivors = (): number[] => targets.filter((t) => isProcessAlive(t.pid, t.startTime)).map((t) => t.pid);
  const signals = await escalate(survivors, (signal) => {
    for (const pid of survivors()) signalPid(pid, signal);
  }, groupOfFirst, options);
  const verifiedAt = clock.now();
  return { pids: targets.map((t) => t.pid), signals, verifiedAt, durationMs: verifiedAt - startedAt };
}

/**
 * SIGTERM, wait, SIGKILL, wait; returns the signals sent or throws with the survivors,
 * reported under the group `groupOf(survivors)`.
 */
async function escalate(
  probe: () => number[],
  send: (signal: KillSignal) => void,
  groupOf: (survivors: readonly number[]) => number,
  options: KillOptions,
): Promise<KillSignal[]> {
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const verifyTimeoutMs = options.verifyTimeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS;
  assertDuration(options.graceMs, 'graceMs');
  assertDuration(verifyTimeoutMs, 'verifyTimeoutMs');
  if (!(pollMs > 0) || !Number.isFinite(pollMs)) throw new RangeError(`pollMs must be a positive number of ms, got ${pollMs}`);

  if (probe().length === 0) return [];
  send('SIGTERM');
  if ((await waitUntilEmpty(probe, options.graceMs, pollMs, options.clock, null)).length === 0) return ['SIGTERM'];
  send('SIGKILL');
  const survivors = await waitUntilEmpty(probe, verifyTimeoutMs, pollMs, options.clock, () => send('SIGKILL'));
  if (survivors.length > 0) throw new KillNotVerifiedError(groupOf(survivors), survivors);
  return ['SIGTERM', 'SIGKILL'];
}

/** Probes every `pollMs` until `probe` returns nothing or `timeoutMs` passed; returns the last probe. */
async function waitUntilEmpty(
  probe: () => number[],
  timeoutMs: number,
  pollMs: number,
  clock: Clock,
  beforeProbe: (() => void) | null,
): Promise<number[]> {
  const deadline = clock.now() + timeoutMs;
  for (;;) {
    const survivors = probe();
    const remaining = deadline - clock.now();
    if (survivors.length === 0 || remaining <= 0) return survivors;
    await new Promise<void>((resolve) => clock.setTimeout(resolve, Math.min(pollMs, remaining)));
    beforeProbe?.();
  }
}

function signalGroup(pgid: number, signal: KillSignal): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    // ESRCH: every member exited since the last probe; the next probe confirms it.
    if (!hasErrno(error, 'ESRCH')) throw error;
  }
}

function signalPid(pid: number, signal: KillSignal): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    // ESRCH: it exited since the last probe; the next probe confirms it.
    if (!hasErrno(error, 'ESRCH')) throw error;
  }
}

/** Process group of the first survivor (its pid when it vanished meanwhile). */
function groupOfFirst(survivors: readonly number[]): number {
  const [first = 0] = survivors;
  return first === 0 ? 0 : readProcessStat(first)?.pgid ?? first;
}

function readLiveStartTime(pid: number): string | null {
  const stat = readProcessStat(pid);
  return stat !== null && isLiveState(stat.state) ? stat.startTime : null;
}

/** `Z` zombie and `X` dead have exited; every other state is a running program. */
function isLiveState(state: string): boolean {
  return state !== 'Z' && state !== 'X';
}

function listPids(): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
}

/** True when the NUL-separated `environ` holds `entry` (which ends with its NUL) as a whole entry. */
function environHas(environ: Buffer, entry: Buffer): boolean {
  // The last entry may lack its terminating NUL; add one so every entry looks alike.
  const text = environ.length > 0 && environ[environ.length - 1] !== 0 ? Buffer.concat([environ, Buffer.from([0])]) : environ;
  for (let at = text.indexOf(entry); at >= 0; at = text.indexOf(entry, at + 1)) {
    if (at === 0 || text[at - 1] === 0) return true;
  }
  return false;
}

function hasErrno(error: unknown, ...codes: string[]): boolean {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && codes.includes(error.code);
}

function assertPositiveInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${what} must be a positive integer, got ${value}`);
}

function assertDuration(value: number, what: string): void {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${what} must be a non-negative number of ms, got ${value}`);
}
