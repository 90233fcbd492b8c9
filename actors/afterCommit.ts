/**
 * The first step of every effect that does I/O. An effect starts while its actor is still
 * processing the transition that invoked it, before that transition is staged, let alone
 * committed. `committed` (`ActorHost.committed`) resolves once the job holding that transition
 * has committed. If it did not (the job was refused or the store failed), or the runtime
 * detached, the actor was stopped meanwhile and `signal` is aborted: the effect then rejects
 * with the job's error or the signal's `AbortError` instead of acting on a state that was never
 * recorded; XState drops results of stopped actors.
 */
export async function afterCommit(signal: AbortSignal, committed: () => Promise<void> = () => Promise.resolve()): Promise<void> {
  await committed();
  signal.throwIfAborted();
}
