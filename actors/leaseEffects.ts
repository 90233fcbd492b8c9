import { fromCallback, fromPromise } from 'xstate';
import type { HeldLeaseInput, LeaseEvent, LeaseInput } from '../machines/lease.js';
import { ensureError } from '../core/errors.js';
import { afterCommit } from './afterCommit.js';
import type { EffectContext } from './effectContext.js';

/** The lease statechart's effects: store-backed claim (compare-and-set), renewal and release. */
export function createLeaseEffects(effects: EffectContext) {
  return {
    claimLease: fromPromise(async ({ input, signal }: { input: LeaseInput; signal: AbortSignal }) => {
      await afterCommit(signal, effects.committed);
      return await effects.store.claimLease({
        milestoneId: input.milestoneId,
        holderId: input.workerId,
        leaseId: input.leaseId,
        ttlMs: input.ttlMs,
        now: effects.clock.now(),
      });
    }),
    holdLease: fromCallback<LeaseEvent, HeldLeaseInput>(({ input, sendBack }) => holdLease(effects, input, sendBack)),
    releaseLease: fromPromise(async ({ input, signal }: { input: HeldLeaseInput; signal: AbortSignal }) => {
      await afterCommit(signal, effects.committed);
      return { released: await effects.store.releaseLease({ milestoneId: input.milestoneId, fencingToken: input.fencingToken }) };
    }),
  };
}

/**
 * Renews a held lease at `expiresAt - 2/3·ttl`, i.e. every `ttl/3`, so two renewals may be
 * late before it expires. On start (also after a restore) it first reads the ledger: a
 * token that changed means `LOST`, an expiry in the past `EXPIRED`; otherwise renewals are
 * armed from the ledger's absolute expiry. A store failure (after the store policy's retries)
 * becomes `RENEW_FAILED` (the lease is then `lost`: the holder must stop relying on it).
 */
function holdLease(effects: EffectContext, input: HeldLeaseInput, sendBack: (event: LeaseEvent) => void): () => void {
  let timer: unknown;
  let stopped = false;
  const send = (event: LeaseEvent): void => {
    if (!stopped) sendBack(event);
  };
  const failed = (error: unknown): void => send({ type: 'RENEW_FAILED', message: ensureError(error).message });
  const arm = (expiresAt: number): void => {
    if (stopped) return;
    const delay = Math.max(0, expiresAt - (input.ttlMs * 2) / 3 - effects.clock.now());
    timer = effects.clock.setTimeout(() => void renew().catch(failed), delay);
  };
  const renew = async (): Promise<void> => {
    if (stopped) return;
    const result = await effects.store.renewLease({
      milestoneId: input.milestoneId,
      fencingToken: input.fencingToken,
      ttlMs: input.ttlMs,
      now: effects.clock.now(),
    });
    if (!result.ok) {
      send(result.reason === 'expired' ? { type: 'EXPIRED' } : { type: 'LOST', currentToken: result.currentToken });
      return;
    }
    send({ type: 'RENEWED', expiresAt: result.expiresAt });
    arm(result.expiresAt);
  };
  // Reconcile with the ledger first (after a restore the lease may have expired or been
  // taken over while no runtime ran), then arm from the ledger's own expiry.
  const reconcile = async (): Promise<void> => {
    await afterCommitOf(effects);
    const current = await effects.store.getLease(input.milestoneId);
    if (current === undefined || current.fencingToken !== input.fencingToken || current.holderId === null) {
      send({ type: 'LOST', currentToken: current?.fencingToken ?? null });
      return;
    }
    if (current.expiresAt !== null && current.expiresAt <= effects.clock.now()) {
      send({ type: 'EXPIRED' });
      return;
    }
    arm(current.expiresAt ?? input.expiresAt);
  };
  reconcile().catch(failed);
  return () => {
    stopped = true;
    effects.clock.clearTimeout(timer);
  };
}

/** Waits for the transition that entered `held` to be committed (a refused job stops this effect first). */
function afterCommitOf(effects: EffectContext): Promise<void> {
  return effects.committed();
}
