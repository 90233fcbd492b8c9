import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WorkspaceError } from '../core/errors.js';
import { runGit } from './git.js';

/** Where a milestone's workspace lives and what it works on. Paths absolute. */
export interface WorktreeSpec {
  /** The repository's top folder (the user's checkout, or a bare repository). */
  readonly repo: string;
  /** Branch milestones start from and merge into, e.g. `main`. */
  readonly base: string;
  /** The milestone's branch, e.g. `statecrew/api`. */
  readonly branch: string;
  /** The worktree's folder. */
  readonly path: string;
  /** Folder holding every workspace of the store (`path`'s parent); temporary merge worktrees go under `.merge/` in it. */
  readonly root: string;
}

/** Author and committer of statecrew's commits, e.g. `{ name: 'statecrew', email: 'statecrew@localhost' }`. */
export interface GitIdentity {
  readonly name: string;
  readonly email: string;
}

/** One entry of `git worktree list --porcelain`. */
export interface WorktreeEntry {
  readonly path: string;
  readonly head: string | null;
  /** Full ref, e.g. `refs/heads/main`; `null` when detached. */
  readonly branch: string | null;
  readonly bare: boolean;
}

/** What {@link prepareWorktree} found and did. */
export interface PreparedWorktree {
  /** The commit of `base` the milestone started from (recorded by the first preparation). */
  readonly baseCommit: string;
  /** The branch's head after preparation. */
  readonly head: string;
  /** The worktree was (re)created by this call. */
  readonly created: boolean;
  /** Leftover changes of a lost turn were saved on this ref, and the worktree reset (`null`: it was clean). */
  readonly savedRef: string | null;
}

export function identityEnv(identity: GitIdentity): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: identity.name,
    GIT_AUTHOR_EMAIL: identity.email,
    GIT_COMMITTER_NAME: identity.name,
    GIT_COMMITTER_EMAIL: identity.email,
  };
}

