import type { LeaseClaimResult, LeaseLedgerEntry, LeaseRenewResult } from '../types.js';

/**
 * The lease ledger role: one row per milestone saying who holds it, under which fencing token
 * and until when (invariants 1 and 3). Every change is a compare-and-set. Times are ms since
 * the Unix epoch; TTLs in ms.
 */
export interface LeaseLedger {
  /**
   * Grants the milestone to `holderId` when it is free, expired (`expiresAt <= now`) or already
   * held by `holderId` under `leaseId` (idempotent), incrementing the fencing token for every
   * new holder.
   */
  claimLease(request: { milestoneId: string; holderId: string; leaseId: string; ttlMs: number; now: number }): Promise<LeaseClaimResult>;
  /** Extends the lease to `now + ttlMs` if `fencingToken` is still current and not expired. */
  renewLease(request: { milestoneId: string; fencingToken: number; ttlMs: number; now: number }): Promise<LeaseRenewResult>;
  /** Frees the milestone if `fencingToken` is still current (idempotent); `false` when it was stale. */
  releaseLease(request: { milestoneId: string; fencingToken: number }): Promise<boolean>;
  getLease(milestoneId: string): Promise<LeaseLedgerEntry | undefined>;
  /** Every row of the ledger, by milestone id. */
  listLeaseLedger(): Promise<LeaseLedgerEntry[]>;
}
