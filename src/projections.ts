import type { StateValue } from 'xstate';
import type { DispatchContext } from '../machines/dispatch.js';
import type { LeaseContext } from '../machines/lease.js';
import type { SupervisorContext } from '../machines/supervisor.js';
import type { WorkerContext } from '../machines/worker.js';
import type { WorkspaceContext } from '../machines/workspace.js';
import type { ActorKind, ActorStatus, Projection } from '../persistence/types.js';

/** The parts of a machine snapshot the write path needs. */
export interface MachineSnapshotLike {
  readonly status: 'active' | 'done' | 'error' | 'stopped';
  readonly value: StateValue;
  readonly context: unknown;
}

/** Formats a state value as a dotted path: `pending.backoff`; parallel regions joined by `,`. */
export function stateToString(value: StateValue): string {
  if (typeof value === 'string') return value;
  return Object.entries(value)
    .map(([key, child]) => (child === undefined ? key : `${key}.${stateToString(child)}`))
    .join(',');
}

/** Top-level state name: `pending.backoff` → `pending`. */
export function topState(state: string): string {
  const dot = state.indexOf('.');
  return dot === -1 ? state : state.slice(0, dot);
}

/** Status of the actor row: `done` once the machine reached a final state. */
export function actorStatus(snapshot: MachineSnapshotLike): ActorStatus {
  if (snapshot.status === 'active') return 'active';
  if (snapshot.status === 'done') return 'done';
  return 'quarantined';
}

/** What the write path stores beside a snapshot: the projection row and, for writes under a lease, the fence. */
export interface DerivedRows {
  readonly projection: Projection;
  readonly fence?: { readonly milestoneId: string; readonly fencingToken: number };
}

const FENCED_DISPATCH_STATES = new Set(['claimed', 'running', 'completed']);

/** Derives the projection row (and fence) of one actor kind from its snapshot. */
export function deriveRows(kind: ActorKind, actorId: string, snapshot: MachineSnapshotLike): DerivedRows {
  const state = topState(stateToString(snapshot.value));
  switch (kind) {
    case 'worker': {
      const c = snapshot.context as WorkerContext;
      return {
        projection: {
          kind,
          row: {
            id: actorId,
            state,
            milestoneId: c.milestoneId,
            unitId: c.turn?.unitId ?? null,
            dispatchId: c.turn?.dispatchId ?? null,
            fencingToken: c.fencingToken,
            pid: c.started?.pid ?? null,
            turns: c.turns,
          },
        },
      };
    }
    case 'lease': {
      const c = snapshot.context as LeaseContext;
      return {
        projection: {
          kind,
          row: {
            id: actorId,
            milestoneId: c.milestoneId,
            workerId: c.workerId,
            fencingToken: c.fencingToken,
            state,
            expiresAt: c.expiresAt,
          },
        },
      };
    }
    case 'dispatch': {
      const c = snapshot.context as DispatchContext;
      const fenced = c.fencingToken !== null && FENCED_DISPATCH_STATES.has(state);
      return {
        projection: {
          kind,
          row: {
            id: actorId,
            unitId: c.unitId,
            milestoneId: c.milestoneId,
            attempt: c.attempt,
            state,
            workerId: c.workerId,
            fencingToken: c.fencingToken,
            notBefore: c.notBefore,
            startedAt: c.started?.startedAt ?? null,
            endedAt: c.endedAt,
            pid: c.started?.pid ?? null,
            pgid: c.started?.pgid ?? null,
            procStartTime: c.started?.procStartTime ?? null,
            hostId: c.started?.hostId ?? null,
            logPath: c.started?.logPath ?? null,
            outcome: c.result?.kind ?? null,
            exitCode: c.result?.exitCode ?? null,
            signal: c.result?.signal ?? null,
            lastStderrLine: c.result?.lastStderrLine ?? null,
            messageId: c.messageId ?? null,
            sessionId: c.result?.sessionId ?? null,
            resumeMismatch: c.result?.resumeMismatch ?? false,
            costUsd: c.result?.costUsd ?? null,
            inputTokens: c.result?.inputTokens ?? null,
            outputTokens: c.result?.outputTokens ?? null,
            transient: c.result?.transient?.kind ?? null,
            retryAt: c.result?.transient?.resetAt ?? null,
            reason: c.endReason ?? c.result?.reason ?? null,
          },
        },
        ...(fenced && c.fencingToken !== null ? { fence: { milestoneId: c.milestoneId, fencingToken: c.fencingToken } } : {}),
      };
    }
    case 'workspace': {
      const c = snapshot.context as WorkspaceContext;
      return {
        projection: {
          kind,
          row: {
            id: actorId,
            milestoneId: c.milestoneId,
            fencingToken: c.fencingToken,
            state,
            path: c.path,
            branch: c.branch,
            base: c.base,
            baseCommit: c.baseCommit,
            head: c.head,
            mergedCommit: c.mergedCommit,
            reason: c.reason,
            fixTurnsUsed: c.fixTurnsUsed,
            fixPending: c.fix !== null && !c.fix.done,
            fix: c.fix,
          },
        },
        // A workspace acts under its milestone's lease: every write but its release is fenced, so
        // a holder whose lease passed on can record nothing more of the worktree (invariant 3).
        ...(state === 'released' ? {} : { fence: { milestoneId: c.milestoneId, fencingToken: c.fencingToken } }),
      };
    }
    case 'supervisor': {
      const c = snapshot.context as SupervisorContext;
      return {
        projection: {
          kind,
          row: { id: actorId, state, runtimeId: c.runtimeId, pid: c.pid, startedAt: c.startedAt },
        },
      };
    }
  }
}