/** `git rev-parse --verify` of a commit-ish; `null` when it does not exist. */
export async function resolveCommit(cwd: string, rev: string): Promise<string | null> {
  const out = await runGit(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`], { cwd, accept: [0, 1] });
  return out.exitCode === 0 ? out.stdout.trim() : null;
}

/** The repository's worktrees, main one first (`git worktree list --porcelain -z`). */
export async function listWorktrees(repo: string): Promise<WorktreeEntry[]> {
  const { stdout } = await runGit(['worktree', 'list', '--porcelain', '-z'], { cwd: repo });
  const entries: WorktreeEntry[] = [];
  let current: { path: string; head: string | null; branch: string | null; bare: boolean } | null = null;
  for (const field of stdout.split('\0')) {
    if (field === '') {
      if (current !== null) entries.push(current);
      current = null;
    } else if (field.startsWith('worktree ')) {
      current = { path: field.slice('worktree '.length), head: null, branch: null, bare: false };
    } else if (current !== null && field.startsWith('HEAD ')) {
      current.head = field.slice('HEAD '.length);
    } else if (current !== null && field.startsWith('branch ')) {
      current.branch = field.slice('branch '.length);
    } else if (current !== null && field === 'bare') {
      current.bare = true;
    }
  }
  if (current !== null) entries.push(current);
  return entries;
}

/** Turns an id into characters valid in one segment of a git ref name. */
export function refSegment(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_').replace(/\.{2,}/g, '_').replace(/^\.|\.lock$|\.$/g, '_');
}

/**
 * Brings a milestone's worktree in line with the repository (creation and reconciliation are
 * one idempotent step, so a crash anywhere in it is repaired by running it again):
 * 1. `git worktree prune`, and the removal of git lock files a killed git left in this
 *    worktree's administrative folder (nobody else runs git there: the caller holds the
 *    milestone's lease and no turn of it runs).
 * 2. The branch is created at `base`'s current commit when it does not exist.
 * 3. The worktree is added at `spec.path` on the branch when missing (a folder there that git
 *    does not know as this branch's worktree is removed first; the branch checked out in
 *    another folder under `spec.root` is moved).
 * 4. Uncommitted changes (a lost turn's) are saved on `refs/statecrew/lost/<branch>/<n>` and the
 *    worktree is reset to the branch head.
 * @param baseCommit the base commit recorded earlier, `null` on the first preparation.
 * @throws GitError when a git command fails, e.g. `base` no longer exists, or the branch is
 *   checked out in a folder outside `spec.root` (a user's).
 */
export async function prepareWorktree(spec: WorktreeSpec, baseCommit: string | null, identity: GitIdentity): Promise<PreparedWorktree> {
  await mkdir(spec.root, { recursive: true });
  await writeFile(path.join(spec.root, '.gitignore'), '*\n');
  await runGit(['worktree', 'prune'], { cwd: spec.repo });
  let branchHead = await resolveCommit(spec.repo, `refs/heads/${spec.branch}`);
  let base = baseCommit;
  if (branchHead === null) {
    base ??= await requireCommit(spec.repo, `refs/heads/${spec.base}`);
    await runGit(['branch', '--no-track', '--end-of-options', spec.branch, base], { cwd: spec.repo });
    branchHead = base;
  }
  base ??= (await runGit(['merge-base', `refs/heads/${spec.base}`, `refs/heads/${spec.branch}`], { cwd: spec.repo })).stdout.trim();

  const worktrees = await listWorktrees(spec.repo);
  const here = worktrees.find((entry) => samePath(entry.path, spec.path));
  const elsewhere = worktrees.find((entry) => entry.branch === `refs/heads/${spec.branch}` && !samePath(entry.path, spec.path));
  if (elsewhere !== undefined) {
    if (!isInside(elsewhere.path, spec.root)) {
      throw new WorkspaceError(`branch ${spec.branch} is checked out in ${elsewhere.path}, outside statecrew's workspaces; check out another branch there`);
    }
    await removeWorktreeAt(spec.repo, elsewhere.path);
  }
  let created = false;
  if (here === undefined || here.branch !== `refs/heads/${spec.branch}` || !existsSync(path.join(spec.path, '.git'))) {
    if (here !== undefined) await removeWorktreeAt(spec.repo, spec.path);
    await rm(spec.path, { recursive: true, force: true });
    await mkdir(path.dirname(spec.path), { recursive: true });
    await runGit(['worktree', 'add', '--end-of-options', spec.path, spec.branch], { cwd: spec.repo });
    created = true;
  } else {
    await removeStaleLocks(spec.path);
  }
  const savedRef = await saveChanges(spec, 'lost', null, identity);
  const head = await requireCommit(spec.path, 'HEAD');
  return { baseCommit: base, head, created, savedRef };
}

/** What {@link commitWork} recorded. */
export interface CommittedWork {
  /** The branch head after the commit (unchanged when there was nothing to commit). */
  readonly head: string;
  /** `false` when the worktree was clean: the agent committed its work itself, or made none. */
  readonly committed: boolean;
}

/**
 * Commits everything the agent left uncommitted in the worktree (`git add -A`, ignored files
 * excluded) as `statecrew: <unit> (attempt n)`, with a `Statecrew-Dispatch: <id>` trailer.
 * Idempotent: after a crash between the commit and its record, running it again finds a clean
 * worktree and returns the head. A merge in progress (a conflict being fixed) is concluded by
 * the commit.
 * @throws GitError when git fails.
 */
export async function commitWork(
  worktree: string,
  message: { readonly unitId: string; readonly attempt: number; readonly dispatchId: string; readonly fix?: 'check' | 'conflict' | null },
  identity: GitIdentity,
): Promise<CommittedWork> {
  await runGit(['add', '-A'], { cwd: worktree });
  const staged = await runGit(['diff', '--cached', '--quiet'], { cwd: worktree, accept: [0, 1] });
  const merging = existsSync(await gitPath(worktree, 'MERGE_HEAD'));
  if (staged.exitCode === 0 && !merging) return { head: await requireCommit(worktree, 'HEAD'), committed: false };
  await runGit(
    ['commit', '--no-verify', '--allow-empty', '-m', commitTitle(message), '-m', `Statecrew-Dispatch: ${message.dispatchId}`],
    { cwd: worktree, env: identityEnv(identity) },
  );
  return { head: await requireCommit(worktree, 'HEAD'), committed: true };
}

