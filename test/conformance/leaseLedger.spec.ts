import { describe, expect, it } from 'vitest';
import { useStore, type ConformanceBackend } from './backend.js';

/** The lease ledger role: claims, renewals, releases and fencing tokens (invariants 1 and 3). */
export function describeLeaseLedger(backend: ConformanceBackend): void {
  describe(`LeaseLedger (${backend.name})`, () => {
    const t = useStore(backend);

    const claim = (holderId: string, leaseId: string, now: number, milestoneId = 'm') =>
      t.store.claimLease({ milestoneId, holderId, leaseId, ttlMs: 100, now });

    it('grants a free milestone with token 1, re-grants its holder idempotently, refuses others until it expires', async () => {
      expect(await claim('w1', 'l1', 0)).toEqual({ granted: true, fencingToken: 1, expiresAt: 100 });
      expect(await claim('w1', 'l1', 10)).toEqual({ granted: true, fencingToken: 1, expiresAt: 110 });
      expect(await claim('w2', 'l2', 50)).toEqual({ granted: false, holderId: 'w1', fencingToken: 1, expiresAt: 110 });
      expect(await claim('w2', 'l2', 110)).toEqual({ granted: true, fencingToken: 2, expiresAt: 210 });
      expect(await t.store.getLease('m')).toEqual({ milestoneId: 'm', holderId: 'w2', leaseId: 'l2', fencingToken: 2, expiresAt: 210 });
    });

    it('renews only under the current token and before expiry', async () => {
      await claim('w1', 'l1', 0);
      expect(await t.store.renewLease({ milestoneId: 'm', fencingToken: 1, ttlMs: 100, now: 60 })).toEqual({ ok: true, expiresAt: 160 });
      expect(await t.store.renewLease({ milestoneId: 'm', fencingToken: 1, ttlMs: 100, now: 160 })).toEqual({ ok: false, reason: 'expired', currentToken: 1 });
      await claim('w2', 'l2', 170);
      expect(await t.store.renewLease({ milestoneId: 'm', fencingToken: 1, ttlMs: 100, now: 171 })).toEqual({ ok: false, reason: 'lost', currentToken: 2 });
      expect(await t.store.renewLease({ milestoneId: 'other', fencingToken: 1, ttlMs: 100, now: 1 })).toEqual({ ok: false, reason: 'lost', currentToken: null });
    });

    it('releases only under the current token (idempotently); a released milestone is claimed with the next token', async () => {
      await claim('w1', 'l1', 0);
      await claim('w2', 'l2', 200);
      expect(await t.store.releaseLease({ milestoneId: 'm', fencingToken: 1 })).toBe(false);
      expect(await t.store.releaseLease({ milestoneId: 'm', fencingToken: 2 })).toBe(true);
      expect(await t.store.releaseLease({ milestoneId: 'm', fencingToken: 2 })).toBe(true);
      expect(await t.store.getLease('m')).toEqual({ milestoneId: 'm', holderId: null, leaseId: null, fencingToken: 2, expiresAt: null });
      expect(await claim('w1', 'l3', 201)).toMatchObject({ granted: true, fencingToken: 3 });
    });

    it('lists the ledger by milestone; an unknown milestone has no row', async () => {
      await claim('w1', 'l1', 0, 'b');
      await claim('w2', 'l2', 0, 'a');
      expect((await t.store.listLeaseLedger()).map((entry) => [entry.milestoneId, entry.holderId])).toEqual([
        ['a', 'w2'],
        ['b', 'w1'],
      ]);
      expect(await t.store.getLease('c')).toBeUndefined();
    });

    it('gives one holder when two connections claim the same milestone at once', async () => {
      const other = t.env.open();
      try {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, k) => (k % 2 === 0 ? t.store : other).claimLease({ milestoneId: 'm', holderId: `w${k}`, leaseId: `l${k}`, ttlMs: 1_000, now: 0 })),
        );
        const granted = results.filter((result) => result.granted);
        expect(granted).toHaveLength(1);
        expect(granted[0]).toMatchObject({ fencingToken: 1 });
        expect(results.filter((result) => !result.granted).every((result) => result.fencingToken === 1)).toBe(true);
      } finally {
        await other.close();
      }
    });
  });
}
