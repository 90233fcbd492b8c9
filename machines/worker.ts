import { assign, fromCallback, fromPromise, setup } from 'xstate';
import type { TurnAssignment, TurnResult, TurnStarted } from './turn.js';

/** Machine id recorded with every persisted worker snapshot. */
export const WORKER_MACHINE_ID = 'statecrew.worker';
/** Bumped whenever a change makes older persisted worker snapshots unreadable. */
export const WORKER_MACHINE_VERSION = 1;

export interface WorkerInput {
  readonly workerId: string;
}

export interface WorkerContext {
  readonly workerId: string;
  /** Milestone whose lease this worker holds, with the lease's fencing token. */
  readonly milestoneId: string | null;
  readonly leaseId: string | null;
  readonly fencingToken: number | null;
  /** The turn being run (set in `in_turn`). */
  readonly turn: TurnAssignment | null;
  /** Evidence of the running turn's process (pid, pgid, start time). */
  readonly started: TurnStarted | null;
  /** The last finished turn, kept until the dispatch has recorded it. */
  readonly lastTurn: { readonly dispatchId: string; readonly unitId: string; readonly result: TurnResult } | null;
  /** Number of turns run. */
  readonly turns: number;
  /** Why the worker ended as `zombie` or `stopped`. */
  readonly endReason: string | null;
}

export type WorkerEvent =
  | { type: 'LEASE_GRANTED'; milestoneId: string; leaseId: string; fencingToken: number }
  | { type: 'LEASE_ENDED'; leaseId: string }
  | { type: 'ASSIGN'; turn: TurnAssignment }
  | { type: 'TURN_STARTED'; started: TurnStarted }
  | { type: 'TURN_ENDED'; result: TurnResult }
  | { type: 'TURN_ERROR'; message: string }
  | { type: 'FINISH' }
  | { type: 'STOP'; reason: string };

/** Input of the `stopTurn` implementation: kill the turn's process group and verify it is gone. */
export interface StopTurnInput {
  readonly started: TurnStarted | null;
  readonly killGraceMs: number;
}

/** Output of `stopTurn`: when the group was verified gone (ms since epoch). */
export interface StopTurnOutput {
  readonly endedAt: number;
}

/**
 * The worker statechart: one agent worker run spawn-per-turn.
 *
 * `booting → between_turns ⇄ in_turn`, ending in `completed` (no work left), `zombie`
 * (a turn was lost: stall, runner failure, a kill that could not be verified) or
 * `stopping → stopped` (operator or runtime stop). A worker leaves `in_turn` for a final
 * state only after the turn's process group is verified gone (invariant 4): `runTurn`
 * reports `TURN_ENDED` only after kill-verify, and `stopTurn` resolves only after it.
 *
 * Implementations (provided by the runtime with `machine.provide`):
 * - `prepareWorker` (promise, input `{ workerId }`): readies the worker (log folder).
 * - `runTurn` (callback, input {@link TurnAssignment}): runs the turn; sends
 *   `TURN_STARTED`, then `TURN_ENDED` or `TURN_ERROR`. Restarted with the same input after
 *   a restore, so it must consult recorded evidence instead of spawning twice.
 * - `stopTurn` (promise, input {@link StopTurnInput}): kill-verify of the turn's group.
 */
