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
  /**
   * `text`: success is exit code 0; `stream-json`: Claude Code's event stream on stdout decides;
   * `codex-json`: Codex CLI's `codex exec --json` event stream decides. @default 'text'
   */
  readonly protocol: 'text' | 'stream-json' | 'codex-json';
  /**
   * stream-json: the silence limit, in ms, while a tool call the agent made has no result yet
   * (a long Bash command prints nothing until it ends); `stallTimeoutMs` applies otherwise.
   * @default 1_800_000 (30m)
   */
  readonly toolTimeoutMs: number;
  /**
   * stream-json: a turn whose result lists tools the CLI denied for want of permission
   * (`permission_denials`) fails (`fail`), or completes with the denials recorded (`accept`).
   * @default 'fail'
   */
  readonly permissionDenials: 'fail' | 'accept';
  /**
   * stream-json: how long a unit whose turns the API keeps failing (rate limited, overloaded,
   * 5xx) waits, from the first such failure in a row, before it fails; those turns use no
   * attempt. @default 7_200_000 (2h)
   */
  readonly maxTransientWaitMs: number;
  /**
   * Who the unit's turns are billed to, for rate limits: while one unit's agent is rate limited
   * with a reset time, no new turn of a unit with the same agent starts anywhere in the fleet.
   * The unit's `agent:` name, else the basename of its program (`claude`).
   */
  readonly agent: string;
  /**
   * Budget of the unit's turns in USD, against the cost its stream-json turns report: once a
   * turn takes it over, the unit gets no more turns and fails (`budget exceeded: $x of $y`).
   * Absent: no budget.
   */
  readonly maxCostUsd?: number;
  /**
   * argv of the first turn, when `command` resumes a session through a `{sessionId}`
   * placeholder; without it the first turn drops the placeholder's argument pair.
   */
  readonly initialCommand: readonly string[] | null;
  /**
   * `check`: the milestone's workspace check (`<milestone>#check`, added by statecrew after the
   * milestone's own units; its failures use fix turns). Absent for the plan's own units.
   */
  readonly role?: 'check';
  /**
   * In a milestone with a workspace: the unit's `cwd` relative to the worktree's root (`cwd` is
   * then inside the worktree once the workspace is resolved at run start).
   */
  readonly workspaceCwd?: string;
}

/** How a milestone's branch lands on its base. */
export type MergeMode = 'merge' | 'squash' | 'rebase';

/** A milestone's workspace: a git worktree on its own branch, checked and merged into `base`. */
export interface WorkspaceSpec {
  /** Absolute path of the git repository. */
  readonly repo: string;
  /** Branch to start from and merge into; `null` until resolved at run start (the repository's current branch). */
  readonly base: string | null;
  /** The milestone's branch (the plan's pattern with `{milestone}` replaced). */
  readonly branch: string;
  /** argv run in the worktree after the milestone's units, before merging; `null`: no check. */
  readonly check: readonly string[] | null;
  /** @default 'merge' */
  readonly merge: MergeMode;
  /** Agent turns allowed to fix a failing check or a merge conflict. @default 0 */
  readonly fixTurns: number;
  /** Delete the milestone's branch after it merged. @default false */
  readonly deleteBranch: boolean;
  /** Author and committer of statecrew's commits. @default statecrew <statecrew@localhost> */
  readonly author: { readonly name: string; readonly email: string };
  /**
   * Folder of the store's worktrees; `null` until resolved at run start: `worktrees/` beside a
   * SQLite store, `statecrew/worktrees` in the repository's git folder for a PostgreSQL store.
   */
  readonly root: string | null;
}

/** A milestone: units run in order by the one worker holding its lease. */
export interface MilestoneSpec {
  readonly id: string;
  /** 0-based position in the plan. */
  readonly position: number;
  /** Milestones that must complete before this one starts. */
  readonly dependsOn: readonly string[];
  readonly units: readonly UnitSpec[];
  /** The milestone's workspace; absent when the plan has none or the milestone opts out. */
  readonly workspace?: WorkspaceSpec;
  /** Budget of all its units' turns in USD (see {@link UnitSpec.maxCostUsd}); absent: none. */
  readonly maxCostUsd?: number;
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
  /** Budget of every turn of the plan in USD (see {@link UnitSpec.maxCostUsd}); absent: none. */
  readonly maxCostUsd?: number;
  /** What of finished work the runtime drops, and how often; absent: nothing is dropped. */
  readonly retention?: RetentionPolicy;
  /** Where to notify people of what happened (unit failed, milestone completed, …); absent: nobody. */
  readonly notify?: readonly NotifySpec[];
}

/** An event a notification is sent for. */
export type NotifyEvent = 'unit.failed' | 'unit.stuck' | 'milestone.completed' | 'milestone.failed' | 'budget.exceeded' | 'run.finished';

/**
 * One notification sink of a plan (`notify:`): a webhook (an HTTP POST of the JSON body), a
 * command (argv, the JSON body on its stdin), or both, each delivered with retries.
 */
export interface NotifySpec {
  /** `http://` or `https://` URL the body is POSTed to. */
  readonly webhook?: string;
  /** Command run with the body on stdin; exit code 0 means delivered. */
  readonly command?: readonly string[];
  /** Events this sink gets. @default every event of {@link NotifyEvent} */
  readonly on: readonly NotifyEvent[];
  /** Time one attempt may take, in ms. @default 30_000 */
  readonly timeoutMs: number;
  /** Attempts before the notification is given up on. @default 8 */
  readonly maxAttempts: number;
}

/**
 * Retention of finished work (docs/retention.md): each period counts from the moment an actor
 * finished; a category without a period is kept. Applied by the runtime in the background, in
 * small batches, every `everyMs`; `statecrew compact` applies it once.
 */
export interface RetentionPolicy {
  /** Journal rows (snapshots, events) of finished actors, kept this many ms. */
  readonly journalMs?: number;
  /** Stored turn output and agent events of finished dispatches, kept this many ms (log files on the host are not touched). */
  readonly turnOutputMs?: number;
  /** Finished actors' own rows (final snapshots), kept this many ms; projections (status, dispatches) always stay. */
  readonly actorsMs?: number;
  /** How often the runtime compacts, in ms. @default 60_000 */
  readonly everyMs: number;
}