/** `statecrew: <unit> (attempt n)`; a fix turn's says what it fixed. */
function commitTitle(message: { readonly unitId: string; readonly attempt: number; readonly fix?: 'check' | 'conflict' | null }): string {
  const what = message.fix === 'check' ? 'fix of the failed check' : message.fix === 'conflict' ? 'fix of the merge conflict' : null;
  return `statecrew: ${message.unitId} (attempt ${message.attempt}${what === null ? '' : `, ${what}`})`;
}

/**
 * Saves a failed or lost attempt's work for a person to look at and resets the worktree to
 * `resetTo` (the unit's starting commit): everything uncommitted, and any commits the agent made
 * past `resetTo`, become one commit on `refs/statecrew/<kind>/<branch>/<id>` whose parent is the
 * worktree's HEAD. Then `git reset --hard <resetTo>` and `git clean -fd` (ignored files, such as
 * build output, stay). Idempotent: a clean worktree at `resetTo` saves nothing.
 * @returns the ref written, or `null` when there was nothing to save.
 * @throws GitError when git fails.
 */
export async function saveChanges(spec: WorktreeSpec, kind: 'lost' | 'attempts', id: string | null, identity: GitIdentity, resetTo?: string): Promise<string | null> {
  const cwd = spec.path;
  const head = await requireCommit(cwd, 'HEAD');
  const target = resetTo ?? head;
  await abortMerge(cwd);
  const status = await runGit(['status', '--porcelain', '-z', '--untracked-files=all'], { cwd });
  if (status.stdout === '' && head === target) return null;
  let saved = head;
  if (status.stdout !== '') {
    await runGit(['add', '-A'], { cwd });
    const tree = (await runGit(['write-tree'], { cwd })).stdout.trim();
    saved = (
      await runGit(['commit-tree', tree, '-p', head, '-m', `statecrew: ${kind === 'lost' ? 'changes left by a lost turn' : `changes of ${id ?? 'an attempt'}`}`], {
        cwd,
        env: identityEnv(identity),
      })
    ).stdout.trim();
  }
  const name = id ?? String(Date.now());
  const ref = `refs/statecrew/${kind}/${refSegment(spec.branch)}/${refSegment(name)}`;
  await runGit(['update-ref', '-m', `statecrew: save ${kind} changes`, ref, saved], { cwd });
  await runGit(['reset', '--hard', '--quiet', target], { cwd });
  await runGit(['clean', '-fdq'], { cwd });
  return ref;
}

/** Removes a worktree (forced: its changes were committed or saved) and lets git forget it. */
export async function removeWorktreeAt(repo: string, worktree: string): Promise<void> {
  const known = (await listWorktrees(repo)).some((entry) => samePath(entry.path, worktree));
  if (known) await runGit(['worktree', 'remove', '--force', '--force', '--end-of-options', worktree], { cwd: repo, accept: [0, 128] });
  await rm(worktree, { recursive: true, force: true });
  await runGit(['worktree', 'prune'], { cwd: repo });
}

/** Path of a file in the worktree's own administrative folder (`MERGE_HEAD`, `index.lock`). */
export async function gitPath(worktree: string, name: string): Promise<string> {
  const out = await runGit(['rev-parse', '--git-path', name], { cwd: worktree });
  return path.resolve(worktree, out.stdout.trim());
}

async function abortMerge(cwd: string): Promise<void> {
  if (existsSync(await gitPath(cwd, 'MERGE_HEAD'))) await runGit(['merge', '--abort'], { cwd, accept: [0, 128] });
}

/** Lock files a git killed mid-command leaves in a worktree's administrative folder. */
async function removeStaleLocks(worktree: string): Promise<void> {
  for (const name of ['index.lock', 'HEAD.lock']) {
    await rm(await gitPath(worktree, name), { force: true });
  }
}

async function requireCommit(cwd: string, rev: string): Promise<string> {
  const commit = await resolveCommit(cwd, rev);
  if (commit === null) throw new WorkspaceError(`${rev} does not name a commit in ${cwd}`);
  return commit;
}

function samePath(a: string, b: string): boolean {
  return path.resolve(a) === path.resolve(b);
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}
