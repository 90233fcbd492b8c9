import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../persistence/store.js';
import type { BackendStore, ConformanceBackend } from './backend.js';

/** The plan record role: the last submitted plan. */
export function describePlanRecords(backend: ConformanceBackend): void {
  describe(`PlanRecords (${backend.name})`, () => {
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

    it('keeps the last saved plan, seen by another connection', async () => {
      expect(await store.loadPlan()).toBeUndefined();
      await store.savePlan({ file: '/a.yaml', fingerprint: 'f1', body: '{}', savedAt: 1 });
      await store.savePlan({ file: '/b.yaml', fingerprint: 'f2', body: '{"x":1}', savedAt: 2 });
      const other = env.open();
      try {
        expect(await other.loadPlan()).toEqual({ file: '/b.yaml', fingerprint: 'f2', body: '{"x":1}', savedAt: 2 });
      } finally {
        await other.close();
      }
    });
  });
}
