import { and, assign, fromPromise, not, setup } from 'xstate';

/** Machine id recorded with every persisted workspace snapshot. */
export const WORKSPACE_MACHINE_ID = 'statecrew.workspace';
/** Bumped whenever a change makes older persisted workspace snapshots unreadable. */
export const WORKSPACE_MACHINE_VERSION = 1;

/** How the branch lands on the base (see `actors/merge.ts`). */
export type WorkspaceMergeMode = 'merge' | 'squash' | 'rebase';

export interface WorkspaceInput {
  readonly workspaceId: string;
  readonly milestoneId: string;
  /** The milestone lease this workspace works under; its writes carry the lease's fencing token. */
  readonly leaseId: string;
  readonly fencingToken: number;
  /** Absolute path of the repository. */
  readonly repo: string;
  /** Branch the milestone starts from and merges into. */
  readonly base: string;
  /** The milestone's branch. */
  readonly branch: string;
  /** Absolute path of the worktree. */
  readonly path: string;
  /** Folder of every workspace of the store (`path`'s parent). */
  readonly root: string;
  readonly mergeMode: WorkspaceMergeMode;
  /** Agent turns allowed to fix a failing check or a merge conflict, across the milestone's workspaces. */
  readonly fixTurns: number;
  readonly deleteBranch: boolean;
  /** Author and committer of statecrew's commits. */
  readonly author: { readonly name: string; readonly email: string };
  /** The base commit an earlier workspace of the milestone recorded; `null` for the milestone's first. */
  readonly baseCommit: string | null;
  /** Fix turns the milestone's earlier workspaces used. */
  readonly fixTurnsUsed: number;
  /** The fix turn an earlier workspace of the milestone asked for, carried over (done or not). @default none */
  readonly fix?: WorkspaceFix | null;
}

/** A fix turn the milestone's last unit is to run: the failing check's output or the conflict, as the turn's input. */
export interface WorkspaceFix {
  /** The check dispatch that failed, or `conflict-<n>`. */
  readonly id: string;
  readonly kind: 'check' | 'conflict';
  readonly input: string;
  /** The fix turn completed and was committed. */
  readonly done: boolean;
}

export interface WorkspaceContext extends Omit<WorkspaceInput, 'fix'> {
  /** The branch head as last recorded: every completed unit's work is committed up to it. */
  readonly head: string | null;
  /** Dispatches whose work was committed (completed) or saved on a side ref and reset (failed, lost). */
  readonly handled: readonly string[];
  readonly fix: WorkspaceFix | null;
  /** The merge lease held for the merge in progress. */
  readonly mergeLease: { readonly leaseId: string; readonly fencingToken: number } | null;
  /** The base's head once it contains the milestone's work. */
  readonly mergedCommit: string | null;
  /** Why it ended in `check_failed`, `conflict`, `failed` or `released`. */
  readonly reason: string | null;
  /** The attempt being recorded (in `recording`). */
  readonly pending: WorkspaceRecord | null;
  /** Side refs holding the work of failed or lost attempts, for a person to look at. */
  readonly savedRefs: readonly string[];
}

/** What the scheduler asks the workspace to record after one attempt ended. */
export interface WorkspaceRecord {
  readonly dispatchId: string;
  readonly unitId: string;
  readonly attempt: number;
  /**
   * `commit`: a unit completed; its work becomes a commit. `save`: it failed or was lost; its
   * changes go to a side ref and the worktree is reset to `head`. `check-passed` /
   * `check-failed`: the check ran (whatever it left is saved and reset as for `save`).
   */
  readonly outcome: 'commit' | 'save' | 'check-passed' | 'check-failed';
  /** The check turn's log (its output becomes the fix turn's input). */
  readonly logPath: string | null;
  /** The check's command, for the fix turn's input and the failure reason. */
  readonly command: readonly string[] | null;
  /** The attempt was a fix turn: for a failed check or a merge conflict. @default not one */
  readonly fix?: 'check' | 'conflict' | null;
}

export type WorkspaceEvent =
  | { type: 'RECORD'; record: WorkspaceRecord }
  | { type: 'MERGE' }
  | { type: 'MERGE_LEASE'; leaseId: string; fencingToken: number }
  | { type: 'RELEASE'; reason: string };

