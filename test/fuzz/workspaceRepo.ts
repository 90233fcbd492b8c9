/**
 * The crash fuzzer with workspaces: a real repository the plan's milestones work in (each unit
 * writes `units/<unit>.txt` in its milestone's worktree), and the checks of what the repository
 * holds once the run ends.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { StatusReport } from '../../src/status.js';
import type { PlannedMilestone } from './plan.js';

const ENV = {
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('GIT_'))),
  GIT_AUTHOR_NAME: 'fuzz',
  GIT_AUTHOR_EMAIL: 'fuzz@example.invalid',
  GIT_COMMITTER_NAME: 'fuzz',
  GIT_COMMITTER_EMAIL: 'fuzz@example.invalid',
  LC_ALL: 'C',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Creates `<dir>/repo` with one commit on `main`. @returns its path. */
export function createFuzzRepo(dir: string): string {
  const repo = path.join(dir, 'repo');
  fs.mkdirSync(repo);
  git(repo, 'init', '--quiet', '--initial-branch=main');
  fs.writeFileSync(path.join(repo, 'README.md'), '# fuzz\n');
  git(repo, 'add', '-A');
  git(repo, 'commit', '--quiet', '-m', 'initial');
  return repo;
}

/** The file a fuzz unit writes in its worktree (see fuzz-unit.mjs). */
export function unitFile(unitId: string): string {
  return `units/${unitId.replace(/[^A-Za-z0-9._-]/g, '_')}.txt`;
}

/** What {@link checkWorkspaceRepo} counted. */
export interface WorkspaceFacts {
  /** Merge commits statecrew made on main. */
  readonly merges: number;
  /** Side refs holding the work of failed or lost attempts. */
  readonly savedRefs: number;
}

/**
 * `[8 workspace]` checks at the end of a run with workspaces: the base holds each completed
 * milestone's work exactly once (every unit's file with its content, one commit per unit and one
 * merge commit per milestone on main), and nothing is left over: no worktree but the failed
 * milestones' (kept for a person), no temporary merge worktree, no git lock file.
 */
export function checkWorkspaceRepo(repo: string, worktrees: string, plan: readonly PlannedMilestone[], status: StatusReport, found: string[]): WorkspaceFacts {
  const mainLog = git(repo, 'log', '--format=%s', 'main').split('\n');
  const firstParent = git(repo, 'log', '--first-parent', '--format=%s', 'main').split('\n');
  for (const milestone of plan) {
    const state = status.milestones.find((m) => m.id === milestone.id)?.state;
    const merges = firstParent.filter((subject) => subject.startsWith(`statecrew: merge ${milestone.id} (`)).length;
    if (state === 'completed') {
      if (merges !== 1) found.push(`[8 workspace] ${milestone.id} is completed and merged ${merges} times into main`);
      for (const unit of milestone.units) {
        let text: string | null = null;
        try {
          text = git(repo, 'show', `main:${unitFile(unit.id)}`);
        } catch {
          text = null;
        }
        if (text !== unit.id) found.push(`[8 workspace] main's ${unitFile(unit.id)} is ${text === null ? 'missing' : JSON.stringify(text)}, expected ${JSON.stringify(unit.id)}`);
        const commits = mainLog.filter((subject) => subject.startsWith(`statecrew: ${unit.id} (attempt `)).length;
        if (commits !== 1) found.push(`[8 workspace] main has ${commits} commits of ${unit.id}, expected 1`);
      }
    } else if (merges !== 0) {
      found.push(`[8 workspace] ${milestone.id} is ${state ?? 'unknown'} but was merged ${merges} times into main`);
    }
  }
  const failed = new Set(status.milestones.filter((m) => m.state !== 'completed').map((m) => m.id));
  const left = git(repo, 'worktree', 'list', '--porcelain')
    .split('\n')
    .filter((line) => line.startsWith('worktree '))
    .map((line) => line.slice('worktree '.length))
    .filter((worktree) => path.resolve(worktree) !== path.resolve(repo));
  for (const worktree of left) {
    if (!failed.has(path.basename(worktree))) found.push(`[8 workspace] worktree ${worktree} is left over`);
  }
  const merging = path.join(worktrees, '.merge');
  for (const entry of fs.existsSync(merging) ? fs.readdirSync(merging) : []) found.push(`[8 workspace] temporary merge worktree ${entry} is left over`);
  const locks = findLocks(path.join(repo, '.git'));
  for (const lock of locks) found.push(`[8 workspace] lock file ${lock} is left over`);
  if (git(repo, 'status', '--porcelain') !== '') found.push(`[8 workspace] the user's checkout of main is not clean: ${git(repo, 'status', '--porcelain')}`);
  return {
    merges: firstParent.filter((subject) => subject.startsWith('statecrew: merge ')).length,
    savedRefs: git(repo, 'for-each-ref', '--format=%(refname)', 'refs/statecrew/').split('\n').filter((line) => line !== '').length,
  };
}

function findLocks(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'objects' ? [] : findLocks(full);
    return entry.name.endsWith('.lock') ? [full] : [];
  });
}
