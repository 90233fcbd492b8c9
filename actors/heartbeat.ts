import { fromCallback } from 'xstate';
import type { HeartbeatInput, SupervisorEvent } from '../machines/supervisor.js';
import type { Store } from '../persistence/store.js';
import type { Clock } from '../core/clock.js';
import { ensureError } from '../core/errors.js';

/**
 * The supervisor's `heartbeat` effect: writes the runtime's heartbeat to the store every
 * `intervalMs` (a third of the runtime TTL), the first one interval after it starts
 * (registering the runtime recorded the first heartbeat). When the store refuses it —
 * another runtime declared this one dead and took its actors over — it sends `FENCED`; a
 * store failure is sent as `FENCED` too, with its message (the runtime can no longer prove
 * it is alive, so it must stop driving actors).
 */
export function createHeartbeat(store: Store, clock: Clock, intervalMs: number) {
  return {
    heartbeat: fromCallback<SupervisorEvent, HeartbeatInput>(({ input, sendBack }) => {
      let timer: unknown;
      let stopped = false;
      const beat = (): void => {
        if (stopped) return;
        let alive: boolean;
        try {
          alive = store.heartbeatRuntime(input.runtimeId, clock.now());
        } catch (error) {
          sendBack({ type: 'FENCED', reason: `heartbeat failed: ${ensureError(error).message}` });
          return;
        }
        if (!alive) {
          sendBack({ type: 'FENCED', reason: `runtime ${input.runtimeId} was declared dead and its actors were taken over` });
          return;
        }
        timer = clock.setTimeout(beat, intervalMs);
      };
      timer = clock.setTimeout(beat, intervalMs);
      return () => {
        stopped = true;
        clock.clearTimeout(timer);
      };
    }),
  };
}
