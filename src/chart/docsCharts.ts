import type { AnyStateMachine } from 'xstate';
import { DISPATCH_MACHINE_ID, dispatchMachine } from '../../machines/dispatch.js';
import { LEASE_MACHINE_ID, leaseMachine } from '../../machines/lease.js';
import { SUPERVISOR_MACHINE_ID, supervisorMachine } from '../../machines/supervisor.js';
import { WORKER_MACHINE_ID, workerMachine } from '../../machines/worker.js';
import { WORKSPACE_MACHINE_ID, workspaceMachine } from '../../machines/workspace.js';
import { layoutChart } from './layout.js';
import { renderChartMermaid } from './mermaid.js';
import { chartFromMachine } from './model.js';
import { renderChartSvg } from './svg.js';

/** A built-in machine by its short name, with the machine id recorded with its snapshots. */
export interface ChartedMachine {
  readonly machine: AnyStateMachine;
  readonly machineId: string;
}

/** The built-in statecharts by short name (`statecrew chart <name>`, `docs/charts/<name>.*`). */
export const CHARTED_MACHINES = {
  worker: { machine: workerMachine, machineId: WORKER_MACHINE_ID },
  lease: { machine: leaseMachine, machineId: LEASE_MACHINE_ID },
  dispatch: { machine: dispatchMachine, machineId: DISPATCH_MACHINE_ID },
  supervisor: { machine: supervisorMachine, machineId: SUPERVISOR_MACHINE_ID },
  workspace: { machine: workspaceMachine, machineId: WORKSPACE_MACHINE_ID },
} as const satisfies Record<string, ChartedMachine>;

/** Short name of a built-in machine: `worker`, `lease`, `dispatch`, `supervisor` or `workspace`. */
export type ChartedMachineName = keyof typeof CHARTED_MACHINES;

/** The short names, in the order the docs list them. */
export const CHARTED_MACHINE_NAMES = Object.keys(CHARTED_MACHINES) as ChartedMachineName[];

/** Output format of a diagram: standalone SVG, or Mermaid `stateDiagram-v2` text. */
export type ChartFormat = 'svg' | 'mermaid';

/**
 * Draws one built-in machine: SVG titled with its recorded machine id (`statecrew.worker`), or
 * Mermaid text. The same name and format always give the same text.
 */
export async function renderBuiltInChart(name: ChartedMachineName, format: ChartFormat): Promise<string> {
  const { machine, machineId } = CHARTED_MACHINES[name];
  const chart = chartFromMachine(machine);
  if (format === 'mermaid') return renderChartMermaid(chart);
  return renderChartSvg(await layoutChart(chart), { title: machineId });
}

/**
 * The checked-in diagrams of `docs/charts/`, by file name: `<name>.svg` and `<name>.mmd` for
 * each built-in machine. `npm run charts` writes them; a test asserts they are current.
 */
export async function generateDocsCharts(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const name of CHARTED_MACHINE_NAMES) {
    files.set(`${name}.svg`, await renderBuiltInChart(name, 'svg'));
    files.set(`${name}.mmd`, await renderBuiltInChart(name, 'mermaid'));
  }
  return files;
}
