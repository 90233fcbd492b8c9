import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fixture } from './tempStore.js';

/** One line written by `fixtures/tick-logger.mjs`. */
export interface Tick {
  unit: string;
  run: string;
  pid: number;
  event: 'start' | 'tick' | 'end';
  t: number;
}

/** The built CLI. */
export const CLI_PATH = path.resolve('bin/statecrew.js');

/**
 * Starts `statecrew <args>` in `cwd` with `RUN=<run>` (inherited by the turns, which log it),
 * after `prefix` when given (e.g. `unshare --pid --fork --mount-proc --kill-child`: a PID
 * namespace of its own, as a container would give it).
 */
export function startStatecrew(cwd: string, run: string, args: readonly string[], output: 'ignore' | 'pipe' = 'ignore', prefix: readonly string[] = []): ChildProcess {
  const [program = process.execPath, ...rest] = [...prefix, process.execPath, CLI_PATH, ...args];
  return spawn(program, rest, { cwd, env: { ...process.env, RUN: run }, stdio: ['ignore', output, output] });
}

/** Resolves with the exit code, or `null` when the process was ended by a signal. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode === null ? child.exitCode : null);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal === null ? code : null)));
}

/** Collects a child's stdout (it must have been started with `output: 'pipe'`). */
export function collectStdout(child: ChildProcess): () => string {
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return () => out;
}

export function readTicks(file: string): Tick[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Tick);
}

/** Resolves once `predicate` holds for the tick log (watched with fs.watch, not on a timer). */
export function whenTicks(file: string, predicate: (ticks: Tick[]) => boolean): Promise<Tick[]> {
  fs.writeFileSync(file, '', { flag: 'a' });
  return new Promise((resolve) => {
    const check = () => {
      const ticks = readTicks(file);
      if (predicate(ticks)) {
        watcher.close();
        resolve(ticks);
      }
    };
    const watcher = fs.watch(file, check);
    check();
  });
}

/** A YAML unit line running `tick-logger.mjs` for `ms` milliseconds, logging to `ticksFile`. */
export function tickUnit(id: string, ms: number, ticksFile: string): string {
  return `      - { id: ${id}, command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fixture('tick-logger.mjs'))}, ${JSON.stringify(ticksFile)}, "${ms}"] }`;
}

/**
 * The execution spans of one unit, one per process (run and pid: runs in PID namespaces of
 * their own may reuse each other's pids), from its first to its last tick.
 * Spans of one unit must never overlap (no two executions at the same time).
 */
export function executionSpans(ticks: readonly Tick[], unit: string): { pid: number; run: string; from: number; to: number; ended: boolean }[] {
  const byPid = new Map<string, { pid: number; run: string; from: number; to: number; ended: boolean }>();
  for (const t of ticks) {
    if (t.unit !== unit) continue;
    const key = `${t.run}:${t.pid}`;
    const span = byPid.get(key) ?? { pid: t.pid, run: t.run, from: t.t, to: t.t, ended: false };
    byPid.set(key, { ...span, from: Math.min(span.from, t.t), to: Math.max(span.to, t.t), ended: span.ended || t.event === 'end' });
  }
  return [...byPid.values()].sort((a, b) => a.from - b.from);
}

/** Pairs of overlapping executions of the same unit (must be empty). */
export function overlaps(ticks: readonly Tick[]): string[] {
  const found: string[] = [];
  for (const unit of new Set(ticks.map((t) => t.unit))) {
    const spans = executionSpans(ticks, unit);
    for (let i = 1; i < spans.length; i++) {
      const previous = spans[i - 1]!;
      const current = spans[i]!;
      if (current.from <= previous.to) found.push(`${unit}: pid ${previous.pid} [${previous.from}, ${previous.to}] and pid ${current.pid} from ${current.from}`);
    }
  }
  return found;
}

/**
 * What every shared run must show in its tick log: each of `units` started and ended exactly
 * once, no two executions of a unit overlapped, and every run in `runs` did some of the work.
 */
export function expectSharedOnce(all: readonly Tick[], units: readonly string[], runs: readonly string[], check: ExpectLike): void {
  for (const unit of units) {
    check(all.filter((t) => t.unit === unit && t.event === 'start'), unit).toHaveLength(1);
    check(all.filter((t) => t.unit === unit && t.event === 'end'), unit).toHaveLength(1);
  }
  check(overlaps(all)).toEqual([]);
  check(new Set(all.map((t) => t.run))).toEqual(new Set(runs));
}

/** vitest's `expect`, as far as {@link expectSharedOnce} uses it (helpers do not import vitest's globals). */
export type ExpectLike = (value: unknown, message?: string) => { toHaveLength(n: number): void; toEqual(value: unknown): void };
