import { open } from 'node:fs/promises';
import { fromPromise } from 'xstate';
import type {
  ConflictHeld,
  MergedOutput,
  MergeInput,
  PreparedOutput,
  RecordedOutput,
  RecordInput,
  WorkspaceContext,
} from '../machines/workspace.js';
import { GitError, WorkspaceError } from '../core/errors.js';
import { afterCommit } from './afterCommit.js';
import type { EffectContext } from './effectContext.js';
import { runGit, withGitSignal } from './git.js';
import { describeConflict, mergeBranch, removeTemporaryWorktrees } from './merge.js';
import { commitWork, identityEnv, prepareWorktree, removeWorktreeAt, saveChanges, type WorktreeSpec } from './worktree.js';

/** Lines of a failed check's output handed to the fix turn (the figure: its last 200 lines). */
export const CHECK_OUTPUT_LINES = 200;
/** Bytes read from the end of a check's log to find those lines. */
const CHECK_TAIL_BYTES = 256 * 1024;

function specOf(context: WorkspaceContext): WorktreeSpec {
  return { repo: context.repo, base: context.base, branch: context.branch, path: context.path, root: context.root };
}

/**
 * The workspace statechart's effects: git through the CLI, each step idempotent (see
 * `machines/workspace.ts`). Every effect waits for the transition that invoked it to commit.
 */
export function createWorkspaceEffects(effects: EffectContext) {
  return {
    prepareWorkspace: fromPromise(async ({ input, signal }: { input: WorkspaceContext; signal: AbortSignal }): Promise<PreparedOutput> => {
      await whileCurrent(effects, input, signal);
      const prepared = await retryGit(effects, signal, async () => {
        await removeTemporaryWorktrees(specOf(input), input.milestoneId);
        return prepareWorktree(specOf(input), input.baseCommit, input.author);
      });
      signal.throwIfAborted();
      return { baseCommit: prepared.baseCommit, head: prepared.head, savedRef: prepared.savedRef };
    }),
    recordAttempt: fromPromise(async ({ input, signal }: { input: RecordInput; signal: AbortSignal }): Promise<RecordedOutput> => {
      await whileCurrent(effects, input.context, signal);
      const { context, record } = input;
      if (record.outcome === 'commit') {
        const committed = await retryGit(effects, signal, () => commitWork(context.path, record, context.author));
        return { head: committed.head, savedRef: null, checkOutput: null };
      }
      const head = context.head;
      if (head === null) throw new WorkspaceError(`workspace ${context.workspaceId} has no recorded head to reset to`);
      const savedRef = await retryGit(effects, signal, () => saveChanges(specOf(context), 'attempts', record.dispatchId, context.author, head));
      const checkOutput = record.outcome === 'check-failed' ? await tailLines(record.logPath, CHECK_OUTPUT_LINES) : null;
      return { head, savedRef, checkOutput };
    }),
    mergeWorkspace: fromPromise(async ({ input, signal }: { input: MergeInput; signal: AbortSignal }): Promise<MergedOutput> => {
      await whileCurrent(effects, input.context, signal);
      const { context, mergeLease } = input;
      const key = mergeLeaseKey(context.repo, context.base);
      const outcome = await retryGit(effects, signal, () => mergeBranch({
        spec: specOf(context),
        milestoneId: context.milestoneId,
        mode: context.mergeMode,
        identity: context.author,
        fencingToken: mergeLease.fencingToken,
        stillHeld: async () => {
          const entry = await effects.store.getLease(key);
          return (
            entry !== undefined &&
            entry.holderId === context.workspaceId &&
            entry.fencingToken === mergeLease.fencingToken &&
            (entry.expiresAt ?? 0) > effects.clock.now() &&
            !signal.aborted
          );
        },
      }));
      return outcome.kind === 'merged' ? { kind: 'merged', commit: outcome.commit, already: outcome.already } : outcome;
    }),
    holdConflict: fromPromise(async ({ input, signal }: { input: MergeInput; signal: AbortSignal }): Promise<ConflictHeld> => {
      await whileCurrent(effects, input.context, signal);
      return retryGit(effects, signal, () => holdConflict(input.context));
    }),
    removeWorkspace: fromPromise(async ({ input, signal }: { input: WorkspaceContext; signal: AbortSignal }): Promise<void> => {
      await whileCurrent(effects, input, signal);
      await retryGit(effects, signal, async () => {
        await removeWorktreeAt(input.repo, input.path);
        if (input.deleteBranch) await runGit(['branch', '-D', '--end-of-options', input.branch], { cwd: input.repo, accept: [0, 1] });
      });
    }),
  };
}

