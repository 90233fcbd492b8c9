import { describe, expect, it } from 'vitest';
import { useStore, type ConformanceBackend } from './backend.js';

/** The trace context role: one traceparent per subject, the first writer's, across connections. */
export function describeTraceContexts(backend: ConformanceBackend): void {
  describe(`TraceContexts (${backend.name})`, () => {
    const t = useStore(backend);
    const parent = (n: number) => `00-${String(n).padStart(32, '0')}-${String(n).padStart(16, '0')}-01`;

    it('keeps the first traceparent of a subject and gives it to every later writer', async () => {
      expect(await t.store.loadTraceContext('unit:m/u')).toBeUndefined();
      expect(await t.store.saveTraceContext('unit:m/u', parent(1), 1)).toBe(parent(1));
      expect(await t.store.saveTraceContext('unit:m/u', parent(2), 2)).toBe(parent(1));
      expect(await t.store.loadTraceContext('unit:m/u')).toBe(parent(1));
      expect(await t.store.saveTraceContext('unit:m/v', parent(3), 3)).toBe(parent(3));
    });

    it('gives two connections racing for a subject the same traceparent', async () => {
      const other = t.env.open();
      try {
        const kept = await Promise.all(Array.from({ length: 10 }, (_, k) => (k % 2 === 0 ? t.store : other).saveTraceContext('unit:race', parent(k + 1), k)));
        expect(new Set(kept).size).toBe(1);
        expect(await other.loadTraceContext('unit:race')).toBe(kept[0]);
      } finally {
        await other.close();
      }
    });
  });
}
