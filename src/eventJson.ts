import type { AnyEventObject } from 'xstate';

/** Longest event JSON kept in the journal, in UTF-16 code units (≈ bytes for ASCII payloads). */
export const MAX_EVENT_JSON = 4096;

/**
 * JSON text of an event for the journal's `event` column. `Error` values (XState's
 * `xstate.error.actor.*` events carry one) become `{ name, message }`; functions and
 * cycles are dropped; payloads longer than {@link MAX_EVENT_JSON} are cut to
 * `{ type, truncated: true }` so one chatty event cannot bloat every journal row.
 */
export function eventToJson(event: AnyEventObject): string {
  const seen = new WeakSet<object>();
  const json = JSON.stringify(event, (_key, value: unknown) => {
    if (value instanceof Error) return { name: value.name, message: value.message };
    if (typeof value === 'function') return undefined;
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[cycle]';
      seen.add(value);
    }
    return value;
  });
  return json.length <= MAX_EVENT_JSON ? json : JSON.stringify({ type: event.type, truncated: true });
}
