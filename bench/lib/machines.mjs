// The runtime's four statecharts with effect implementations that start no process and
// touch no timer, for benchmarks that measure the runtime itself: `idleDefinitions` for
// restoring (every invoked effect just stays pending), `populateDefinitions` for driving
// fresh actors into realistic states through the real write path.
import { fromCallback, fromPromise } from 'xstate';
import { DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION, dispatchMachine } from '../../dist/machines/dispatch.js';
import { LEASE_MACHINE_ID, LEASE_MACHINE_VERSION, leaseMachine } from '../../dist/machines/lease.js';
import { SUPERVISOR_MACHINE_ID, SUPERVISOR_MACHINE_VERSION, supervisorMachine } from '../../dist/machines/supervisor.js';
import { WORKER_MACHINE_ID, WORKER_MACHINE_VERSION, workerMachine } from '../../dist/machines/worker.js';

const pendingForever = fromPromise(() => new Promise(() => undefined));
const idleCallback = fromCallback(() => () => undefined);

function definitions(machines) {
  return {
    worker: { kind: 'worker', machine: machines.worker, machineId: WORKER_MACHINE_ID, machineVersion: WORKER_MACHINE_VERSION },
    lease: { kind: 'lease', machine: machines.lease, machineId: LEASE_MACHINE_ID, machineVersion: LEASE_MACHINE_VERSION },
    dispatch: { kind: 'dispatch', machine: machines.dispatch, machineId: DISPATCH_MACHINE_ID, machineVersion: DISPATCH_MACHINE_VERSION },
    supervisor: { kind: 'supervisor', machine: machines.supervisor, machineId: SUPERVISOR_MACHINE_ID, machineVersion: SUPERVISOR_MACHINE_VERSION },
  };
}

/** The four machines with no-op effects: invoked promises never settle, callbacks do nothing. */
export function idleMachines() {
  return {
    worker: workerMachine.provide({ actors: { prepareWorker: pendingForever, runTurn: idleCallback, stopTurn: pendingForever } }),
    lease: leaseMachine.provide({ actors: { claimLease: pendingForever, holdLease: idleCallback, releaseLease: pendingForever } }),
    dispatch: dispatchMachine.provide({ actors: { waitUntil: pendingForever } }),
    supervisor: supervisorMachine.provide({ actors: { heartbeat: idleCallback } }),
  };
}

/** ActorHost definitions of {@link idleMachines}. */
export function idleDefinitions() {
  return definitions(idleMachines());
}

/**
 * Definitions whose effects move fresh actors on without processes: workers boot at once,
 * a turn reports `TURN_STARTED` (fake evidence) when its dispatch id is in `startTurns`,
 * leases are claimed on the store's real ledger (compare-and-set), deadlines in the past
 * resolve at once and future ones never.
 * @param {import('../../dist/persistence/store.js').Store} store
 * @param {Set<string>} startTurns dispatch ids whose turns report a start
 */
export function populateDefinitions(store, startTurns) {
  return definitions({
    worker: workerMachine.provide({
      actors: {
        prepareWorker: fromPromise(async () => undefined),
        runTurn: fromCallback(({ input, sendBack }) => {
          if (startTurns.has(input.dispatchId)) {
            const startedAt = Date.now();
            const pid = 100_000 + startTurns.size;
            sendBack({
              type: 'TURN_STARTED',
              started: {
                pid,
                pgid: pid,
                procStartTime: '4242',
                startedAt,
                logPath: input.logPath,
                statusFile: `${input.logPath}.status.json`,
                deadlineAt: startedAt + input.timeoutMs,
              },
            });
          }
          return () => undefined;
        }),
        stopTurn: pendingForever,
      },
    }),
    lease: leaseMachine.provide({
      actors: {
        claimLease: fromPromise(async ({ input }) =>
          store.claimLease({ milestoneId: input.milestoneId, holderId: input.workerId, leaseId: input.leaseId, ttlMs: input.ttlMs, now: Date.now() }),
        ),
        holdLease: idleCallback,
        releaseLease: pendingForever,
      },
    }),
    dispatch: dispatchMachine.provide({
      actors: { waitUntil: fromPromise(({ input }) => (input.at <= Date.now() ? Promise.resolve() : new Promise(() => undefined))) },
    }),
    supervisor: supervisorMachine.provide({ actors: { heartbeat: idleCallback } }),
  });
}
