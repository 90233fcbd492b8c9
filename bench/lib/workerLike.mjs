// A small XState v5 machine shaped like statecrew's worker (machines/worker.ts) —
// `between_turns ⇄ in_turn`, with a context that changes on every event — and the event
// sequence both sides of a comparison send it. No invoked effects: the benchmarks that use
// it measure transitions and their persistence, not turn processes.
import { assign, setup } from 'xstate';

export const BENCH_WORKER_MACHINE_ID = 'bench.workerLike';

export const workerLikeMachine = setup({}).createMachine({
  id: 'workerLike',
  context: ({ input }) => ({
    workerId: input.workerId,
    milestoneId: 'milestone-1',
    leaseId: 'milestone-1@lease-1',
    fencingToken: 1,
    turn: null,
    started: null,
    lastTurn: null,
    turns: 0,
    endReason: null,
  }),
  initial: 'between_turns',
  states: {
    between_turns: {
      on: {
        ASSIGN: { target: 'in_turn', actions: assign({ turn: ({ event }) => event.turn, started: null }) },
        // The end of a worker's life (benchmark 8 finishes actors so that retention can drop them).
        FINISH: { target: 'completed', actions: assign({ endReason: 'finished' }) },
      },
    },
    completed: { type: 'final' },
    in_turn: {
      on: {
        TURN_STARTED: { actions: assign({ started: ({ event }) => event.started }) },
        TURN_ENDED: {
          target: 'between_turns',
          actions: assign(({ context, event }) => ({
            lastTurn: { dispatchId: context.turn.dispatchId, unitId: context.turn.unitId, result: event.result },
            turn: null,
            started: null,
            turns: context.turns + 1,
          })),
        },
      },
    },
  },
});

/**
 * The first `count` events of a worker's life: ASSIGN, TURN_STARTED, TURN_ENDED per turn,
 * with payloads the size of real ones (a turn assignment with argv, env, limits and paths; a
 * turn start with process evidence; a turn result). Every event changes the context.
 */
export function workerLikeEvents(count, workerId = 'worker-1') {
  const events = [];
  const t0 = 1_763_700_000_000;
  for (let turn = 0; events.length < count; turn++) {
    const unitId = `core/unit-${turn}`;
    const dispatchId = `${unitId}#1`;
    const at = t0 + turn * 1_000;
    events.push({
      type: 'ASSIGN',
      turn: {
        dispatchId,
        unitId,
        milestoneId: 'milestone-1',
        workerId,
        attempt: 1,
        fencingToken: 1,
        command: ['node', 'scripts/build.mjs', '--out', 'dist', `--unit=${turn}`],
        cwd: '/work/project',
        env: { LEVEL: '2' },
        input: null,
        timeoutMs: 600_000,
        stallTimeoutMs: 120_000,
        killGraceMs: 5_000,
        logPath: `/work/project/.statecrew/logs/core_unit-${turn}/attempt-1-1.log`,
        turnKey: `0123456789abcdef0123456789abcdef:${dispatchId}`,
        protocol: 'text',
        resumeSessionId: null,
      },
    });
    if (events.length >= count) break;
    events.push({
      type: 'TURN_STARTED',
      started: {
        pid: 20_000 + turn,
        pgid: 20_000 + turn,
        procStartTime: String(123_456 + turn),
        startedAt: at + 5,
        logPath: `/work/project/.statecrew/logs/core_unit-${turn}/attempt-1-1.log`,
        statusFile: `/work/project/.statecrew/logs/core_unit-${turn}/attempt-1-1.log.status.json`,
        deadlineAt: at + 600_005,
      },
    });
    if (events.length >= count) break;
    events.push({
      type: 'TURN_ENDED',
      result: { kind: 'exited', exitCode: 0, signal: null, endedAt: at + 90, reason: 'exit code 0', lastStderrLine: null, lastActivityAt: at + 80 },
    });
  }
  return events;
}
