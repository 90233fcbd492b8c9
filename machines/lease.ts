import { assign, fromCallback, fromPromise, setup } from 'xstate';

/** Machine id recorded with every persisted lease snapshot. */
export const LEASE_MACHINE_ID = 'statecrew.lease';
/** Bumped whenever a change makes older persisted lease snapshots unreadable. */
export const LEASE_MACHINE_VERSION = 1;

export interface LeaseInput {
  readonly leaseId: string;
  readonly milestoneId: string;
  readonly workerId: string;
  /** Time to live of the lease, in ms; renewed by the holder before it runs out. */
  readonly ttlMs: number;
}

export interface LeaseContext extends LeaseInput {
  /** Token of this holder, strictly greater than every earlier holder's; `null` until granted. */
  readonly fencingToken: number | null;
  /** Absolute expiry (ms since epoch) as last written to the store. */
  readonly expiresAt: number | null;
  readonly renewals: number;
  /** Why the lease ended (refused, lost, expired, released). */
  readonly endReason: string | null;
}

/** Output of `claimLease`: the store's compare-and-set answer. */
export type LeaseClaimOutput =
  | { readonly granted: true; readonly fencingToken: number; readonly expiresAt: number }
  | { readonly granted: false; readonly holderId: string | null; readonly fencingToken: number; readonly expiresAt: number | null };

/** Output of `releaseLease`: `released` false when the token was already stale. */
export interface LeaseReleaseOutput {
  readonly released: boolean;
}

/** Input of `holdLease` and `releaseLease`. */
export interface HeldLeaseInput {
  readonly leaseId: string;
  readonly milestoneId: string;
  readonly fencingToken: number;
  readonly ttlMs: number;
  readonly expiresAt: number;
}

export type LeaseEvent =
  | { type: 'RENEWED'; expiresAt: number }
  | { type: 'LOST'; currentToken: number | null }
  | { type: 'EXPIRED' }
  | { type: 'RENEW_FAILED'; message: string }
  | { type: 'RELEASE'; reason: string };

/**
 * The milestone lease statechart: one worker's claim on one milestone.
 *
 * `claiming → held ⟲ (renewals) → releasing → released`, or `refused` (another holder has
 * it), `expired` (the TTL ran out before a renewal) or `lost` (a newer fencing token took
 * it over). Exclusivity is decided by the store (a compare-and-set on the lease ledger that
 * increments the fencing token), never in memory; the machine records what it was told.
 *
 * Implementations (provided by the runtime):
 * - `claimLease` (promise, input {@link LeaseInput}) → {@link LeaseClaimOutput}.
 * - `holdLease` (callback, input {@link HeldLeaseInput}): renews before expiry; sends
 *   `RENEWED`, `LOST`, `EXPIRED` or `RENEW_FAILED`. Its deadline is absolute, so it re-arms after a restore.
 * - `releaseLease` (promise, input {@link HeldLeaseInput}) → {@link LeaseReleaseOutput}.
 */
export const leaseMachine = setup({
  types: {
    context: {} as LeaseContext,
    events: {} as LeaseEvent,
    input: {} as LeaseInput,
  },
  actors: {
    claimLease: fromPromise<LeaseClaimOutput, LeaseInput>(() => Promise.reject(new Error('claimLease is not provided'))),
    holdLease: fromCallback<LeaseEvent, HeldLeaseInput>(({ sendBack }) => {
      sendBack({ type: 'EXPIRED' });
    }),
    releaseLease: fromPromise<LeaseReleaseOutput, HeldLeaseInput>(() => Promise.reject(new Error('releaseLease is not provided'))),
  },
  guards: {
    granted: (_, params: { output: LeaseClaimOutput }) => params.output.granted,
    released: (_, params: { output: LeaseReleaseOutput }) => params.output.released,
  },
}).createMachine({
  id: 'lease',
  context: ({ input }) => ({
    ...input,
    fencingToken: null,
    expiresAt: null,
    renewals: 0,
    endReason: null,
  }),
  initial: 'claiming',
  states: {
    claiming: {
      invoke: {
        id: 'claim',
        src: 'claimLease',
        input: ({ context }) => ({
          leaseId: context.leaseId,
          milestoneId: context.milestoneId,
          workerId: context.workerId,
          ttlMs: context.ttlMs,
        }),
        onDone: [
          {
            guard: { type: 'granted', params: ({ event }) => ({ output: event.output }) },
            target: 'held',
            actions: assign(({ event }) =>
              event.output.granted ? { fencingToken: event.output.fencingToken, expiresAt: event.output.expiresAt } : {},
            ),
          },
          {
            target: 'refused',
            actions: assign({
              endReason: ({ event }) =>
                event.output.granted
                  ? null
                  : `held by ${event.output.holderId ?? 'nobody'} with fencing token ${event.output.fencingToken}`,
            }),
          },
        ],
        onError: {
          target: 'refused',
          actions: assign({ endReason: ({ event }) => `claim failed: ${String(event.error)}` }),
        },
      },
    },
    held: {
      invoke: {
        id: 'hold',
        src: 'holdLease',
        input: ({ context }) => heldInput(context),
        onError: {
          target: 'lost',
          actions: assign({ endReason: ({ event }) => `renewal failed: ${String(event.error)}` }),
        },
      },
      on: {
        RENEWED: {
          actions: assign(({ context, event }) => ({ expiresAt: event.expiresAt, renewals: context.renewals + 1 })),
        },
        LOST: {
          target: 'lost',
          actions: assign({ endReason: ({ event }) => `taken over with fencing token ${event.currentToken ?? 'none'}` }),
        },
        RENEW_FAILED: {
          target: 'lost',
          actions: assign({ endReason: ({ event }) => `renewal failed: ${event.message}` }),
        },
        EXPIRED: { target: 'expired', actions: assign({ endReason: 'not renewed before its TTL ran out' }) },
        RELEASE: { target: 'releasing', actions: assign({ endReason: ({ event }) => event.reason }) },
      },
    },
    releasing: {
      invoke: {
        id: 'release',
        src: 'releaseLease',
        input: ({ context }) => heldInput(context),
        onDone: [
          { guard: { type: 'released', params: ({ event }) => ({ output: event.output }) }, target: 'released' },
          { target: 'lost', actions: assign({ endReason: 'taken over before it was released' }) },
        ],
        onError: {
          target: 'lost',
          actions: assign({ endReason: ({ event }) => `release failed: ${String(event.error)}` }),
        },
      },
    },
    released: { type: 'final' },
    refused: { type: 'final' },
    expired: { type: 'final' },
    lost: { type: 'final' },
  },
});

function heldInput(context: LeaseContext): HeldLeaseInput {
  if (context.fencingToken === null || context.expiresAt === null) {
    throw new Error(`lease ${context.leaseId} is held without a fencing token`);
  }
  return {
    leaseId: context.leaseId,
    milestoneId: context.milestoneId,
    fencingToken: context.fencingToken,
    ttlMs: context.ttlMs,
    expiresAt: context.expiresAt,
  };
}

export type LeaseMachine = typeof leaseMachine;
