/**
 * Runs the built `statecrew` CLI (`bin/statecrew.js` → `dist/`) as a child process, in
 * temp dirs, and reads what it prints. Waiting is always on events (a stdout line, the
 * process closing), never on timers.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

/** The CLI entry point, `bin/statecrew.js`; it imports the build in `dist/`. */
export const CLI = fileURLToPath(new URL('../../bin/statecrew.js', import.meta.url));

/** The built CLI module; absent until `npm run build`. */
export const BUILT_CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** Absolute path of a script in `test/fixtures/`. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/** A unit command running a fixture script with this Node: `[node, <fixture>, ...args]`. */
export function fixtureCommand(name: string, ...args: string[]): string[] {
  return [process.execPath, fixture(name), ...args];
}

/** What a finished CLI process left: exit code (null when killed by a signal) and its whole output. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running CLI process. */
export interface CliProcess {
  readonly pid: number;
  /**
   * Resolves with the match of the first stdout line (earlier lines included) that matches
   * `pattern`; rejects when stdout ends without one.
   */
  waitForLine(pattern: RegExp): Promise<RegExpExecArray>;
  /** Sends `signal` to the CLI process (only to it, not to its children). */
  kill(signal: NodeJS.Signals): void;
  /** Resolves once the process has exited and its stdout and stderr have closed. */
  readonly done: Promise<CliResult>;
}

interface LineWaiter {
  readonly pattern: RegExp;
  resolve(match: RegExpExecArray): void;
  reject(error: Error): void;
}

const running = new Set<ChildProcessByStdio<null, Readable, Readable>>();

/**
 * Starts `node bin/statecrew.js ...args` in `cwd`, stdout and stderr piped (so not a TTY),
 * `FORCE_COLOR` removed from its environment.
 */
export function startCli(cwd: string, args: readonly string[]): CliProcess {
  const env = { ...process.env };
  delete env.FORCE_COLOR;
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${CLI}`);
  running.add(child);
  let stdout = '';
  let stderr = '';
  let partial = '';
  let ended = false;
  const lines: string[] = [];
  let waiters: LineWaiter[] = [];

  const offer = (line: string) => {
    lines.push(line);
    waiters = waiters.filter((waiter) => {
      const match = waiter.pattern.exec(line);
      if (match !== null) waiter.resolve(match);
      return match === null;
    });
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    parts.forEach(offer);
  });
  child.stdout.on('end', () => {
    if (partial !== '') offer(partial);
    ended = true;
    for (const waiter of waiters) waiter.reject(new Error(`stdout ended without a line matching ${waiter.pattern}:\n${stdout}\nstderr:\n${stderr}`));
    waiters = [];
  });
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });

  const done = once(child, 'close').then(([code, signal]) => {
    running.delete(child);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr };
  });

  return {
    pid: child.pid,
    waitForLine(pattern) {
      for (const line of lines) {
        const match = pattern.exec(line);
        if (match !== null) return Promise.resolve(match);
      }
      if (ended) return Promise.reject(new Error(`stdout ended without a line matching ${pattern}:\n${stdout}`));
      return new Promise((resolve, reject) => waiters.push({ pattern, resolve, reject }));
    },
    kill(signal) {
      child.kill(signal);
    },
    done,
  };
}

/** Runs the CLI to completion in `cwd`. */
export function runCli(cwd: string, ...args: string[]): Promise<CliResult> {
  return startCli(cwd, args).done;
}

/** Kills (SIGKILL) every CLI process started by {@link startCli} that is still running and waits for it. */
export async function killRunningClis(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      const closed = once(child, 'close');
      child.kill('SIGKILL');
      await closed;
    }),
  );
}

/** A new empty directory under the OS temp dir, with symlinks resolved (the CLI sees its real path). */
export function makeTempDir(): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'statecrew-cli-')));
}

/** Writes a plan into `dir`: text as is, anything else as YAML. @returns its absolute path. */
export function writePlan(dir: string, plan: unknown, name = 'plan.yaml'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof plan === 'string' ? plan : stringify(plan));
  return file;
}

/**
 * Whether `pid` names a live process: false when `/proc/<pid>` is gone or the process is a
 * zombie (`Z`) or dead (`X`). Linux only.
 */
export function isAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  // Fields after the command name, which is in parentheses and may itself contain ")".
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}
