/**
 * The first step of every effect that does I/O. An effect starts while its actor is still
 * processing the transition that invoked it, before that transition is committed to the
 * store. `committed` resolves once it is: after the job's group commit
 * ({@link Store.committed}), or — for a host that commits each transition synchronously —
 * after one microtask. If the commit failed (or the runtime crashed-in-test, detached), the
 * actor was stopped meanwhile and `signal` is aborted: the effect then rejects with the
 * signal's `AbortError` (or the commit's `PersistError`) instead of acting on a state that was
 * never recorded; XState drops results of stopped actors.
 */
export async function afterCommit(signal: AbortSignal, committed: () => Promise<void> = () => Promise.resolve()): Promise<void> {
  await committed();
  signal.throwIfAborted();
}
