import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../persistence/store.js';
import type { BackendStore, ConformanceBackend } from './backend.js';

/** The turn event role: a stream-json turn's events, idempotent per dispatch and line. */
export function describeTurnEventLog(backend: ConformanceBackend): void {
  describe(`TurnEventLog (${backend.name})`, () => {
    let env: BackendStore;
    let store: Store;

    beforeEach(async () => {
      env = await backend.setup();
      store = env.open();
    });

    afterEach(async () => {
      await store.close();
      await env.teardown();
    });

    it('records events by line, ignores a line recorded again, and keeps dispatches apart', async () => {
      await store.recordTurnEvents([
        { dispatchId: 'd1', line: 2, type: 'result', subtype: 'success', body: '{"type":"result"}' },
        { dispatchId: 'd1', line: 1, type: 'system', subtype: 'init', body: '{"type":"system"}' },
        { dispatchId: 'd2', line: 1, type: '(malformed)', subtype: null, body: 'not json' },
      ]);
      await store.recordTurnEvents([{ dispatchId: 'd1', line: 1, type: 'system', subtype: 'other', body: '{}' }]);
      await store.recordTurnEvents([]);
      expect(await store.turnEvents('d1')).toEqual([
        { dispatchId: 'd1', line: 1, type: 'system', subtype: 'init', body: '{"type":"system"}' },
        { dispatchId: 'd1', line: 2, type: 'result', subtype: 'success', body: '{"type":"result"}' },
      ]);
      expect(await store.turnEvents('d2')).toHaveLength(1);
      expect(await store.turnEvents('none')).toEqual([]);
    });
  });
}
