import { fromPromise } from 'xstate';
import type { DeadlineInput } from '../machines/dispatch.js';
import type { Clock } from '../core/clock.js';
import { afterCommit } from './afterCommit.js';

/**
 * A durable deadline: resolves at the absolute time `input.at` (ms since epoch) of the
 * injected clock, at once if it has passed. Invoked with its saved input after a restore,
 * so it re-arms with the time that is left. Aborting (leaving the state) clears the timer.
 * A deadline already due does no I/O and arms no timer, so it does not wait for the commit of
 * the transition that started it: its next transition joins the same job (a new dispatch
 * reaches `pending.ready` in the job that created it). If that job is refused, the actor is
 * detached and the result dropped.
 */
export function createDeadline(clock: Clock, committed?: () => Promise<void>) {
  return {
    waitUntil: fromPromise<void, DeadlineInput>(async ({ input, signal }) => {
      if (input.at - clock.now() <= 0) return;
      await afterCommit(signal, committed);
      const remaining = input.at - clock.now();
      if (remaining <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = clock.setTimeout(resolve, remaining);
        signal.addEventListener('abort', () => clock.clearTimeout(timer));
      });
    }),
  };
}
