import type { Emitter } from 'mitt';
import type { RuntimeEvents } from '../../src/events.js';

/** Resolves with the first `name` event for which `match` holds (no timers involved). */
export function nextEvent<K extends keyof RuntimeEvents>(
  events: Emitter<RuntimeEvents>,
  name: K,
  match: (event: RuntimeEvents[K]) => boolean = () => true,
): Promise<RuntimeEvents[K]> {
  return new Promise((resolve) => {
    const handler = (event: RuntimeEvents[K]) => {
      if (!match(event)) return;
      events.off(name, handler);
      resolve(event);
    };
    events.on(name, handler);
  });
}

/** Lets queued I/O callbacks and scheduler passes run (one turn of the event loop, several times). */
export async function drainEventLoop(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}
