/**
 * Real git repositories in temp folders for workspace tests: created with an initial commit
 * on `main`, driven with the git CLI (argv, no shell), with a fixed identity so commits never
 * depend on the machine's git config.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The identity test commits are made with. */
export const TEST_IDENTITY = { name: 'Test User', email: 'test@example.invalid' } as const;

const ENV = {
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('GIT_'))),
  GIT_AUTHOR_NAME: TEST_IDENTITY.name,
  GIT_AUTHOR_EMAIL: TEST_IDENTITY.email,
  GIT_COMMITTER_NAME: TEST_IDENTITY.name,
  GIT_COMMITTER_EMAIL: TEST_IDENTITY.email,
  LC_ALL: 'C',
};

/** Runs git in `cwd` and returns its trimmed stdout; throws (with stderr) when it fails. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** A temp folder holding a repository at `<dir>/repo` with `files` committed on `main`. */
export interface TestRepo {
  readonly dir: string;
  readonly repo: string;
  /** Writes a file in `where` (default: the repo), creating folders. */
  write(relative: string, text: string, where?: string): void;
  read(relative: string, where?: string): string;
  /** Commits everything in the repo's checkout with `message`; returns the commit. */
  commit(message: string): string;
  cleanup(): void;
}

export function createTestRepo(files: Readonly<Record<string, string>> = { 'README.md': '# test\n' }): TestRepo {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecrew-git-'));
  const repo = path.join(dir, 'repo');
  fs.mkdirSync(repo);
  git(repo, 'init', '--quiet', '--initial-branch=main');
  const handle: TestRepo = {
    dir,
    repo,
    write(relative, text, where = repo) {
      const file = path.join(where, relative);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
    },
    read(relative, where = repo) {
      return fs.readFileSync(path.join(where, relative), 'utf8');
    },
    commit(message) {
      git(repo, 'add', '-A');
      git(repo, 'commit', '--quiet', '--allow-empty', '-m', message);
      return git(repo, 'rev-parse', 'HEAD');
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  for (const [name, text] of Object.entries(files)) handle.write(name, text);
  handle.commit('initial');
  return handle;
}
