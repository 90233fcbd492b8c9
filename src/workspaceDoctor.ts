import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { runGit } from '../actors/git.js';
import { listWorktrees, removeWorktreeAt } from '../actors/worktree.js';
import type { WorkspaceProjection } from '../persistence/types.js';
import type { Plan } from './plan/types.js';
import { worktreePath } from './plan/workspaces.js';
import { currentWorkspaces } from './progress.js';

/** A worktree or branch statecrew made that no workspace uses any more. */
export interface WorkspaceOrphan {
  readonly kind: 'orphan-worktree' | 'orphan-branch';
  /** The worktree's folder, or the branch name. */
  readonly subject: string;
  readonly repo: string;
  readonly detail: string;
}

/** Workspace states in which a worktree is in use, or kept for a person (a failed milestone's). */
const IN_USE = new Set(['preparing', 'ready', 'recording', 'merging', 'fixing_conflict', 'merged', 'released', 'check_failed', 'conflict', 'failed']);

/**
 * Worktrees and branches of the plan's repositories that statecrew made and no workspace uses:
 * under a workspaces folder, a worktree (or a folder git does not know) of a milestone that is
 * not in the plan or whose workspace merged and was removed, a temporary merge worktree
 * (`.merge/`) while no workspace of `live` merges; a branch named by the plan's pattern for a
 * milestone that is not in the plan, or of a merged milestone with `deleteBranch`. A failed
 * milestone's worktree and branch are kept for a person and never reported. Reads only.
 * @param live ids of workspace actors driven by a running runtime.
 * @throws GitError when git fails on a repository.
 */
export async function findWorkspaceOrphans(plan: Plan, workspaces: readonly WorkspaceProjection[], live: ReadonlySet<string>): Promise<WorkspaceOrphan[]> {
  const orphans: WorkspaceOrphan[] = [];
  const current = currentWorkspaces(workspaces);
  const byRoot = new Map<string, { repo: string; expected: Map<string, string> }>();
  for (const milestone of plan.milestones) {
    const spec = milestone.workspace;
    if (spec?.root == null) continue;
    const entry = byRoot.get(spec.root) ?? { repo: spec.repo, expected: new Map<string, string>() };
    const state = current.get(milestone.id)?.state;
    if (state !== undefined && IN_USE.has(state)) entry.expected.set(path.resolve(worktreePath(spec, milestone.id)), milestone.id);
    byRoot.set(spec.root, entry);
  }
  const merging = workspaces.some((w) => live.has(w.id) && w.state === 'merging');
  for (const [root, { repo, expected }] of byRoot) {
    const known = await listWorktrees(repo);
    const seen = new Set<string>();
    for (const worktree of known) {
      const folder = path.resolve(worktree.path);
      if (!isInside(folder, root)) continue;
      seen.add(folder);
      const temporary = isInside(folder, path.join(root, '.merge'));
      if (temporary ? !merging : !expected.has(folder)) {
        orphans.push({ kind: 'orphan-worktree', subject: folder, repo, detail: temporary ? 'a temporary merge worktree no merge uses' : 'a worktree no workspace of the plan uses' });
      }
    }
    for (const name of existsSync(root) ? readdirSync(root) : []) {
      const folder = path.join(root, name);
      if (name === '.gitignore' || name === '.merge' || seen.has(folder) || expected.has(folder)) continue;
      orphans.push({ kind: 'orphan-worktree', subject: folder, repo, detail: 'a folder git does not know as a worktree' });
    }
  }
  orphans.push(...(await orphanBranches(plan, current)));
  return orphans;
}

/** Removes what {@link findWorkspaceOrphans} found: worktrees (forced; `git worktree prune` after), branches (`git branch -D`). */
export async function removeWorkspaceOrphans(orphans: readonly WorkspaceOrphan[]): Promise<void> {
  for (const orphan of orphans) {
    if (orphan.kind === 'orphan-worktree') await removeWorktreeAt(orphan.repo, orphan.subject);
    else await runGit(['branch', '-D', '--end-of-options', orphan.subject], { cwd: orphan.repo });
  }
}

async function orphanBranches(plan: Plan, current: ReadonlyMap<string, WorkspaceProjection>): Promise<WorkspaceOrphan[]> {
  const orphans: WorkspaceOrphan[] = [];
  const byRepo = new Map<string, { prefixes: Set<string>; mine: Map<string, { milestoneId: string; deleteBranch: boolean }> }>();
  for (const milestone of plan.milestones) {
    const spec = milestone.workspace;
    if (spec === undefined) continue;
    const entry = byRepo.get(spec.repo) ?? { prefixes: new Set<string>(), mine: new Map() };
    const at = spec.branch.indexOf(milestone.id);
    // The pattern's fixed part before {milestone} (`statecrew/`): other milestones' branches start with it.
    if (at > 0) entry.prefixes.add(spec.branch.slice(0, at));
    entry.mine.set(spec.branch, { milestoneId: milestone.id, deleteBranch: spec.deleteBranch });
    byRepo.set(spec.repo, entry);
  }
  for (const [repo, { prefixes, mine }] of byRepo) {
    for (const prefix of prefixes) {
      const { stdout } = await runGit(['for-each-ref', '--format=%(refname:short)', `refs/heads/${prefix}`], { cwd: repo });
      for (const branch of stdout.split('\n').filter((line) => line !== '')) {
        const owner = mine.get(branch);
        if (owner === undefined) {
          orphans.push({ kind: 'orphan-branch', subject: branch, repo, detail: 'a branch of a milestone that is not in the plan' });
        } else if (owner.deleteBranch && current.get(owner.milestoneId)?.state === 'removed') {
          orphans.push({ kind: 'orphan-branch', subject: branch, repo, detail: `${owner.milestoneId} merged and its branch was to be deleted` });
        }
      }
    }
  }
  return orphans;
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}
