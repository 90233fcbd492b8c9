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
  /** How the turn's output is read: `text` (success = exit code 0), `stream-json` (Claude Code) or `codex-json` (Codex CLI). @default 'text' */
  readonly protocol?: 'text' | 'stream-json' | 'codex-json';
  /** The dispatch whose turn reported `resumeSessionId`: a Codex thread's running token totals are counted from its result. */
  readonly resumeDispatchId?: string | null;
  /** The agent session this turn resumes (placed into `{sessionId}` of its command), if any. */
  readonly resumeSessionId?: string | null;
  /** stream-json: the silence limit while a tool call has no result yet, in ms. @default stallTimeoutMs */
  readonly toolTimeoutMs?: number;
  /** stream-json: what denied tools do to the turn. @default 'fail' */
  readonly permissionDenials?: 'fail' | 'accept';
}

/** Recorded as soon as the turn's process exists: the evidence used to find it after a crash. */
export interface TurnStarted {
  readonly pid: number;
  /** Process group id; the runner starts every turn in its own group (pgid = pid). */
  readonly pgid: number;
  /** Kernel start time of the process (Linux: clock ticks since boot), so a recycled pid is not mistaken for it. */
  readonly procStartTime: string | null;
  /**
   * Host identity (machine, boot, PID namespace) the pid belongs to: the pid is probed and
   * signalled only by a runtime of the same identity. Absent in snapshots recorded before
   * statecrew recorded it (then taken as local).
   */
  readonly hostId?: string;
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
  /** Set when the protocol failed the turn although it exited 0 (a stream-json error result, no result, malformed output). */
  readonly failure?: string | null;
  /** stream-json: the agent session the turn reported. */
  readonly sessionId?: string | null;
  /** stream-json: the turn resumed a session but reported another one. */
  readonly resumeMismatch?: boolean;
  /** stream-json: cost of the turn in USD, the turn's own (a resumed session's running total is not counted again). */
  readonly costUsd?: number | null;
  /** stream-json: tokens of the turn, as the agent reported them. */
  readonly inputTokens?: number | null;
  readonly outputTokens?: number | null;
  /** ms since epoch of the turn's last output seen by the runtime (stall watchdog's reference). */
  readonly lastActivityAt?: number | null;
  /**
   * stream-json: the turn failed for a reason that is not the agent's (the API was rate
   * limited, overloaded or failing): the unit waits and runs the turn again without using an
   * attempt. Set only on a failed turn.
   */
  readonly transient?: TransientFailure | null;
}

/** Why a turn failed without it being the agent's fault, as its event stream said. */
export interface TransientFailure {
  /** `rate_limited`: HTTP 429 or a rejected `rate_limit_event`; `overloaded`: 529; `server_error`: another 5xx. */
  readonly kind: 'rate_limited' | 'overloaded' | 'server_error';
  /** The HTTP status, when the stream gave one. */
  readonly status: number | null;
  /** When the limit resets (ms since epoch), from a `rate_limit_event`'s `resetsAt`; `null` when not given. */
  readonly resetAt: number | null;
}

/** True when the turn succeeded: it exited with code 0 and its protocol found no failure. */
export function isTurnSuccess(result: TurnResult): boolean {
  return result.kind === 'exited' && result.exitCode === 0 && (result.failure ?? null) === null;
}
