/**
 * The first step of every effect that does I/O. An effect starts while its actor is still
 * processing the transition that invoked it, before that transition is committed to the
 * store; awaiting one microtask lets the synchronous commit finish first. If the commit
 * failed (or the runtime crashed-in-test, detached), the actor was stopped meanwhile and
 * `signal` is aborted: the effect then rejects with the signal's `AbortError` instead of
 * acting on a state that was never recorded; XState drops results of stopped actors.
 */
export async function afterCommit(signal: AbortSignal): Promise<void> {
  await Promise.resolve();
  signal.throwIfAborted();
}
