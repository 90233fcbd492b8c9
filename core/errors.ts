import { inspect } from 'node:util';

/**
 * Typed errors of statecrew. Every error thrown to a host is a {@link StatecrewError}
 * with a stable {@link ErrorCode}, a human message, and the underlying `cause` when
 * there is one. Each subclass documents when it is thrown and how to fix it.
 */

/** Stable machine-readable error codes. */
export type ErrorCode =
  | 'PLAN_INVALID'
  | 'STORE_NOT_FOUND'
  | 'STORE_CORRUPT'
  | 'STORE_VERSION'
  | 'STALE_FENCING_TOKEN'
  | 'DISPATCH_CONFLICT'
  | 'PERSIST_FAILED'
  | 'STORE_UNAVAILABLE'
  | 'STORE_FAILED'
  | 'CONCURRENT_WRITE'
  | 'KILL_NOT_VERIFIED'
  | 'SPAWN_FAILED'
  | 'RUNTIME_STOPPED'
  | 'OWNERSHIP_LOST'
  | 'USAGE'
  | 'MODEL_PATH_FAILED'
  | 'HOST_IDENTITY'
  | 'STORE_CONNECT'
  | 'GIT_FAILED'
  | 'GIT_MISSING'
  | 'WORKSPACE';

/**
 * What the caller of a failed call must do, as Restate's `RetryableError` / `TerminalError`
 * say it:
 * - `retry`: the fault is transient (a lock held by another process, a dropped connection):
 *   call again after `retryAfterMs`; nothing was written.
 * - `fenced`: the store refused the write because this caller is no longer entitled to make it
 *   (a stale fencing token, ownership lost, a second active dispatch): stop driving what was
 *   refused and re-read the store; retrying the same write can never succeed.
 * - `stop`: the store cannot be used (disk full, I/O error, corrupt database, a schema from the
 *   future): stop writing altogether; the runtime stops with exit code 4.
 * - `fix`: the input is wrong (a plan, an argument): correct it; nothing was written.
 */
export type Recovery = 'retry' | 'fenced' | 'stop' | 'fix';

/** Base class: `code` says what went wrong, `recovery` what to do about it, `cause` carries the original failure. */
export class StatecrewError extends Error {
  readonly code: ErrorCode;
  /** What the caller should do; see {@link Recovery}. @default 'stop' */
  get recovery(): Recovery {
    return 'stop';
  }

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'StatecrewError';
  }
}

/** One problem found in a plan file: where (`path`, e.g. `milestones[1].units[0].id`) and what was expected. */
export interface PlanIssue {
  /** Dotted field path inside the plan, `''` for the whole document. */
  readonly path: string;
  /** What was expected there. */
  readonly message: string;
}

/**
 * Thrown by `loadPlan` / `parsePlan` when a plan file cannot be read, is not YAML, or does
 * not match the plan schema (`version: 1`). Nothing has been written to any store.
 * Fix: correct the fields listed in `issues` (each names its field path).
 * The CLI maps it to exit code 2.
 */
export class PlanError extends StatecrewError {
  override get recovery(): Recovery {
    return 'fix';
  }

  readonly file: string;
  readonly issues: readonly PlanIssue[];

  constructor(file: string, issues: readonly PlanIssue[], options?: { cause?: unknown }) {
    super('PLAN_INVALID', formatPlanIssues(file, issues), options);
    this.name = 'PlanError';
    this.file = file;
    this.issues = issues;
  }
}

function formatPlanIssues(file: string, issues: readonly PlanIssue[]): string {
  const lines = issues.map((issue) => `  ${issue.path === '' ? '(plan)' : issue.path}: ${issue.message}`);
  return `invalid plan ${file}:\n${lines.join('\n')}`;
}

/**
 * Thrown by read-only commands (`statecrew status`) when the store file does not exist.
 * They never create a store. Fix: pass `--store` with the path used by `statecrew run`.
 */
export class StoreNotFoundError extends StatecrewError {
  override get recovery(): Recovery {
    return 'fix';
  }

  readonly path: string;

  constructor(path: string) {
    super('STORE_NOT_FOUND', `no statecrew store at ${path}`);
    this.name = 'StoreNotFoundError';
    this.path = path;
  }
}

