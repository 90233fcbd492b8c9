import { describe, expect, it } from 'vitest';
import { workerWrite, useStore, type ConformanceBackend } from './backend.js';

/** The runtime registry role: heartbeats, clean stops, compare-and-set takeover, adoption. */
export function describeRuntimeRegistry(backend: ConformanceBackend): void {
  describe(`RuntimeRegistry (${backend.name})`, () => {
    const t = useStore(backend);

    const register = (id: string, now = 0) => t.store.registerRuntime({ id, host: 'host-a', hostId: 'machine-a/boot-1/pid:4026531836', pid: 100, procStartTime: '77', now, ttlMs: 30, turnGraceMs: 41_250 });

    it('registers a runtime running, records heartbeats, and stops it cleanly once', async () => {
      await register('r1', 5);
      expect(await t.store.listRuntimes()).toEqual([
        { id: 'r1', host: 'host-a', hostId: 'machine-a/boot-1/pid:4026531836', pid: 100, procStartTime: '77', startedAt: 5, heartbeatAt: 5, ttlMs: 30, turnGraceMs: 41_250, state: 'running', endedAt: null, endReason: null },
      ]);
      expect(await t.store.heartbeatRuntime('r1', 20)).toBe(true);
      expect((await t.store.listRuntimes())[0]).toMatchObject({ heartbeatAt: 20 });
      await t.store.stopRuntime('r1', 25, 'completed');
      await t.store.stopRuntime('r1', 26, 'again');
      expect((await t.store.listRuntimes())[0]).toMatchObject({ state: 'stopped', endedAt: 25, endReason: 'completed' });
      expect(await t.store.heartbeatRuntime('r1', 30), 'a stopped runtime beats no more').toBe(false);
    });

    it('takes a dead runtime over by compare-and-set on its last heartbeat, moving its active actors', async () => {
      await register('r1');
      await register('r2');
      await t.store.commitJob([workerWrite('w1', 1, 'booting', { owner: 'r1' }), workerWrite('w2', 1, 'completed', { owner: 'r1', status: 'done' })]);
      await t.store.heartbeatRuntime('r1', 10);
      expect(await t.store.takeOverRuntime({ deadId: 'r1', heartbeatAt: 0, takerId: 'r2', now: 50, reason: 'stale read' }), 'it beat since').toBeNull();
      expect(await t.store.takeOverRuntime({ deadId: 'r1', heartbeatAt: 10, takerId: 'r2', now: 50, reason: 'gone' })).toEqual(['w1']);
      expect(await t.store.takeOverRuntime({ deadId: 'r1', heartbeatAt: 10, takerId: 'r3', now: 51, reason: 'late' }), 'only once').toBeNull();
      expect((await t.store.listRuntimes()).find((runtime) => runtime.id === 'r1')).toMatchObject({ state: 'dead', endReason: 'gone', endedAt: 50 });
      expect(await t.store.heartbeatRuntime('r1', 60), 'a dead runtime is told so').toBe(false);
      expect((await t.store.getActor('w1'))?.owner).toBe('r2');
      expect((await t.store.getActor('w2'))?.owner, 'finished actors stay').toBe('r1');
    });

    it('adopts active actors that no running runtime owns', async () => {
      await register('r1');
      await register('r2');
      await t.store.commitJob([workerWrite('w0', 1, 'booting'), workerWrite('w1', 1, 'booting', { owner: 'r1' }), workerWrite('w2', 1, 'booting', { owner: 'r2' })]);
      await t.store.stopRuntime('r1', 5, 'ended');
      expect((await t.store.adoptUnownedActors('r2')).sort()).toEqual(['w0', 'w1']);
      expect(await t.store.adoptUnownedActors('r2')).toEqual([]);
    });

    it('gives a dead runtime to exactly one of two connections taking it over at once', async () => {
      await register('r1');
      await t.store.commitJob([workerWrite('w1', 1, 'booting', { owner: 'r1' })]);
      const other = t.env.open();
      try {
        const results = await Promise.all([
          t.store.takeOverRuntime({ deadId: 'r1', heartbeatAt: 0, takerId: 'r2', now: 50, reason: 'a' }),
          other.takeOverRuntime({ deadId: 'r1', heartbeatAt: 0, takerId: 'r3', now: 50, reason: 'b' }),
        ]);
        expect(results.filter((ids) => ids !== null)).toEqual([['w1']]);
      } finally {
        await other.close();
      }
    });
  });
}
