import { assign, fromCallback, setup } from 'xstate';

/** Machine id recorded with every persisted supervisor snapshot. */
export const SUPERVISOR_MACHINE_ID = 'statecrew.supervisor';
/** Bumped whenever a change makes older persisted supervisor snapshots unreadable. */
export const SUPERVISOR_MACHINE_VERSION = 1;

export interface SupervisorInput {
  readonly runtimeId: string;
  readonly pid: number;
  /** Kernel start time of the process, so a recycled pid is not taken for this runtime. */
  readonly procStartTime: string | null;
  /** ms since epoch. */
  readonly startedAt: number;
}

export interface SupervisorContext extends SupervisorInput {
  /** Unfinished actors restored from the store at start. */
  readonly restored: number;
  /** Why the runtime is draining or ended (`completed`, `SIGINT`, `SIGTERM`, `stop()`, a store failure, fenced). */
  readonly drainReason: string | null;
  /**
   * The exit code the run ends with: the one `DRAIN` asked for (0 all completed, 1 failures,
   * 130 SIGINT, 143 SIGTERM), 4 after `STORE_FAILED`, 1 after `FENCED`.
   */
  readonly exitCode: number | null;
}

export type SupervisorEvent =
  | { type: 'STORE_READY' }
  | { type: 'RESTORED'; count: number }
  | { type: 'DRAIN'; reason: string; exitCode?: number }
  | { type: 'DRAINED'; exitCode?: number }
  | { type: 'RUNTIME_GONE'; reason: string }
  | { type: 'FENCED'; reason: string }
  | { type: 'STORE_FAILED'; reason: string };

/** Input of the `heartbeat` implementation. */
export interface HeartbeatInput {
  readonly runtimeId: string;
}

/**
 * The supervisor statechart: the root actor of one runtime process, and the runtime's
 * lifecycle (the runtime keeps no flags beside it).
 *
 * `starting → restoring → running → draining → stopped`, or `fenced` (another runtime took
 * this one's actors over: stop driving them) or `failed` (`STORE_FAILED`: the store cannot be
 * used; nothing more is written, turns are killed and verified gone, exit code 4). Those two
 * are decided in memory: the store refuses or cannot take their write. While `restoring` it restores
 * every unfinished actor from the store and reconciles it with what it observes; while
 * `running` it schedules leases and dispatches; while `draining` it stops workers
 * (kill, verify, record) and releases leases. `RUNTIME_GONE` closes the record of a
 * supervisor whose process died without draining (found by a later runtime). While it is
 * not stopped it invokes `heartbeat` (callback, input {@link HeartbeatInput}), which
 * records the runtime's heartbeat in the store and sends `FENCED` when the store says this
 * runtime was declared dead and its actors taken over: the supervisor ends `fenced`, and
 * the runtime stops driving every actor without touching their processes.
 */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
  },
  actors: {
    heartbeat: fromCallback<SupervisorEvent, HeartbeatInput>(() => () => undefined),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({ ...input, restored: 0, drainReason: null, exitCode: null }),
  initial: 'starting',
  invoke: { id: 'heartbeat', src: 'heartbeat', input: ({ context }) => ({ runtimeId: context.runtimeId }) },
  on: {
    RUNTIME_GONE: { target: '.stopped', actions: assign({ drainReason: ({ event }) => event.reason }) },
    FENCED: { target: '.fenced', actions: assign({ drainReason: ({ event }) => event.reason, exitCode: 1 }) },
    STORE_FAILED: { target: '.failed', actions: assign({ drainReason: ({ event }) => event.reason, exitCode: 4 }) },
  },
  states: {
    starting: {
      on: {
        STORE_READY: { target: 'restoring' },
        DRAIN: { target: 'draining', actions: assign({ drainReason: ({ event }) => event.reason, exitCode: ({ event }) => event.exitCode ?? 130 }) },
      },
    },
    restoring: {
      on: {
        RESTORED: { target: 'running', actions: assign({ restored: ({ event }) => event.count }) },
        DRAIN: { target: 'draining', actions: assign({ drainReason: ({ event }) => event.reason, exitCode: ({ event }) => event.exitCode ?? 130 }) },
      },
    },
    running: {
      on: {
        DRAIN: { target: 'draining', actions: assign({ drainReason: ({ event }) => event.reason, exitCode: ({ event }) => event.exitCode ?? 130 }) },
      },
    },
    draining: {
      on: {
        DRAINED: { target: 'stopped', actions: assign({ exitCode: ({ event, context }) => event.exitCode ?? context.exitCode ?? 1 }) },
      },
    },
    stopped: { type: 'final' },
    fenced: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type SupervisorMachine = typeof supervisorMachine;