/** Output of `prepareWorkspace`. */
export interface PreparedOutput {
  readonly baseCommit: string;
  readonly head: string;
  readonly savedRef: string | null;
}

/** Output of `recordAttempt`. */
export interface RecordedOutput {
  readonly head: string;
  readonly savedRef: string | null;
  /** For a failed check: its last lines (at most 200), as the fix turn's input. */
  readonly checkOutput: string | null;
}

/** Output of `mergeWorkspace` (see `MergeOutcome` in `actors/merge.ts`). */
export type MergedOutput =
  | { readonly kind: 'merged'; readonly commit: string; readonly already: boolean }
  | { readonly kind: 'conflict'; readonly files: readonly string[]; readonly hunks: string; readonly baseHead: string }
  | { readonly kind: 'blocked'; readonly reason: string }
  | { readonly kind: 'fenced' };

/** Input of `recordAttempt`. */
export interface RecordInput {
  readonly context: WorkspaceContext;
  readonly record: WorkspaceRecord;
}

/** Input of `mergeWorkspace` and `holdConflict`. */
export interface MergeInput {
  readonly context: WorkspaceContext;
  readonly mergeLease: { readonly leaseId: string; readonly fencingToken: number };
}

/** Output of `holdConflict`: the worktree now holds the conflict (the base merged in, conflict markers in the files). */
export interface ConflictHeld {
  readonly files: readonly string[];
  readonly hunks: string;
}

/** Fix turns' input: the check's command and its last lines. */
function checkFixInput(record: WorkspaceRecord | null, output: string): string {
  return `The check \`${(record?.command ?? []).join(' ')}\` failed after your changes. Its last lines:\n\n${output}\n\nFix the code so that the check passes.`;
}

/**
 * The workspace statechart: one milestone's git worktree while one lease of it is held.
 *
 * `preparing → ready ⇄ recording`, then `merging (waiting → running) → merged → removed`; or
 * `fixing_conflict → ready` (a merge conflict with fix turns left: the base is merged into the
 * worktree and the milestone's last unit runs a fix turn), ending in `check_failed`, `conflict`
 * or `failed` (the milestone fails; its branch is kept), or `released` (the lease ended before the
 * merge, or the runtime drained; the next holder's workspace takes the worktree over). A workspace
 * whose lease passed on does nothing more: its effects wait, without touching the repository,
 * until it is released (see `actors/workspaceEffects.ts`).
 *
 * Every step is idempotent against the repository, so a restore re-runs the invoked step safely:
 * preparing reconciles the worktree (recreates it, saves a lost turn's changes); recording finds a
 * committed or reset worktree; merging finds a base that already contains the head.
 *
 * Implementations (provided by the runtime): `prepareWorkspace` (input: context) →
 * {@link PreparedOutput}; `recordAttempt` ({@link RecordInput}) → {@link RecordedOutput};
 * `mergeWorkspace` ({@link MergeInput}) → {@link MergedOutput}; `holdConflict`
 * ({@link MergeInput}) → {@link ConflictHeld}; `removeWorkspace` (context) → void.
 */
