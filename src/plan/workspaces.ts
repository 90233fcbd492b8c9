/**
 * Resolving a plan's workspaces against the repositories they name, at run start: before a
 * store is opened or anything written, so bad input exits 2 with nothing created.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PlanError, type PlanIssue } from '../../core/errors.js';
import { checkGitVersion, runGit } from '../../actors/git.js';
import { isPostgresUrl } from '../../persistence/openStore.js';
import { safeFileName } from '../scheduler.js';
import type { MilestoneSpec, Plan, UnitSpec, WorkspaceSpec } from './types.js';

/** The worktree of a milestone: `<root>/<milestone id as one path segment>`. */
export function worktreePath(workspace: WorkspaceSpec, milestoneId: string): string {
  if (workspace.root === null) throw new Error(`the workspace of ${milestoneId} is not resolved (no worktrees folder)`);
  return path.join(workspace.root, safeFileName(milestoneId));
}

/** What {@link resolveWorkspaces} learned of one repository. */
interface RepositoryFacts {
  readonly top: string;
  readonly commonDir: string;
  readonly current: string | null;
}

/**
 * Resolves every milestone's workspace against its repository: checks that git 2.39 or later
 * runs, that `repo` is a git repository (made its top folder), that `base` exists (default: the
 * repository's current branch), that each milestone's branch is a valid branch name other than
 * the base; fills in the worktrees folder (default: `worktrees/` beside a SQLite store,
 * `statecrew/worktrees` in the repository's git folder for a PostgreSQL store) and points each
 * unit's `cwd` into its milestone's worktree, with `STATECREW_WORKSPACE` (the worktree) and
 * `STATECREW_BRANCH` in its environment. Idempotent; a plan without workspaces is returned as is
 * without running git. Reads only: creates nothing.
 * @param storeLocation the store's path or `postgres://` URL.
 * @throws PlanError naming `workspace.repo`, `workspace.base` or `workspace.branch` when the
 *   repository, the base or a branch name is not usable (exit code 2).
 * @throws GitMissingError when git is not installed or older than 2.39 (exit code 2).
 */
export async function resolveWorkspaces(plan: Plan, storeLocation: string): Promise<Plan> {
  if (!plan.milestones.some((milestone) => milestone.workspace !== undefined)) return plan;
  await checkGitVersion(path.dirname(plan.file));
  const facts = new Map<string, RepositoryFacts>();
  const issues: PlanIssue[] = [];
  const milestones: MilestoneSpec[] = [];
  for (const milestone of plan.milestones) {
    const workspace = milestone.workspace;
    if (workspace === undefined) {
      milestones.push(milestone);
      continue;
    }
    let repo = facts.get(workspace.repo);
    if (repo === undefined) {
      const found = await readRepository(workspace.repo);
      if (typeof found === 'string') {
        issues.push({ path: 'workspace.repo', message: found });
        break;
      }
      repo = found;
      facts.set(workspace.repo, repo);
    }
    const base = workspace.base ?? repo.current;
    if (base === null) {
      issues.push({ path: 'workspace.base', message: `the HEAD of ${repo.top} is detached; name the branch to start from and merge into (workspace.base)` });
      break;
    }
    const problem = await checkBranches(repo.top, base, workspace.branch);
    if (problem !== null) {
      issues.push(problem);
      continue;
    }
    const root = workspace.root ?? (isPostgresUrl(storeLocation) ? path.join(repo.commonDir, 'statecrew', 'worktrees') : path.join(path.dirname(storeLocation), 'worktrees'));
    const resolved: WorkspaceSpec = { ...workspace, repo: repo.top, base, root };
    const worktree = worktreePath(resolved, milestone.id);
    milestones.push({ ...milestone, workspace: resolved, units: milestone.units.map((unit) => inWorktree(unit, worktree, resolved.branch)) });
  }
  if (issues.length > 0) throw new PlanError(plan.file, issues);
  return { ...plan, milestones };
}

function inWorktree(unit: UnitSpec, worktree: string, branch: string): UnitSpec {
  return {
    ...unit,
    cwd: path.resolve(worktree, unit.workspaceCwd ?? '.'),
    env: { ...unit.env, STATECREW_WORKSPACE: worktree, STATECREW_BRANCH: branch },
  };
}

/** The repository's top folder, git folder and current branch; a message when `repo` is not a git repository. */
async function readRepository(repo: string): Promise<RepositoryFacts | string> {
  if (!existsSync(repo)) return `not a git repository: ${repo} (no such folder)`;
  const inside = await runGit(['rev-parse', '--is-bare-repository', '--absolute-git-dir', '--git-common-dir'], { cwd: repo, accept: [0, 128] });
  if (inside.exitCode !== 0) return `not a git repository: ${repo} (${inside.stderr.trim().split('\n').at(-1) ?? 'git rev-parse failed'})`;
  const [bare, gitDir = repo, commonDir = gitDir] = inside.stdout.trim().split('\n');
  const top = bare === 'true' ? gitDir : (await runGit(['rev-parse', '--show-toplevel'], { cwd: repo })).stdout.trim();
  const head = await runGit(['symbolic-ref', '--quiet', '--short', 'HEAD'], { cwd: repo, accept: [0, 1] });
  return { top, commonDir: path.resolve(repo, commonDir), current: head.exitCode === 0 ? head.stdout.trim() : null };
}

async function checkBranches(repo: string, base: string, branch: string): Promise<PlanIssue | null> {
  const exists = await runGit(['rev-parse', '--verify', '--quiet', `refs/heads/${base}^{commit}`], { cwd: repo, accept: [0, 1, 128] });
  if (exists.exitCode !== 0) {
    const branches = (await runGit(['for-each-ref', '--format=%(refname:short)', 'refs/heads/'], { cwd: repo })).stdout.trim().split('\n').filter((b) => b !== '');
    return { path: 'workspace.base', message: `branch ${JSON.stringify(base)} does not exist in ${repo}; its branches: ${branches.join(', ') || '(none: commit something first)'}` };
  }
  const valid = await runGit(['check-ref-format', '--branch', branch], { cwd: repo, accept: [0, 1, 128] });
  if (valid.exitCode !== 0) return { path: 'workspace.branch', message: `${JSON.stringify(branch)} is not a valid git branch name (milestone ids with ":" or ".." make invalid branch names)` };
  if (branch === base) return { path: 'workspace.branch', message: `a milestone's branch cannot be the base ${JSON.stringify(base)}` };
  return null;
}
