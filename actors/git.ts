import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { GitError, GitMissingError } from '../core/errors.js';

/** What one git command printed and how it exited. */
export interface GitOutput {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit status; 0 on success. */
  readonly exitCode: number;
}

/** Options of {@link runGit}. */
export interface RunGitOptions {
  /** Folder git runs in (`git -C`). */
  readonly cwd: string;
  /** Exit codes that are answers rather than failures (e.g. 1 for `diff --quiet`). @default [0] */
  readonly accept?: readonly number[];
  /** Extra environment variables (author identity, `GIT_INDEX_FILE`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Written to stdin. @default none */
  readonly input?: string;
}

/**
 * The abort signal of the effect running git commands (see {@link withGitSignal}): once aborted,
 * no further git command of that effect starts.
 */
const effectSignal = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs `steps` so that every git command they start checks `signal` first and rejects with its
 * reason once it is aborted: an effect whose actor was stopped (released, its job refused) never
 * starts another git step, even one already awaited deep inside an operation. A command already
 * running is left to finish (killing git mid-write would leave its locks behind).
 */
export function withGitSignal<T>(signal: AbortSignal, steps: () => Promise<T>): Promise<T> {
  return effectSignal.run(signal, steps);
}

/** Largest output kept from one git command, in bytes (a diff of a large tree is cut, not buffered whole). */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
/** Stderr kept in a {@link GitError}, in characters. */
const STDERR_KEPT = 4096;

/**
 * The environment every git command of statecrew runs with: the runtime's own, without the
 * `GIT_*` variables that would point git elsewhere (a runtime started from a git hook inherits
 * `GIT_DIR` and `GIT_INDEX_FILE`), in the C locale so messages parse the same everywhere, never
 * prompting for credentials.
 */
function gitEnv(extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GIT_')) env[key] = value;
  }
  return { ...env, LC_ALL: 'C', LANGUAGE: 'C', GIT_TERMINAL_PROMPT: '0', ...extra };
}

/**
 * Runs `git <argv>` in `options.cwd` with argv (never a shell). statecrew's own git commands
 * run no hooks (`core.hooksPath=/dev/null`): a repository's hooks are the user's tooling, and
 * a plan's `check` is where a milestone is verified.
 * @returns stdout, stderr and the exit code (one of `options.accept`).
 * @throws GitMissingError when git cannot be started (not installed, not on `PATH`).
 * @throws GitError when git exits with a code not in `options.accept`, or is killed.
 */
export function runGit(argv: readonly string[], options: RunGitOptions): Promise<GitOutput> {
  const accept = options.accept ?? [0];
  const full = ['-c', 'core.hooksPath=/dev/null', ...argv];
  const signal = effectSignal.getStore();
  if (signal?.aborted === true) return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('stopped'));
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      full,
      { cwd: options.cwd, env: gitEnv(options.env), maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr, exitCode: 0 });
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && child.pid === undefined && !existsSync(options.cwd)) {
          reject(new GitError(argv, options.cwd, null, `the folder ${options.cwd} does not exist`, { cause: error }));
          return;
        }
        if (code === 'ENOENT' && child.pid === undefined) {
          reject(new GitMissingError('git is not installed or not on PATH; workspaces need git 2.39 or later', { cause: error }));
          return;
        }
        const exitCode = typeof code === 'number' ? code : null;
        if (exitCode !== null && accept.includes(exitCode)) {
          resolve({ stdout, stderr, exitCode });
          return;
        }
        reject(new GitError(argv, options.cwd, exitCode, stderr.slice(-STDERR_KEPT), { cause: error }));
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Oldest git statecrew's workspaces support (Debian 12's): `worktree` and `update-ref` compare-and-swap behave as relied on since. */
export const MIN_GIT_VERSION = [2, 39] as const;

/**
 * The installed git's version, checked against {@link MIN_GIT_VERSION}.
 * @returns e.g. `2.39.5`.
 * @throws GitMissingError when git is missing or older than 2.39.
 */
export async function checkGitVersion(cwd: string): Promise<string> {
  const { stdout } = await runGit(['--version'], { cwd });
  const match = /git version (\d+)\.(\d+)(?:\.(\d+))?/.exec(stdout);
  if (match === null) throw new GitMissingError(`cannot read the git version from ${JSON.stringify(stdout.trim())}`);
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major < MIN_GIT_VERSION[0] || (major === MIN_GIT_VERSION[0] && minor < MIN_GIT_VERSION[1])) {
    throw new GitMissingError(`git ${match[0].slice('git version '.length)} is too old; workspaces need git ${MIN_GIT_VERSION.join('.')} or later`);
  }
  return match[0].slice('git version '.length);
}