export const workspaceMachine = setup({
  types: {
    context: {} as WorkspaceContext,
    events: {} as WorkspaceEvent,
    input: {} as WorkspaceInput,
  },
  actors: {
    prepareWorkspace: fromPromise<PreparedOutput, WorkspaceContext>(() => Promise.reject(new Error('prepareWorkspace is not provided'))),
    recordAttempt: fromPromise<RecordedOutput, RecordInput>(() => Promise.reject(new Error('recordAttempt is not provided'))),
    mergeWorkspace: fromPromise<MergedOutput, MergeInput>(() => Promise.reject(new Error('mergeWorkspace is not provided'))),
    holdConflict: fromPromise<ConflictHeld, MergeInput>(() => Promise.reject(new Error('holdConflict is not provided'))),
    removeWorkspace: fromPromise<void, WorkspaceContext>(() => Promise.reject(new Error('removeWorkspace is not provided'))),
  },
  guards: {
    fixLeft: ({ context }) => context.fixTurnsUsed < context.fixTurns,
    checkFailed: ({ context }) => context.pending?.outcome === 'check-failed',
    merged: (_, params: { output: MergedOutput }) => params.output.kind === 'merged',
    conflicted: (_, params: { output: MergedOutput }) => params.output.kind === 'conflict',
    conflictFixable: ({ context }, params: { output: MergedOutput }) => params.output.kind === 'conflict' && context.fixTurnsUsed < context.fixTurns,
    fenced: (_, params: { output: MergedOutput }) => params.output.kind === 'fenced',
  },
  actions: {
    fail: assign((_, params: { reason: string }) => ({ reason: params.reason })),
    recorded: assign(({ context }, params: { output: RecordedOutput }) => {
      const record = context.pending;
      const fixDone = context.fix !== null && !context.fix.done && record?.outcome === 'commit';
      return {
        head: params.output.head,
        handled: record === null ? context.handled : [...context.handled, record.dispatchId],
        savedRefs: params.output.savedRef === null ? context.savedRefs : [...context.savedRefs, params.output.savedRef],
        fix: fixDone && context.fix !== null ? { ...context.fix, done: true } : context.fix,
        pending: null,
      };
    }),
  },
}).createMachine({
  id: 'workspace',
  context: ({ input }) => ({
    ...input,
    head: null,
    handled: [],
    fix: input.fix ?? null,
    mergeLease: null,
    mergedCommit: null,
    reason: null,
    pending: null,
    savedRefs: [],
  }),
  initial: 'preparing',
  states: {
    preparing: {
      invoke: {
        id: 'prepare',
        src: 'prepareWorkspace',
        input: ({ context }) => context,
        onDone: {
          target: 'ready',
          actions: assign(({ context, event }) => ({
            baseCommit: event.output.baseCommit,
            head: event.output.head,
            savedRefs: event.output.savedRef === null ? context.savedRefs : [...context.savedRefs, event.output.savedRef],
          })),
        },
        onError: { target: 'failed', actions: { type: 'fail', params: ({ event }) => ({ reason: `preparing the worktree failed: ${errorText(event.error)}` }) } },
      },
      on: { RELEASE: { target: 'released', actions: { type: 'fail', params: ({ event }) => ({ reason: event.reason }) } } },
    },
    ready: {
      on: {
        RECORD: { target: 'recording', actions: assign({ pending: ({ event }) => event.record }) },
        MERGE: { target: 'merging' },
        RELEASE: { target: 'released', actions: { type: 'fail', params: ({ event }) => ({ reason: event.reason }) } },
      },
    },
    recording: {
      invoke: {
        id: 'record',
        src: 'recordAttempt',
        input: ({ context }) => {
          if (context.pending === null) throw new Error(`workspace ${context.workspaceId} is recording without an attempt`);
          return { context, record: context.pending };
        },
        onDone: [
          {
            guard: and(['checkFailed', 'fixLeft']),
            target: 'ready',
            actions: [
              assign(({ context, event }) => ({
                fix: {
                  id: context.pending?.dispatchId ?? 'check',
                  kind: 'check' as const,
                  input: checkFixInput(context.pending, event.output.checkOutput ?? '(no output)'),
                  done: false,
                },
                fixTurnsUsed: context.fixTurnsUsed + 1,
              })),
              { type: 'recorded', params: ({ event }) => ({ output: event.output }) },
            ],
          },
          {
            guard: and(['checkFailed', not('fixLeft')]),
            target: 'check_failed',
            actions: [
              { type: 'recorded', params: ({ event }) => ({ output: event.output }) },
              { type: 'fail', params: ({ event }) => ({ reason: `check failed: ${lastLines(event.output.checkOutput ?? '(no output)', 20)}` }) },
            ],
          },
          { target: 'ready', actions: { type: 'recorded', params: ({ event }) => ({ output: event.output }) } },
        ],
        onError: { target: 'failed', actions: { type: 'fail', params: ({ event }) => ({ reason: `recording an attempt failed: ${errorText(event.error)}` }) } },
      },
      on: { RELEASE: { target: 'released', actions: { type: 'fail', params: ({ event }) => ({ reason: event.reason }) } } },
    },
    merging: {
      initial: 'waiting',
      on: { RELEASE: { target: 'released', actions: { type: 'fail', params: ({ event }) => ({ reason: event.reason }) } } },
      states: {
        waiting: {
          on: {
            MERGE_LEASE: {
              target: 'running',
              actions: assign({ mergeLease: ({ event }) => ({ leaseId: event.leaseId, fencingToken: event.fencingToken }) }),
            },
          },
        },
        running: {
          invoke: {
            id: 'merge',
            src: 'mergeWorkspace',
            input: ({ context }) => mergeInput(context),
            onDone: [
              {
                guard: { type: 'merged', params: ({ event }) => ({ output: event.output }) },
                target: '#workspace.merged',
                actions: assign({ mergedCommit: ({ event }) => (event.output.kind === 'merged' ? event.output.commit : null) }),
              },
              {
                guard: { type: 'conflictFixable', params: ({ event }) => ({ output: event.output }) },
                target: '#workspace.fixing_conflict',
              },
              {
                guard: { type: 'conflicted', params: ({ event }) => ({ output: event.output }) },
                target: '#workspace.conflict',
                actions: {
                  type: 'fail',
                  params: ({ event }) => ({ reason: `merge conflict in ${event.output.kind === 'conflict' ? event.output.files.join(', ') : '?'}` }),
                },
              },
              {
                guard: { type: 'fenced', params: ({ event }) => ({ output: event.output }) },
                target: 'waiting',
                actions: assign({ mergeLease: null }),
              },
              {
                target: '#workspace.failed',
                actions: { type: 'fail', params: ({ event }) => ({ reason: event.output.kind === 'blocked' ? `merge refused: ${event.output.reason}` : 'merge failed' }) },
              },
            ],
            onError: { target: '#workspace.failed', actions: { type: 'fail', params: ({ event }) => ({ reason: `merge failed: ${errorText(event.error)}` }) } },
          },
        },
      },
    },
    fixing_conflict: {
      invoke: {
        id: 'hold',
        src: 'holdConflict',
        input: ({ context }) => mergeInput(context),
        onDone: {
          target: 'ready',
          actions: assign(({ context, event }) => ({
            fix: {
              id: `conflict-${context.fixTurnsUsed + 1}`,
              kind: 'conflict' as const,
              input: conflictFixInput(context, event.output),
              done: false,
            },
            fixTurnsUsed: context.fixTurnsUsed + 1,
            mergeLease: null,
          })),
        },
        onError: { target: 'failed', actions: { type: 'fail', params: ({ event }) => ({ reason: `holding the merge conflict failed: ${errorText(event.error)}` }) } },
      },
      on: { RELEASE: { target: 'released', actions: { type: 'fail', params: ({ event }) => ({ reason: event.reason }) } } },
    },
    merged: {
      invoke: {
        id: 'remove',
        src: 'removeWorkspace',
        input: ({ context }) => context,
        onDone: { target: 'removed' },
        onError: { target: 'removed', actions: { type: 'fail', params: ({ event }) => ({ reason: `merged; removing the worktree failed: ${errorText(event.error)}` }) } },
      },
    },
    removed: { type: 'final' },
    check_failed: { type: 'final' },
    conflict: { type: 'final' },
    failed: { type: 'final' },
    released: { type: 'final' },
  },
});

function mergeInput(context: WorkspaceContext): MergeInput {
  if (context.mergeLease === null) throw new Error(`workspace ${context.workspaceId} is merging without a merge lease`);
  return { context, mergeLease: context.mergeLease };
}

function conflictFixInput(context: WorkspaceContext, held: ConflictHeld): string {
  return [
    `Merging ${context.branch} into ${context.base} conflicts in: ${held.files.join(', ')}.`,
    `${context.base} has been merged into this worktree; the conflicting hunks are marked in the files:`,
    '',
    held.hunks,
    '',
    'Resolve every conflict (keep both sides\' intent), leaving no conflict markers. statecrew commits the result.',
  ].join('\n');
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type WorkspaceMachine = typeof workspaceMachine;