export const workerMachine = setup({
  types: {
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
    input: {} as WorkerInput,
  },
  actors: {
    prepareWorker: fromPromise<void, { workerId: string }>(() => Promise.reject(new Error('prepareWorker is not provided'))),
    runTurn: fromCallback<WorkerEvent, TurnAssignment>(({ sendBack }) => {
      sendBack({ type: 'TURN_ERROR', message: 'runTurn is not provided' });
    }),
    stopTurn: fromPromise<StopTurnOutput, StopTurnInput>(() => Promise.reject(new Error('stopTurn is not provided'))),
  },
  guards: {
    holdsLeaseFor: ({ context }, params: { turn: TurnAssignment }) =>
      context.milestoneId === params.turn.milestoneId && context.fencingToken === params.turn.fencingToken,
    isOwnLease: ({ context }, params: { leaseId: string }) => context.leaseId === params.leaseId,
    turnWasLost: (_, params: { result: TurnResult }) => params.result.kind === 'stalled',
  },
  actions: {
    recordTurnEnd: assign(({ context }, params: { result: TurnResult }) => ({
      lastTurn:
        context.turn === null
          ? context.lastTurn
          : { dispatchId: context.turn.dispatchId, unitId: context.turn.unitId, result: params.result },
      turn: null,
      started: null,
      turns: context.turns + 1,
    })),
  },
}).createMachine({
  id: 'worker',
  context: ({ input }) => ({
    workerId: input.workerId,
    milestoneId: null,
    leaseId: null,
    fencingToken: null,
    turn: null,
    started: null,
    lastTurn: null,
    turns: 0,
    endReason: null,
  }),
  initial: 'booting',
  states: {
    booting: {
      invoke: {
        id: 'prepare',
        src: 'prepareWorker',
        input: ({ context }) => ({ workerId: context.workerId }),
        onDone: { target: 'between_turns' },
        onError: {
          target: 'zombie',
          actions: assign({ endReason: ({ event }) => `boot failed: ${String(event.error)}` }),
        },
      },
      on: {
        STOP: { target: 'stopped', actions: assign({ endReason: ({ event }) => event.reason }) },
      },
    },
    between_turns: {
      on: {
        LEASE_GRANTED: {
          actions: assign(({ event }) => ({
            milestoneId: event.milestoneId,
            leaseId: event.leaseId,
            fencingToken: event.fencingToken,
          })),
        },
        LEASE_ENDED: {
          guard: { type: 'isOwnLease', params: ({ event }) => ({ leaseId: event.leaseId }) },
          actions: assign({ milestoneId: null, leaseId: null, fencingToken: null }),
        },
        ASSIGN: {
          guard: { type: 'holdsLeaseFor', params: ({ event }) => ({ turn: event.turn }) },
          target: 'in_turn',
          actions: assign({ turn: ({ event }) => event.turn, started: null }),
        },
        FINISH: { target: 'completed' },
        STOP: { target: 'stopping', actions: assign({ endReason: ({ event }) => event.reason }) },
      },
    },
    in_turn: {
      invoke: {
        id: 'turn',
        src: 'runTurn',
        input: ({ context }) => {
          if (context.turn === null) throw new Error('in_turn entered without a turn');
          return context.turn;
        },
      },
      on: {
        TURN_STARTED: { actions: assign({ started: ({ event }) => event.started }) },
        TURN_ENDED: [
          {
            guard: { type: 'turnWasLost', params: ({ event }) => ({ result: event.result }) },
            target: 'zombie',
            actions: [
              { type: 'recordTurnEnd', params: ({ event }) => ({ result: event.result }) },
              assign({ endReason: ({ event }) => `turn lost: ${event.result.reason}` }),
            ],
          },
          {
            target: 'between_turns',
            actions: { type: 'recordTurnEnd', params: ({ event }) => ({ result: event.result }) },
          },
        ],
        TURN_ERROR: {
          target: 'zombie',
          actions: assign({ endReason: ({ event }) => `turn runner failed: ${event.message}` }),
        },
        STOP: { target: 'stopping', actions: assign({ endReason: ({ event }) => event.reason }) },
      },
    },
    stopping: {
      invoke: {
        id: 'stop',
        src: 'stopTurn',
        input: ({ context }) => ({ started: context.started, killGraceMs: context.turn?.killGraceMs ?? 5_000 }),
        onDone: {
          target: 'stopped',
          actions: assign(({ context, event }) => ({
            lastTurn:
              context.turn === null
                ? context.lastTurn
                : {
                    dispatchId: context.turn.dispatchId,
                    unitId: context.turn.unitId,
                    result: stoppedResult(context.endReason ?? 'stopped', event.output.endedAt),
                  },
            turn: null,
            started: null,
          })),
        },
        onError: {
          target: 'zombie',
          actions: assign({ endReason: ({ event }) => `stop failed: ${String(event.error)}` }),
        },
      },
    },
    completed: { type: 'final' },
    zombie: { type: 'final' },
    stopped: { type: 'final' },
  },
});

function stoppedResult(reason: string, endedAt: number): TurnResult {
  return {
    kind: 'stopped',
    exitCode: null,
    signal: null,
    endedAt,
    reason: `stopped: ${reason}`,
    lastStderrLine: null,
  };
}

export type WorkerMachine = typeof workerMachine;