/**
 * Thrown when a row read back from the store does not have the expected shape
 * (corrupt JSON, unknown machine, a snapshot that fails validation).
 * The actor it belongs to is not restored. Fix: inspect the row named in the message.
 */
export class StoreCorruptError extends StatecrewError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_CORRUPT', message, options);
    this.name = 'StoreCorruptError';
  }
}

/**
 * Thrown when a networked store cannot be opened because of how it is addressed or set up: the
 * server is unreachable or refuses the connection, the password or user is wrong, the database
 * does not exist, the role lacks a permission statecrew needs. The message names host, port,
 * database and what was wrong, never the password. Nothing was written. Fix: correct the URL or
 * the server, then run again; the CLI exits with code 2.
 */
export class StoreConnectionError extends StatecrewError {
  override get recovery(): Recovery {
    return 'fix';
  }

  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_CONNECT', message, options);
    this.name = 'StoreConnectionError';
  }
}

/**
 * Thrown when a store's schema version does not match this statecrew: newer (written by a
 * later statecrew; upgrade statecrew), or older and opened read-only (`status`, `journal`,
 * `doctor` never migrate; run `statecrew run` or `statecrew doctor --fix` once to upgrade it).
 */
export class StoreVersionError extends StatecrewError {
  readonly found: number;
  readonly expected: number;

  constructor(file: string, found: number, expected: number) {
    super(
      'STORE_VERSION',
      found > expected
        ? `store ${file} has schema version ${found}, newer than this statecrew supports (${expected}); upgrade statecrew`
        : `store ${file} has schema version ${found}, older than this statecrew's (${expected}); run \`statecrew run\` or \`statecrew doctor --fix\` once to upgrade it`,
    );
    this.name = 'StoreVersionError';
    this.found = found;
    this.expected = expected;
  }
}

/**
 * Thrown by the store when a write made under a milestone lease carries a fencing token
 * older than the lease's current token (invariant 3): another worker took the lease over.
 * The write is rolled back. Fix: nothing to fix in the caller's data; the actor that made
 * the write has lost its lease and must stop driving that milestone.
 */
export class StaleFencingTokenError extends StatecrewError {
  override get recovery(): Recovery {
    return 'fenced';
  }

  readonly milestoneId: string;
  readonly token: number;
  readonly currentToken: number | null;

  constructor(milestoneId: string, token: number, currentToken: number | null) {
    super(
      'STALE_FENCING_TOKEN',
      `write under lease of milestone ${milestoneId} with fencing token ${token} refused: current token is ${currentToken ?? 'none'}`,
    );
    this.name = 'StaleFencingTokenError';
    this.milestoneId = milestoneId;
    this.token = token;
    this.currentToken = currentToken;
  }
}

/**
 * Thrown by the store when a new dispatch would be a second active dispatch
 * (`pending`, `claimed` or `running`) of the same unit (invariant 2, enforced by a partial
 * unique index). Nothing is written. Fix: wait for the active dispatch to end.
 */
export class DispatchConflictError extends StatecrewError {
  override get recovery(): Recovery {
    return 'fenced';
  }

  readonly unitId: string;

  constructor(unitId: string, options?: { cause?: unknown }) {
    super('DISPATCH_CONFLICT', `unit ${unitId} already has an active dispatch`, options);
    this.name = 'DispatchConflictError';
    this.unitId = unitId;
  }
}

/**
 * Thrown (or emitted as `actor.persist-failed`) when a transition could not be written.
 * The transaction was rolled back: the store still holds the previous snapshot, and the
 * actor is stopped so that no effect runs on unrecorded state. `cause` holds the SQLite error.
 */
export class PersistError extends StatecrewError {
  readonly actorId: string;

  constructor(actorId: string, options?: { cause?: unknown }) {
    super('PERSIST_FAILED', `could not persist a transition of actor ${actorId}: ${describeCause(options?.cause)}`, options);
    this.name = 'PersistError';
    this.actorId = actorId;
  }
}

