import { fromCallback } from 'xstate';
import type { HeartbeatInput, SupervisorEvent } from '../machines/supervisor.js';
import type { Store } from '../persistence/store.js';
import type { Clock } from '../core/clock.js';
import { ensureError, recoveryOf } from '../core/errors.js';

/**
 * The supervisor's `heartbeat` effect: writes the runtime's heartbeat to the store every
 * `intervalMs` (a third of the runtime TTL), the first one interval after it starts
 * (registering the runtime recorded the first heartbeat), and reports each one recorded to
 * `recorded` with the clock time it was stamped with, and waits for it (the runtime renews its
 * turns' keep-alives only while heartbeats are recent, and reads the store's clock then). When the store refuses it —
 * another runtime declared this one dead and took its actors over — it sends `FENCED`. A
 * store that cannot be used (after the store policy's retries) sends `STORE_FAILED`; a
 * refusal of another kind sends `FENCED` with its message (the runtime can no longer prove it
 * is alive, so it must stop driving actors).
 */
export function createHeartbeat(store: Store, clock: Clock, intervalMs: number, recorded: (at: number) => Promise<void> = () => Promise.resolve()) {
  return {
    heartbeat: fromCallback<SupervisorEvent, HeartbeatInput>(({ input, sendBack }) => {
      let timer: unknown;
      let stopped = false;
      const beat = async (): Promise<void> => {
        const at = clock.now();
        const alive = await store.heartbeatRuntime(input.runtimeId, at);
        if (stopped) return;
        if (!alive) {
          sendBack({ type: 'FENCED', reason: `runtime ${input.runtimeId} was declared dead and its actors were taken over` });
          return;
        }
        await recorded(at);
        if (stopped) return;
        timer = clock.setTimeout(run, intervalMs);
      };
      const run = (): void => {
        if (stopped) return;
        beat().catch((error: unknown) => {
          if (stopped) return;
          const failure = ensureError(error);
          sendBack(
            recoveryOf(failure) === 'stop'
              ? { type: 'STORE_FAILED', reason: `heartbeat failed: ${failure.message}` }
              : { type: 'FENCED', reason: `heartbeat failed: ${failure.message}` },
          );
        });
      };
      timer = clock.setTimeout(run, intervalMs);
      return () => {
        stopped = true;
        clock.clearTimeout(timer);
      };
    }),
  };
}
