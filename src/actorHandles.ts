import type { DispatchContext } from '../machines/dispatch.js';
import type { LeaseContext } from '../machines/lease.js';
import type { SupervisorContext } from '../machines/supervisor.js';
import type { WorkerContext } from '../machines/worker.js';
import type { WorkspaceContext } from '../machines/workspace.js';
import type { ActorKind } from '../persistence/types.js';
import type { ActorHost, HostedActor } from './actorHost.js';

/** The context type of each actor kind's statechart. */
export interface ContextOf {
  readonly supervisor: SupervisorContext;
  readonly worker: WorkerContext;
  readonly lease: LeaseContext;
  readonly dispatch: DispatchContext;
  readonly workspace: WorkspaceContext;
}

/** A hosted actor of a known kind, read through its own statechart's context type. */
export interface ActorHandle<K extends ActorKind> {
  readonly id: string;
  readonly kind: K;
  /** Current state as a dotted path (the last staged one). */
  readonly state: string;
  readonly ended: boolean;
  /** The actor's current context. */
  readonly context: ContextOf[K];
}

/**
 * The typed handle of `hosted` when it is of kind `kind`, else `undefined`. The host runs the
 * machine of each kind (`machineDefinitions`), so the kind decides the context's type: this is
 * the one place that reads a context as such.
 */
export function handleOf<K extends ActorKind>(hosted: HostedActor | undefined, kind: K): ActorHandle<K> | undefined {
  if (hosted?.kind !== kind) return undefined;
  return {
    id: hosted.id,
    kind,
    state: hosted.state,
    ended: hosted.ended,
    context: hosted.actor.getSnapshot().context as ContextOf[K],
  };
}

/** Every hosted actor of `kind` (ended ones included), as typed handles, in creation order. */
export function handlesOf<K extends ActorKind>(host: ActorHost, kind: K): ActorHandle<K>[] {
  return host.list(kind).flatMap((hosted) => {
    const handle = handleOf(hosted, kind);
    return handle === undefined ? [] : [handle];
  });
}
