import type { WorkerContext } from '../machines/worker.js';
import type { SchedulerView, Store } from '../persistence/store.js';
import type { ActorHost } from './actorHost.js';
import type { PersistedTransition } from './actorHost.js';

/** Keys of the durable operator switches in the store's `controls` table. */
export const CONTROL = {
  /** Present while `statecrew pause` is in force: no new turn starts. */
  paused: 'paused',
  /** Set by `statecrew stop` (no `--worker`): every runtime started before it drains. */
  stop: 'stop',
} as const;

/**
 * The runtime's side of operator control across processes (`statecrew stop`, `pause`,
 * `resume`, `cancel`): on every poll it looks at the store's command queue and switches,
 * takes the commands whose target it owns (compare-and-set), acts, and records the outcome
 * when the target's statechart says it is done.
 */
export class OperatorCommands {
  /** worker id → command id, for `stop --worker` commands in progress. */
  private readonly stopping = new Map<string, number>();

  constructor(
    private readonly deps: {
      readonly store: Store;
      readonly host: ActorHost;
      readonly runtimeId: string;
      readonly startedAt: number;
      readonly now: () => number;
      /** Drains the runtime: `statecrew stop` without `--worker`. */
      readonly stopRuntime: (reason: string) => void;
      /** Runs a store call nobody awaits, its failure routed to the runtime's failure path. */
      readonly background: (operation: string, call: Promise<unknown>) => void;
    },
  ) {}

  /**
   * Picks up what the operator asked since the last poll, from the rows a scheduler view read
   * (`controls`, `commands`): one store call per command this runtime takes.
   */
  async poll(view: Pick<SchedulerView, 'controls' | 'commands'>): Promise<void> {
    const { store, host } = this.deps;
    const stop = view.controls.get(CONTROL.stop);
    if (stop !== undefined && stop.updatedAt >= this.deps.startedAt) this.deps.stopRuntime('stopped by operator');
    for (const command of view.commands) {
      if (command.kind !== 'stop' || command.target === null || command.takenBy !== null) continue;
      const worker = host.get(command.target);
      if (worker === undefined || worker.kind !== 'worker' || worker.ended) continue;
      if (!(await store.takeCommand(command.id, this.deps.runtimeId))) continue;
      if (worker.ended) {
        // It ended while the command was being taken: nothing is left to stop.
        this.deps.background('completeCommand', store.completeCommand(command.id, 'done', `worker ${worker.id} had already ended (${worker.state})`, this.deps.now()));
        continue;
      }
      this.stopping.set(worker.id, command.id);
      host.send(worker.id, { type: 'STOP', reason: 'stopped by operator' });
    }
  }

  /** Records the outcome of a `stop --worker` once the worker reached a final state. */
  onTransition(transition: PersistedTransition): void {
    if (transition.kind !== 'worker' || !transition.done) return;
    const command = this.stopping.get(transition.actorId);
    if (command === undefined) return;
    this.stopping.delete(transition.actorId);
    const context = transition.context as WorkerContext;
    const turn = context.lastTurn?.result.kind === 'stopped' ? context.lastTurn : null;
    const message =
      transition.to === 'stopped'
        ? `worker ${transition.actorId} stopped${turn === null ? ' (it was between turns)' : `: the turn of ${turn.unitId} was killed and verified gone; ${turn.unitId} is pending again, without using an attempt`}`
        : `worker ${transition.actorId} ended ${transition.to}: ${context.endReason ?? ''}`;
    this.deps.background('completeCommand', this.deps.store.completeCommand(command, 'done', message, this.deps.now()));
  }
}