/**
 * The first step of every workspace effect: after the invoking transition committed, reads the
 * milestone's ledger row; while it still carries the workspace's fencing token, returns. A
 * workspace whose lease passed to a newer holder must not touch the repository (the new holder's
 * workspace owns the worktree) and could not record anything (its writes are fenced): the effect
 * then waits, doing nothing, until the actor is released and stopped (rejecting with the abort).
 * Without this, a stale workspace restored after a refused job would run its step again, be
 * refused again, and take the other actors of its jobs down with it, pass after pass.
 */
async function whileCurrent(effects: EffectContext, context: WorkspaceContext, signal: AbortSignal): Promise<void> {
  await afterCommit(signal, effects.committed);
  const entry = await effects.store.getLease(context.milestoneId);
  signal.throwIfAborted();
  if (entry?.fencingToken === context.fencingToken) return;
  await sleep(effects, signal, Infinity);
}

/** Attempts of a git step before its error fails the workspace. */
const GIT_ATTEMPTS = 4;
/** Delay before the second attempt, in ms; doubled before each further one. */
const GIT_RETRY_MS = 250;

/**
 * Runs an idempotent git step, again after a delay when it fails with a GitError: a git process
 * of a runtime that was killed may still be finishing in the worktree (a SIGKILLed runtime's
 * children live on), holding its index lock or populating its folder. After
 * {@link GIT_ATTEMPTS} attempts the last error stands (the workspace fails with it).
 */
async function retryGit<T>(effects: EffectContext, signal: AbortSignal, step: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withGitSignal(signal, step);
    } catch (error) {
      if (!(error instanceof GitError) || attempt >= GIT_ATTEMPTS) throw error;
    }
    await sleep(effects, signal, GIT_RETRY_MS * 2 ** (attempt - 1));
  }
}

/** Waits `ms` on the effects' clock; rejects at once, or as soon as, `signal` is aborted. Never resolves for `ms` = Infinity. */
function sleep(effects: EffectContext, signal: AbortSignal, ms: number): Promise<void> {
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const timer = Number.isFinite(ms) ? effects.clock.setTimeout(resolve, ms) : undefined;
    signal.addEventListener(
      'abort',
      () => {
        if (timer !== undefined) effects.clock.clearTimeout(timer);
        reject(signal.reason instanceof Error ? signal.reason : new Error('stopped'));
      },
      { once: true },
    );
  });
}

/**
 * The ledger key of a repository branch's merge lease: `merge:<repo>:<branch>`. One merge at a
 * time per key, across runtimes sharing the store (their `repo` must be the same path).
 */
export function mergeLeaseKey(repo: string, base: string): string {
  return `merge:${repo}:${base}`;
}

/**
 * Merges the base into the milestone's worktree and leaves the conflict there for a fix turn:
 * conflict markers in the files, `MERGE_HEAD` set, so the commit after the fix concludes the
 * merge. Idempotent: a worktree already holding this merge is left as it is (its markers may be
 * half fixed by a lost turn: that was saved and reset by the preparation, so it is redone).
 * @throws WorkspaceError when the base merges cleanly after all (nothing to fix).
 */
async function holdConflict(context: WorkspaceContext): Promise<ConflictHeld> {
  const cwd = context.path;
  const merging = await runGit(['rev-parse', '--verify', '--quiet', 'MERGE_HEAD'], { cwd, accept: [0, 1] });
  if (merging.exitCode !== 0) {
    const merged = await runGit(['merge', '--no-ff', '--no-commit', '--end-of-options', `refs/heads/${context.base}`], {
      cwd,
      env: identityEnv(context.author),
      accept: [0, 1],
    });
    if (merged.exitCode === 0) {
      // The base merged cleanly into the branch (it moved since the conflict): nothing to fix.
      await runGit(['merge', '--abort'], { cwd, accept: [0, 128] });
      throw new WorkspaceError(`merging ${context.base} into ${context.branch} no longer conflicts; merge again`);
    }
  }
  return describeConflict(cwd);
}

/**
 * A turn log's lines without the runner's own: its header (`# statecrew turn …`) and its footer
 * (`# <how it ended> after <duration>`, see `actors/turnSupervisor.ts`), so that the fix turn and
 * the failure reason get the check's output only.
 */
function withoutRunnerLines(lines: string[]): string[] {
  const body = lines[0]?.startsWith('# statecrew turn ') === true ? lines.slice(1) : lines;
  while (body.length > 0 && /^# .*(?:after|ended after) \d[\d.]*\s?(?:ms|s|m|h)\b.*$/.test(body.at(-1) ?? '')) body.pop();
  return body;
}

/** The last `count` lines of a log file (read from its last 256 KiB); a note when there is no log on this host. */
async function tailLines(file: string | null, count: number): Promise<string> {
  if (file === null) return '(the check wrote no log)';
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return `(the check's log ${file} is not on this host)`;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, CHECK_TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return withoutRunnerLines(buffer.toString('utf8').trimEnd().split('\n')).slice(-count).join('\n');
  } finally {
    await handle.close();
  }
}