/**
 * Thrown by the process-group killer when processes of a turn are still alive after
 * SIGTERM, the grace period and SIGKILL (for example a process in uninterruptible sleep).
 * The worker becomes `zombie` (its end reason names the survivors), the scheduler abandons
 * its dispatch, and another worker may run the unit again while they live: find them with
 * `statecrew doctor` (orphans by `STATECREW_TURN_KEY`) and `doctor --fix`.
 */
export class KillNotVerifiedError extends StatecrewError {
  readonly pgid: number;
  readonly survivors: readonly number[];

  constructor(pgid: number, survivors: readonly number[]) {
    super('KILL_NOT_VERIFIED', `process group ${pgid} still has live processes after SIGKILL: ${survivors.join(', ')}`);
    this.name = 'KillNotVerifiedError';
    this.pgid = pgid;
    this.survivors = survivors;
  }
}

/**
 * Thrown when this process cannot establish its host identity (`actors/hostIdentity.ts`):
 * its `/proc` belongs to another PID namespace (a PID namespace entered without mounting a
 * `/proc` of its own), so the pids it would record and probe name other processes, which
 * statecrew must never signal. Fix: mount a `/proc` for the namespace (`unshare --pid --fork
 * --mount-proc`, or a container runtime's default). A runtime refuses to start; nothing was
 * written.
 */
export class HostIdentityError extends StatecrewError {
  override get recovery(): Recovery {
    return 'fix';
  }

  constructor(message: string) {
    super('HOST_IDENTITY', message);
    this.name = 'HostIdentityError';
  }
}

/**
 * Thrown by runtime calls that need a running runtime (`submit`, `send`, `sendMessage`,
 * `progress`) made before `start` or after the run ended. Fix: start it first, or create a new runtime.
 */
export class RuntimeStoppedError extends StatecrewError {
  constructor() {
    super('RUNTIME_STOPPED', 'the runtime is stopped');
    this.name = 'RuntimeStoppedError';
  }
}

/**
 * Thrown by the store when a runtime writes to an actor it no longer owns: another runtime
 * declared it dead (heartbeat lapsed and process gone or stopped) and took its actors over
 * (single activation, fenced on the owner like leases on their token). Nothing is written.
 * The runtime that gets it must stop driving every actor it held; `statecrew run` then
 * rejoins as a new runtime.
 */
export class OwnershipLostError extends StatecrewError {
  override get recovery(): Recovery {
    return 'fenced';
  }

  readonly actorId: string;
  readonly runtimeId: string;
  readonly owner: string | null;

  constructor(actorId: string, runtimeId: string, owner: string | null) {
    super('OWNERSHIP_LOST', `runtime ${runtimeId} no longer owns actor ${actorId} (owner: ${owner ?? 'none'})`);
    this.name = 'OwnershipLostError';
    this.actorId = actorId;
    this.runtimeId = runtimeId;
    this.owner = owner;
  }
}

/**
 * Thrown for a call that cannot be right whatever the state: bad command-line arguments (the
 * CLI maps it to exit code 2), `start` called twice, an event that is not `{ type }` or is an
 * XState internal, a machine in `machines` not made from the exported one. Fix: the call.
 */
export class UsageError extends StatecrewError {
  override get recovery(): Recovery {
    return 'fix';
  }

  constructor(message: string) {
    super('USAGE', message);
    this.name = 'UsageError';
  }
}

/**
 * Thrown by a store when it cannot be reached or is busy for now: `SQLITE_BUSY` after
 * `busy_timeout` (another process holds the write lock), later a dropped connection. Nothing
 * was written. Fix: retry after `retryAfterMs`; the runtime's store policy does so with
 * backoff and reports `runtime.store-waiting` while it lasts.
 */
export class StoreUnavailableError extends StatecrewError {
  /** Suggested delay before the next attempt, ms. */
  readonly retryAfterMs: number;

  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super('STORE_UNAVAILABLE', message, options);
    this.name = 'StoreUnavailableError';
    this.retryAfterMs = options?.retryAfterMs ?? 100;
  }

  override get recovery(): Recovery {
    return 'retry';
  }
}

/**
 * Thrown by a store when it cannot be used at all: disk full, an I/O error, a database that is
 * not one, a failed commit. Whatever the failed call wrote was rolled back. Fix: stop writing
 * (the runtime stops with exit code 4, its turns killed and verified gone), repair the cause
 * named in `cause`, then run again: the store is as the last committed job left it.
 */
