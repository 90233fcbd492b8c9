import { describe, expect, it } from 'vitest';
import { useStore, type ConformanceBackend } from './backend.js';

/** The turn event role: a stream-json turn's events, idempotent per dispatch and line. */
export function describeTurnEventLog(backend: ConformanceBackend): void {
  describe(`TurnEventLog (${backend.name})`, () => {
    const t = useStore(backend);

    it('records events by line, ignores a line recorded again, and keeps dispatches apart', async () => {
      await t.store.recordTurnEvents([
        { dispatchId: 'd1', line: 2, type: 'result', subtype: 'success', body: '{"type":"result"}' },
        { dispatchId: 'd1', line: 1, type: 'system', subtype: 'init', body: '{"type":"system"}' },
        { dispatchId: 'd2', line: 1, type: '(malformed)', subtype: null, body: 'not json' },
      ]);
      await t.store.recordTurnEvents([{ dispatchId: 'd1', line: 1, type: 'system', subtype: 'other', body: '{}' }]);
      await t.store.recordTurnEvents([]);
      expect(await t.store.turnEvents('d1')).toEqual([
        { dispatchId: 'd1', line: 1, type: 'system', subtype: 'init', body: '{"type":"system"}' },
        { dispatchId: 'd1', line: 2, type: 'result', subtype: 'success', body: '{"type":"result"}' },
      ]);
      expect(await t.store.turnEvents('d2')).toHaveLength(1);
      expect(await t.store.turnEvents('none')).toEqual([]);
    });
  });
}
