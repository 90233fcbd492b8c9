/**
 * Plain data exchanged between the worker and dispatch statecharts and the turn runner.
 * JSON-safe (no Date, Map or class instances) so it can live in persisted snapshots.
 */

/** What a worker is asked to run: one attempt (dispatch) of one unit. Times in ms. */
export interface TurnAssignment {
  readonly dispatchId: string;
  readonly unitId: string;
  readonly milestoneId: string;
  readonly workerId: string;
  /** 1-based attempt number of the unit. */
  readonly attempt: number;
  readonly fencingToken: number;
  readonly command: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly input: string | null;
  readonly timeoutMs: number;
  readonly stallTimeoutMs: number;
  readonly killGraceMs: number;
  /** Absolute path of the file that receives the turn's stdout and stderr. */
  readonly logPath: string;
  /** Unique on this machine (`<store id>:<dispatch id>`): the marker that finds the turn's orphans. */
  readonly turnKey: string;
}

/** Recorded as soon as the turn's process exists: the evidence used to find it after a crash. */
export interface TurnStarted {
  readonly pid: number;
  /** Process group id; the runner starts every turn in its own group (pgid = pid). */
  readonly pgid: number;
  /** Kernel start time of the process (Linux: clock ticks since boot), so a recycled pid is not mistaken for it. */
  readonly procStartTime: string | null;
  /** ms since epoch. */
  readonly startedAt: number;
  readonly logPath: string;
  /** Where the turn's shim writes how the command ended; lets a restarted runtime learn the exit of an orphan. */
  readonly statusFile: string;
  /** Absolute turn deadline (ms since epoch): `startedAt + timeoutMs`, enforced again after a restore. */
  readonly deadlineAt: number;
}

/** How a turn ended. `exited` with `exitCode: 0` is the only success. */
export type TurnResultKind = 'exited' | 'signaled' | 'timeout' | 'stalled' | 'spawn-failed' | 'lost' | 'stopped';

export interface TurnResult {
  readonly kind: TurnResultKind;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** ms since epoch. */
  readonly endedAt: number;
  /** Human-readable reason, e.g. `exit code 3: cannot find tsconfig`. */
  readonly reason: string;
  readonly lastStderrLine: string | null;
}

/** True when the turn succeeded (process exited with code 0). */
export function isTurnSuccess(result: TurnResult): boolean {
  return result.kind === 'exited' && result.exitCode === 0;
}
