import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { runGit } from './git.js';
import { identityEnv, listWorktrees, refSegment, removeWorktreeAt, resolveCommit, type GitIdentity, type WorktreeSpec } from './worktree.js';
import { WorkspaceError } from '../core/errors.js';

/** How a milestone's branch lands on its base: a merge commit, one squashed commit, or its commits rebased and fast-forwarded. */
export type MergeMode = 'merge' | 'squash' | 'rebase';

/** Input of {@link mergeBranch}. */
export interface MergeRequest {
  readonly spec: WorktreeSpec;
  readonly milestoneId: string;
  readonly mode: MergeMode;
  readonly identity: GitIdentity;
  /** The merge lease's fencing token: names the temporary worktree and the reflog entry. */
  readonly fencingToken: number;
  /**
   * Asked right before the base ref moves: whether the merge lease is still held under
   * `fencingToken`. `false` gives up without moving anything.
   */
  readonly stillHeld: () => Promise<boolean>;
}

/** What a merge attempt came to. Commits are full hex ids. */
export type MergeOutcome =
  /** The base now contains the milestone's work: `commit` is the base's head; `already` when an earlier (interrupted) attempt had landed it. */
  | { readonly kind: 'merged'; readonly commit: string; readonly already: boolean; readonly head: string }
  /** The branch conflicts with the base: the files, and the conflicting hunks (`git diff`, at most 16 KiB). */
  | { readonly kind: 'conflict'; readonly files: readonly string[]; readonly hunks: string; readonly baseHead: string }
  /** The base is checked out in a user's worktree whose uncommitted changes the merge would overwrite. Nothing moved. */
  | { readonly kind: 'blocked'; readonly reason: string }
  /** The merge lease was lost before the base moved. Nothing moved. */
  | { readonly kind: 'fenced' };

/** Times a merge is redone when the base moved under it (another merger, a user's push) before giving up for now. */
const MAX_ROUNDS = 5;
/** Largest conflict description handed to a fix turn, in characters. */
const MAX_HUNKS = 16 * 1024;

/** The trailers of statecrew's merge and squash commits; `Statecrew-Head` is how an interrupted squash is recognised as landed. */
export function mergeTrailers(milestoneId: string, head: string): string {
  return `Statecrew-Milestone: ${milestoneId}\nStatecrew-Head: ${head}`;
}

/**
 * Lands a milestone's branch on its base, in a temporary detached worktree (never the user's
 * checkout), and moves the base by compare-and-swap: `git update-ref refs/heads/<base> <new>
 * <old>`, only while the merge lease is held. Redone from the start when the base moved
 * meanwhile. Idempotent: a branch whose work the base already contains (an earlier attempt
 * landed before a crash) is reported `merged` with `already: true` and merged no second time.
 *
 * When `base` is checked out in a worktree outside statecrew's (the user's), its files and
 * index follow the base as `git merge --ff-only` would move them (a two-tree `read-tree -m -u`),
 * keeping the user's uncommitted changes; when those would be overwritten, nothing moves and the
 * outcome is `blocked` (git's own `receive.denyCurrentBranch=updateInstead` rule).
 * @throws GitError when a git command fails other than by a conflict; WorkspaceError when a branch is gone.
 */
export async function mergeBranch(request: MergeRequest): Promise<MergeOutcome> {
  const { spec } = request;
  const temp = path.join(spec.root, '.merge', `${refSegment(request.milestoneId)}-${request.fencingToken}`);
  await removeTemporaryWorktrees(spec, request.milestoneId);
  await removeStaleRefLock(spec.repo, spec.base);
  await catchUpCheckouts(spec, temp);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const baseHead = await mustResolve(spec.repo, `refs/heads/${spec.base}`);
    const head = await mustResolve(spec.repo, `refs/heads/${spec.branch}`);
    if (await baseContains(spec.repo, baseHead, head)) return { kind: 'merged', commit: baseHead, already: true, head };
    await removeWorktreeAt(spec.repo, temp);
    await runGit(['worktree', 'add', '--detach', '--end-of-options', temp, baseHead], { cwd: spec.repo });
    try {
      const result = await combine(temp, request, baseHead, head);
      if (typeof result !== 'string') return result;
      const checkouts = await userCheckouts(spec, temp);
      for (const checkout of checkouts) {
        const dry = await runGit(['read-tree', '-n', '-m', '-u', baseHead, result], { cwd: checkout, accept: [0, 128] });
        if (dry.exitCode !== 0) {
          return { kind: 'blocked', reason: `${spec.base} is checked out in ${checkout}, whose uncommitted changes the merge would overwrite: ${lastLine(dry.stderr)}` };
        }
      }
      if (!(await request.stillHeld())) return { kind: 'fenced' };
      const moved = await runGit(
        ['update-ref', '-m', `statecrew: ${request.mode} ${request.milestoneId} (merge lease fencing token ${request.fencingToken})`, `refs/heads/${spec.base}`, result, baseHead],
        { cwd: spec.repo, accept: [0, 1, 128] },
      );
      if (moved.exitCode !== 0) continue;
      for (const checkout of checkouts) await runGit(['read-tree', '-m', '-u', baseHead, result], { cwd: checkout });
      return { kind: 'merged', commit: result, already: false, head };
    } finally {
      await removeWorktreeAt(spec.repo, temp);
    }
  }
  throw new WorkspaceError(`${spec.base} moved ${MAX_ROUNDS} times while ${request.milestoneId} was being merged; the merge is tried again later`);
}

