/**
 * A plan after validation and resolution: every default applied, durations in
 * milliseconds, paths absolute. Produced by `loadPlan` / `parsePlan` from a YAML plan
 * file (`version: 1`); this is what the runtime executes and what the store records.
 */

/** One unit of work, ordered within its milestone. */
export interface UnitSpec {
  /** Unique across the plan. */
  readonly id: string;
  readonly milestoneId: string;
  /** 0-based position within the milestone; units run in this order. */
  readonly position: number;
  /** argv; `command[0]` is the program, never run through a shell. */
  readonly command: readonly string[];
  /** Absolute working directory (the plan's `cwd` resolved against the plan file's folder). */
  readonly cwd: string;
  /** Extra environment variables, on top of the runtime's own. */
  readonly env: Readonly<Record<string, string>>;
  /** Written to the process's stdin, then stdin is closed; `null` gives an empty stdin. */
  readonly input: string | null;
  /** Attempts before the unit is failed. @default 3 */
  readonly maxAttempts: number;
  /** Wall-clock limit of one turn, in ms. @default 600_000 (10m) */
  readonly timeoutMs: number;
  /** Limit of silence (no stdout/stderr output) in one turn, in ms. @default 120_000 (2m) */
  readonly stallTimeoutMs: number;
  /** Delay before the 2nd attempt in ms, doubling after each further failure. @default 1_000 */
  readonly retryBackoffMs: number;
  /** Time between SIGTERM and SIGKILL when a turn is killed, in ms. @default 5_000 */
  readonly killGraceMs: number;
  /**
   * After this many failed attempts in a row with the same signature (exit code and last
   * line of stderr) the unit is `stuck` instead of burning its remaining attempts. @default 3
   */
  readonly stuckAfter: number;
  /** `text`: success is exit code 0; `stream-json`: Claude Code's event stream on stdout decides. @default 'text' */
  readonly protocol: 'text' | 'stream-json';
  /**
   * argv of the first turn, when `command` resumes a session through a `{sessionId}`
   * placeholder; without it the first turn drops the placeholder's argument pair.
   */
  readonly initialCommand: readonly string[] | null;
}

/** A milestone: units run in order by the one worker holding its lease. */
export interface MilestoneSpec {
  readonly id: string;
  /** 0-based position in the plan. */
  readonly position: number;
  /** Milestones that must complete before this one starts. */
  readonly dependsOn: readonly string[];
  readonly units: readonly UnitSpec[];
}

/** A validated plan. */
export interface Plan {
  /** Absolute path of the plan file (or a label such as `<inline>` for plans given as objects). */
  readonly file: string;
  readonly version: 1;
  /** Size of the worker pool. @default 2 */
  readonly workers: number;
  /** Absolute path of the SQLite store, or a `postgres://` URL. @default `<cwd>/.statecrew/statecrew.db` */
  readonly store: string;
  readonly milestones: readonly MilestoneSpec[];
}
