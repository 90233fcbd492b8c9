import { assign, fromPromise, setup } from 'xstate';
import { isTurnSuccess, type TurnResult, type TurnStarted } from './turn.js';

/** Machine id recorded with every persisted dispatch snapshot. */
export const DISPATCH_MACHINE_ID = 'statecrew.dispatch';
/** Bumped whenever a change makes older persisted dispatch snapshots unreadable. */
export const DISPATCH_MACHINE_VERSION = 1;

export interface DispatchInput {
  readonly dispatchId: string;
  readonly unitId: string;
  readonly milestoneId: string;
  /** 1-based attempt number of the unit. */
  readonly attempt: number;
  /** Earliest time (ms since epoch) the dispatch may be claimed: the retry backoff. `null`: at once. */
  readonly notBefore: number | null;
  /** The message (`statecrew send`) whose text is this turn's input, instead of the unit's own input. */
  readonly messageId?: number | null;
}

export interface DispatchContext extends DispatchInput {
  readonly workerId: string | null;
  /** Fencing token of the lease under which the dispatch was claimed. */
  readonly fencingToken: number | null;
  readonly started: TurnStarted | null;
  readonly result: TurnResult | null;
  /** Why the dispatch ended when no turn result says it (abandoned, canceled, stuck). */
  readonly endReason: string | null;
  /** ms since epoch when it reached a final state. */
  readonly endedAt: number | null;
}

export type DispatchEvent =
  | { type: 'CLAIM'; workerId: string; fencingToken: number }
  | { type: 'START'; started: TurnStarted }
  | { type: 'FINISH'; result: TurnResult }
  | { type: 'STUCK'; signature: string; result: TurnResult }
  | { type: 'ABANDON'; reason: string; at: number }
  | { type: 'CANCEL'; reason: string; at: number };

/** Input of `waitUntil`: an absolute deadline, so the timer re-arms with the remaining time after a restore. */
export interface DeadlineInput {
  /** ms since epoch. */
  readonly at: number;
}

/**
 * The dispatch statechart: one attempt at one unit.
 *
 * `pending (backoff → ready) → claimed → running → completed | failed | stuck`, or
 * `canceled`. Retries are new dispatches with a higher attempt number. The store allows
 * at most one dispatch per unit in `pending`, `claimed` or `running` (invariant 2), and
 * refuses `claimed`, `running` and `completed` writes whose fencing token is stale
 * (invariant 3).
 *
 * Implementations: `waitUntil` (promise, input {@link DeadlineInput}) resolves at the
 * deadline — the durable retry backoff.
 */
export const dispatchMachine = setup({
  types: {
    context: {} as DispatchContext,
    events: {} as DispatchEvent,
    input: {} as DispatchInput,
  },
  actors: {
    waitUntil: fromPromise<void, DeadlineInput>(() => Promise.reject(new Error('waitUntil is not provided'))),
  },
  guards: {
    succeeded: (_, params: { result: TurnResult }) => isTurnSuccess(params.result),
  },
  actions: {
    recordResult: assign((_, params: { result: TurnResult }) => ({
      result: params.result,
      endedAt: params.result.endedAt,
    })),
    recordEnd: assign((_, params: { reason: string; at: number }) => ({ endReason: params.reason, endedAt: params.at })),
  },
}).createMachine({
  id: 'dispatch',
  context: ({ input }) => ({
    ...input,
    workerId: null,
    fencingToken: null,
    started: null,
    result: null,
    endReason: null,
    endedAt: null,
  }),
  initial: 'pending',
  states: {
    pending: {
      initial: 'backoff',
      states: {
        backoff: {
          invoke: {
            id: 'backoff',
            src: 'waitUntil',
            input: ({ context }) => ({ at: context.notBefore ?? 0 }),
            onDone: { target: 'ready' },
          },
        },
        ready: {
          on: {
            CLAIM: {
              target: '#dispatch.claimed',
              actions: assign(({ event }) => ({ workerId: event.workerId, fencingToken: event.fencingToken })),
            },
          },
        },
      },
      on: {
        CANCEL: {
          target: 'canceled',
          actions: { type: 'recordEnd', params: ({ event }) => ({ reason: event.reason, at: event.at }) },
        },
      },
    },
    claimed: {
      on: {
        START: { target: 'running', actions: assign({ started: ({ event }) => event.started }) },
        FINISH: [
          {
            guard: { type: 'succeeded', params: ({ event }) => ({ result: event.result }) },
            target: 'completed',
            actions: { type: 'recordResult', params: ({ event }) => ({ result: event.result }) },
          },
          { target: 'failed', actions: { type: 'recordResult', params: ({ event }) => ({ result: event.result }) } },
        ],
        ABANDON: {
          target: 'failed',
          actions: { type: 'recordEnd', params: ({ event }) => ({ reason: event.reason, at: event.at }) },
        },
        CANCEL: {
          target: 'canceled',
          actions: { type: 'recordEnd', params: ({ event }) => ({ reason: event.reason, at: event.at }) },
        },
      },
    },
    running: {
      on: {
        FINISH: [
          {
            guard: { type: 'succeeded', params: ({ event }) => ({ result: event.result }) },
            target: 'completed',
            actions: { type: 'recordResult', params: ({ event }) => ({ result: event.result }) },
          },
          { target: 'failed', actions: { type: 'recordResult', params: ({ event }) => ({ result: event.result }) } },
        ],
        STUCK: {
          target: 'stuck',
          actions: [
            { type: 'recordResult', params: ({ event }) => ({ result: event.result }) },
            assign({ endReason: ({ event }) => `stuck: ${event.signature}` }),
          ],
        },
        ABANDON: {
          target: 'failed',
          actions: { type: 'recordEnd', params: ({ event }) => ({ reason: event.reason, at: event.at }) },
        },
        CANCEL: {
          target: 'canceled',
          actions: { type: 'recordEnd', params: ({ event }) => ({ reason: event.reason, at: event.at }) },
        },
      },
    },
    completed: { type: 'final' },
    failed: { type: 'final' },
    stuck: { type: 'final' },
    canceled: { type: 'final' },
  },
});

export type DispatchMachine = typeof dispatchMachine;