/**
 * Removes the temporary merge worktrees of a milestone (`<root>/.merge/<milestone>-<token>`) that
 * earlier merges left when their runtime died. Only the holder of the milestone's lease (and, when
 * merging, of the merge lease) calls it, so none of them is in use.
 */
export async function removeTemporaryWorktrees(spec: WorktreeSpec, milestoneId: string): Promise<void> {
  const folder = path.join(spec.root, '.merge');
  const prefix = `${refSegment(milestoneId)}-`;
  for (const name of existsSync(folder) ? await readdir(folder) : []) {
    if (name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length))) await removeWorktreeAt(spec.repo, path.join(folder, name));
  }
}

/** Age after which a ref's lock file is a leftover of a killed git (an update takes milliseconds), in ms. */
const STALE_REF_LOCK_MS = 10_000;

/**
 * Removes `refs/heads/<base>.lock` when a killed git left it (older than 10 s): the holder of the
 * merge lease is the only statecrew process that moves the base, and a lock that old belongs to
 * no running update.
 */
async function removeStaleRefLock(repo: string, base: string): Promise<void> {
  const common = path.resolve(repo, (await runGit(['rev-parse', '--git-common-dir'], { cwd: repo })).stdout.trim());
  const lock = path.join(common, 'refs', 'heads', `${base}.lock`);
  const info = await stat(lock).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  });
  if (info !== null && Date.now() - info.mtimeMs > STALE_REF_LOCK_MS) await rm(lock, { force: true });
}

/**
 * Whether the base at `baseHead` already holds the work of the branch at `head`: `head` is an
 * ancestor (a merge commit or fast-forward landed), or a squash commit with this head's trailer
 * is on the base, or every commit of the branch is on the base by patch id (a rebase landed).
 */
export async function baseContains(repo: string, baseHead: string, head: string): Promise<boolean> {
  const ancestor = await runGit(['merge-base', '--is-ancestor', head, baseHead], { cwd: repo, accept: [0, 1] });
  if (ancestor.exitCode === 0) return true;
  const squashed = await runGit(['log', '--format=%H', '-n', '1', '--fixed-strings', `--grep=Statecrew-Head: ${head}`, baseHead], { cwd: repo });
  if (squashed.stdout.trim() !== '') return true;
  const cherry = await runGit(['cherry', baseHead, head], { cwd: repo });
  const lines = cherry.stdout.split('\n').filter((line) => line !== '');
  // A rebased branch: every commit of it is on the base by patch id.
  return lines.length > 0 && lines.every((line) => line.startsWith('-'));
}

