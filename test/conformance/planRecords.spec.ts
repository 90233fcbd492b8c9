import { describe, expect, it } from 'vitest';
import { useStore, type ConformanceBackend } from './backend.js';

/** The plan record role: the last submitted plan. */
export function describePlanRecords(backend: ConformanceBackend): void {
  describe(`PlanRecords (${backend.name})`, () => {
    const t = useStore(backend);

    it('keeps the last saved plan, seen by another connection', async () => {
      expect(await t.store.loadPlan()).toBeUndefined();
      await t.store.savePlan({ file: '/a.yaml', fingerprint: 'f1', body: '{}', savedAt: 1 });
      await t.store.savePlan({ file: '/b.yaml', fingerprint: 'f2', body: '{"x":1}', savedAt: 2 });
      const other = t.env.open();
      try {
        expect(await other.loadPlan()).toEqual({ file: '/b.yaml', fingerprint: 'f2', body: '{"x":1}', savedAt: 2 });
      } finally {
        await other.close();
      }
    });
  });
}
