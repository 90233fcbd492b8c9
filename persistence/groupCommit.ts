import type Database from 'better-sqlite3';
import { PersistError } from '../core/errors.js';
import { retryBusy } from './sqliteErrors.js';

/**
 * Group commit for one SQLite connection (DESIGN.md §6: "batch commits where it pays, but
 * never report a transition as durable before its transaction committed").
 *
 * {@link GroupCommit.defer} opens a `BEGIN IMMEDIATE` transaction, if none is open, that
 * commits in a microtask: at the end of the current job. Every write made on the connection
 * until then — each transition's own transaction becomes a savepoint inside it (better-sqlite3
 * nests `db.transaction()` that way), so a refused write still rolls back alone — shares that
 * one commit. The caller reports the writes as durable only when the promise resolves. The
 * write lock is held from the first write to the end of the job: other processes wait
 * (`busy_timeout`) no longer than one burst of synchronous work.
 * @internal
 */
export class GroupCommit {
  private open: Promise<void> | undefined;
  private listeners = new Set<(error?: Error) => void>();
  private settleOpen: (() => void) | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly busyRetries: number,
  ) {}

  /**
   * Joins the open group commit, or opens one. Resolves once it committed; rejects with
   * {@link PersistError} when the commit failed (everything written since it opened was
   * rolled back). `onSettled` (once per commit, however often it is passed) is called in the
   * commit's own microtask, right after COMMIT, with the failure if any — before any code
   * awaiting the promise runs. Inside a transaction someone else opened, resolves at once:
   * that transaction's owner commits.
   * @throws PersistError when the transaction cannot be opened (the lock never came free).
   */
  defer(onSettled?: (error?: Error) => void): Promise<void> {
    if (this.open !== undefined) {
      if (onSettled !== undefined) this.listeners.add(onSettled);
      return this.open;
    }
    if (this.db.inTransaction) {
      if (onSettled !== undefined) queueMicrotask(() => onSettled());
      return Promise.resolve();
    }
    try {
      retryBusy(this.busyRetries, () => this.db.exec('BEGIN IMMEDIATE'));
    } catch (error) {
      throw new PersistError('(group commit)', { cause: error });
    }
    if (onSettled !== undefined) this.listeners.add(onSettled);
    const commit = new Promise<void>((resolve, reject) => {
      this.settleOpen = () => {
        this.open = undefined;
        this.settleOpen = undefined;
        const listeners = [...this.listeners];
        this.listeners.clear();
        let failure: PersistError | undefined;
        try {
          this.db.exec('COMMIT');
        } catch (error) {
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
          failure = new PersistError('(group commit)', { cause: error });
        }
        // Listeners run right after COMMIT, before anything awaiting the promise.
        for (const listener of listeners) listener(failure);
        if (failure === undefined) resolve();
        else reject(failure);
      };
    });
    const settle = this.settleOpen;
    queueMicrotask(() => {
      if (this.settleOpen === settle) settle?.();
    });
    this.open = commit;
    return commit;
  }

  /**
   * Commits the open group commit now instead of at the end of the job (listeners run, the
   * promise settles). For a fact that must be durable before anything else happens — the pid
   * of a process just spawned — so that a crash cannot fall between the two.
   */
  flush(): void {
    this.settleOpen?.();
  }

  /** Resolves when the group commit open now (if any) has committed; at once when none is open. */
  committed(): Promise<void> {
    return this.open ?? Promise.resolve();
  }
}