/** Combines base and branch in the temporary worktree: the new commit, or a conflict (the merge aborted). */
async function combine(temp: string, request: MergeRequest, baseHead: string, head: string): Promise<string | MergeOutcome> {
  const env = identityEnv(request.identity);
  const trailers = mergeTrailers(request.milestoneId, head);
  const title = `statecrew: ${request.mode === 'squash' ? 'squash' : 'merge'} ${request.milestoneId} (${request.spec.branch})`;
  if (request.mode === 'rebase') {
    const ahead = await runGit(['merge-base', '--is-ancestor', baseHead, head], { cwd: temp, accept: [0, 1] });
    if (ahead.exitCode === 0) return head;
    await runGit(['checkout', '--quiet', '--detach', head], { cwd: temp });
    const rebased = await runGit(['rebase', '--no-autosquash', baseHead], { cwd: temp, env, accept: [0, 1] });
    if (rebased.exitCode !== 0) return conflictIn(temp, baseHead, ['rebase', '--abort']);
    return mustResolve(temp, 'HEAD');
  }
  const argv =
    request.mode === 'squash'
      ? ['merge', '--squash', '--end-of-options', head]
      : ['merge', '--no-ff', '--no-edit', '-m', title, '-m', trailers, '--end-of-options', head];
  const merged = await runGit(argv, { cwd: temp, env, accept: [0, 1] });
  if (merged.exitCode !== 0) return conflictIn(temp, baseHead, request.mode === 'squash' ? ['reset', '--hard', '--quiet'] : ['merge', '--abort']);
  if (request.mode === 'squash') {
    await runGit(['commit', '--no-verify', '--allow-empty', '-m', title, '-m', trailers], { cwd: temp, env });
  }
  return mustResolve(temp, 'HEAD');
}

async function conflictIn(temp: string, baseHead: string, abort: readonly string[]): Promise<MergeOutcome> {
  const { files, hunks } = await describeConflict(temp);
  await runGit(abort, { cwd: temp, accept: [0, 128] });
  if (files.length === 0) throw new WorkspaceError(`merging into ${baseHead} failed without conflicting files`);
  return { kind: 'conflict', files, hunks, baseHead };
}

/** The unmerged files of a worktree in a conflicted merge, and its conflict hunks (`git diff`, at most 16 KiB). */
export async function describeConflict(cwd: string): Promise<{ files: string[]; hunks: string }> {
  const files = (await runGit(['diff', '--name-only', '--diff-filter=U', '-z'], { cwd })).stdout.split('\0').filter((name) => name !== '');
  const diff = (await runGit(['diff'], { cwd })).stdout;
  return { files, hunks: diff.length > MAX_HUNKS ? `${diff.slice(0, MAX_HUNKS)}\n[… cut at ${MAX_HUNKS} characters]` : diff };
}

/**
 * Finishes the step a merge killed between moving the base (`update-ref`) and updating a user's
 * checkout of it (`read-tree -m -u`) left undone: that checkout's index is still the base's
 * previous tree, so the merged work would show as staged deletions there, and every later merge
 * would be blocked by it. Done only when the base's last move is statecrew's (its reflog
 * subject) and the checkout's index is exactly the previous commit's tree; a checkout with
 * other staged changes is the user's to resolve and is left alone. Crash fuzzing with
 * workspaces found it.
 */
async function catchUpCheckouts(spec: WorktreeSpec, temp: string): Promise<void> {
  const checkouts = await userCheckouts(spec, temp);
  if (checkouts.length === 0) return;
  const last = await runGit(['reflog', 'show', '-n', '1', '--format=%gs', '--end-of-options', `refs/heads/${spec.base}`], { cwd: spec.repo, accept: [0, 128] });
  if (last.exitCode !== 0 || !last.stdout.startsWith('statecrew: ')) return;
  const previous = await resolveCommit(spec.repo, `refs/heads/${spec.base}@{1}`);
  const current = await resolveCommit(spec.repo, `refs/heads/${spec.base}`);
  if (previous === null || current === null || previous === current) return;
  for (const checkout of checkouts) {
    const atPrevious = await runGit(['diff-index', '--cached', '--quiet', previous, '--'], { cwd: checkout, accept: [0, 1] });
    if (atPrevious.exitCode === 0) await runGit(['read-tree', '-m', '-u', previous, current], { cwd: checkout });
  }
}

/** Worktrees with the base checked out that are not statecrew's own. */
async function userCheckouts(spec: WorktreeSpec, temp: string): Promise<string[]> {
  const root = path.resolve(spec.root);
  return (await listWorktrees(spec.repo))
    .filter((entry) => !entry.bare && entry.branch === `refs/heads/${spec.base}`)
    .map((entry) => entry.path)
    .filter((checkout) => path.resolve(checkout) !== path.resolve(temp) && !path.resolve(checkout).startsWith(`${root}${path.sep}`));
}

async function mustResolve(cwd: string, rev: string): Promise<string> {
  const commit = await resolveCommit(cwd, rev);
  if (commit === null) throw new WorkspaceError(`${rev} does not exist in ${cwd}`);
  return commit;
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter((line) => line.trim() !== '').at(-1) ?? '(no message)';
}
