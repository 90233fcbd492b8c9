/**
 * The turn status file: how a turn's command ended, written once by the turn shim
 * (`native/turn-shim.c`) when the command exits and read by whichever runtime process
 * watches the turn — the one that spawned it or one that adopted it after a restart.
 *
 * The shim writes it as one JSON object with the fields of {@link TurnStatus}, to
 * `<path>.tmp`, fsynced, then renamed over `<path>` (rename(2) is atomic within a file system):
 * a reader never sees a partial file. The runtime validates what it reads back in
 * `actors/turnSupervisor.ts`.
 */

/** Contents of a status file (JSON, one object). Written atomically: it is either absent or complete. */
export interface TurnStatus {
  /** Exit code of the command; `null` when a signal ended it or it never started. */
  readonly exitCode: number | null;
  /** Name of the signal that ended the command, e.g. `SIGTERM`; `null` when it exited or never started. */
  readonly signal: string | null;
  /** Last non-empty line of the command's stderr, at most {@link STDERR_LINE_LIMIT_BYTES} bytes of UTF-8. */
  readonly lastStderrLine: string | null;
  /** Bytes of stdout plus stderr read from the command (and its group, while they shared its pipes). */
  readonly outputBytes: number;
  /** When the command exited (or failed to start), in ms since the epoch, by the shim's wall clock. */
  readonly endedAt: number;
  /** Why the command could not be started (ENOENT, EACCES, missing working directory, unwritable log); `null` when it ran. */
  readonly spawnError: string | null;
  /** First error that stopped the shim from appending output to the log (e.g. ENOSPC); `null` when every byte was logged. */
  readonly logError: string | null;
  /**
   * The turn's `STATECREW_TURN_KEY` (`<store id>:<dispatch id>`) from the shim's environment, so
   * that a status file left under the same path by another store's turn (a deleted and
   * recreated store, a second PostgreSQL schema run from the same folder) is never taken for
   * this one's; `null` when the turn had no key (or an older shim wrote the file).
   */
  readonly turnKey: string | null;
  /**
   * When the shim found the turn's keep-alive lapsed and killed the turn (ms since the epoch,
   * its wall clock): no runtime had renewed it (`actors/turnKeepAlive.ts`); `null` otherwise.
   */
  readonly keepAliveLapsedAt: number | null;
  /**
   * Whether any process of the turn was still alive when the shim wrote this file: the shim is
   * the child subreaper of the command's tree (prctl(2)), so every live descendant, even one that
   * left the process group, is its child or below one, and `false` (it had no child left) means
   * nothing of the turn is left anywhere. `null` when the shim could not tell (no subreaper, or an
   * older shim wrote the file): the runtime then scans /proc for the turn's processes.
   */
  readonly descendantsLeft: boolean | null;
}

/** Bound of {@link TurnStatus.lastStderrLine}, in bytes of UTF-8 (`STDERR_LINE_LIMIT` of the shim). */
export const STDERR_LINE_LIMIT_BYTES = 1_024;

/** Where the status file of the turn logging to `logPath` lives: beside the log, `<logPath>.status.json`. */
export function turnStatusPath(logPath: string): string {
  return `${logPath}.status.json`;
}

/** The `code` of a Node system error (`ENOENT`, `EPIPE`, …), or `null`. */
export function errnoOf(error: unknown): string | null {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : null;
}