export class StoreFailedError extends StatecrewError {
  /** The store method that failed, e.g. `commitJob`. */
  readonly operation: string;

  constructor(operation: string, options?: { cause?: unknown }) {
    super('STORE_FAILED', `store ${operation} failed: ${describeCause(options?.cause)}`, options);
    this.name = 'StoreFailedError';
    this.operation = operation;
  }
}

/**
 * Thrown by the store when a job's write to an actor does not follow the row it read: the
 * actor's journal already has sequence number `found`, not `expected - 1` (another writer
 * wrote it). Nothing of the job is written. Fix: restore the actor from its committed row.
 */
export class ConcurrentWriteError extends StatecrewError {
  readonly actorId: string;
  readonly expected: number;
  readonly found: number | null;

  constructor(actorId: string, expected: number, found: number | null) {
    super('CONCURRENT_WRITE', `actor ${actorId}: expected to write journal row ${expected}, but the last row is ${found ?? 'none'}`);
    this.name = 'ConcurrentWriteError';
    this.actorId = actorId;
    this.expected = expected;
    this.found = found;
  }

  override get recovery(): Recovery {
    return 'fenced';
  }
}

/**
 * What to do about any thrown value: a {@link StatecrewError}'s own {@link Recovery}, `stop`
 * for anything else (an unknown failure of a store is never assumed to be safe to retry).
 */
export function recoveryOf(error: unknown): Recovery {
  return error instanceof StatecrewError ? error.recovery : 'stop';
}

/**
 * Normalises anything thrown into an `Error` (once, at the boundary where it is caught).
 * Never throws: circular objects, BigInt and `undefined` get a readable message, and the
 * original value is kept as `cause`.
 */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  const text = value === undefined ? 'undefined was thrown (no error value)' : inspect(value, { depth: 3, breakLength: Infinity });
  return new Error(text, { cause: value });
}

function describeCause(cause: unknown): string {
  return cause === undefined ? 'unknown cause' : ensureError(cause).message;
}

/**
 * Thrown by statecrew's git layer (`actors/git.ts`) when a git command it ran exited non-zero
 * in a way the caller does not handle (a merge conflict is an outcome, not this error).
 * `argv` is what ran (without `git`), `exitCode` its status and `stderr` its last 4 KiB. A
 * workspace actor records it as its failure reason; an index.lock left by a killed git is
 * cleaned when the workspace is prepared again. Fix: read the reason; run the command by hand
 * in `cwd` to see it.
 */
export class GitError extends StatecrewError {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(argv: readonly string[], cwd: string, exitCode: number | null, stderr: string, options?: { cause?: unknown }) {
    const detail = stderr.trim().split('\n').filter((line) => line.trim() !== '').slice(-3).join(' / ');
    super('GIT_FAILED', `git ${argv.join(' ')} failed in ${cwd} (exit code ${exitCode ?? 'none'})${detail === '' ? '' : `: ${detail}`}`, options);
    this.name = 'GitError';
    this.argv = argv;
    this.cwd = cwd;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/**
 * Thrown when a plan has a `workspace` and git cannot be run (not installed, not on `PATH`) or
 * is older than 2.39 (worktree and update-ref behaviour statecrew relies on). Nothing was
 * written. The CLI maps it to exit code 2. Fix: install git 2.39 or later.
 */
export class GitMissingError extends StatecrewError {
  override get recovery(): Recovery {
    return 'fix';
  }

  constructor(message: string, options?: { cause?: unknown }) {
    super('GIT_MISSING', message, options);
    this.name = 'GitMissingError';
  }
}

/**
 * Thrown by statecrew's workspace operations when the repository is not as a workspace needs
 * it: the milestone's branch is checked out in a folder outside statecrew's workspaces, a
 * recorded commit no longer exists, the base branch was deleted. The workspace actor records it
 * as its failure reason and the milestone fails; its branch is kept. Fix: what the message says,
 * then run the plan again.
 */
export class WorkspaceError extends StatecrewError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WORKSPACE', message, options);
    this.name = 'WorkspaceError';
  }
}
