import type { AnyStateMachine } from 'xstate';
import { DISPATCH_MACHINE_ID, dispatchMachine } from '../../machines/dispatch.js';
import { LEASE_MACHINE_ID, leaseMachine } from '../../machines/lease.js';
import { SUPERVISOR_MACHINE_ID, supervisorMachine } from '../../machines/supervisor.js';
import { WORKER_MACHINE_ID, workerMachine } from '../../machines/worker.js';
import { WORKSPACE_MACHINE_ID, workspaceMachine } from '../../machines/workspace.js';
import { chartFromMachine } from '../chart/model.js';
import { layoutChart } from '../chart/layout.js';
import { renderChartSvg } from '../chart/svg.js';

/** The built-in statecharts by the machine id recorded with each actor (`actors.machine_id`). */
export const BUILT_IN_MACHINES: Readonly<Record<string, AnyStateMachine>> = {
  [SUPERVISOR_MACHINE_ID]: supervisorMachine,
  [WORKER_MACHINE_ID]: workerMachine,
  [LEASE_MACHINE_ID]: leaseMachine,
  [DISPATCH_MACHINE_ID]: dispatchMachine,
  [WORKSPACE_MACHINE_ID]: workspaceMachine,
};

/** Laid-out SVG diagrams of machines by recorded machine id, computed once each (ELK layout takes tens of ms). */
export interface ChartCache {
  /** The diagram of `machineId`, or `undefined` when no machine with that id is known. */
  svg(machineId: string): Promise<string | undefined>;
}

/** @param machines machine definitions by recorded machine id (the built-in four, plus a host's own). */
export function createChartCache(machines: Readonly<Record<string, AnyStateMachine>>): ChartCache {
  const cache = new Map<string, Promise<string>>();
  return {
    svg(machineId) {
      const machine = machines[machineId];
      if (machine === undefined) return Promise.resolve(undefined);
      let svg = cache.get(machineId);
      if (svg === undefined) {
        svg = layoutChart(chartFromMachine(machine)).then((layout) => renderChartSvg(layout, { title: machineId }));
        // A failed layout is reported to this request and retried by the next one.
        void svg.then(undefined, () => {
          cache.delete(machineId);
        });
        cache.set(machineId, svg);
      }
      return svg;
    },
  };
}
