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
  
    it('keeps a turn\'s log in chunks by offset, idempotent per offset, dropping the oldest beyond the cap (the tail is kept)', async () => {
      const chunk = (dispatchId: string, offset: number, text: string) => ({ dispatchId, offset, bytes: Buffer.from(text) });
      await t.store.appendTurnOutput(chunk('d1', 0, 'hello '), 100);
      await t.store.appendTurnOutput(chunk('d1', 6, 'world\n'), 100);
      await t.store.appendTurnOutput(chunk('d1', 6, 'WORLD\n'), 100);
      await t.store.appendTurnOutput(chunk('d2', 0, 'other'), 100);
      const text = (chunks: readonly { offset: number; bytes: Uint8Array }[]) => chunks.map((c) => `${c.offset}:${Buffer.from(c.bytes).toString()}`);
      expect(text(await t.store.readTurnOutput('d1'))).toEqual(['0:hello ', '6:world\n']);
      expect(text(await t.store.readTurnOutput('d1', 6))).toEqual(['6:world\n']);
      expect(text(await t.store.readTurnOutput('d1', 12))).toEqual([]);
      // The log now ends at byte 13. A cap of 7 bytes keeps 6..13: the chunk ending at 6 lies wholly before it and goes.
      await t.store.appendTurnOutput(chunk('d1', 12, 'x'), 7);
      expect(text(await t.store.readTurnOutput('d1'))).toEqual(['6:world\n', '12:x']);
      expect(text(await t.store.readTurnOutput('d2'))).toEqual(['0:other']);
      expect(await t.store.readTurnOutput('none')).toEqual([]);
    });
  });
}
