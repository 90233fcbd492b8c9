/** The crash fuzzer's processes and tick log (see harness.ts). */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { openStoreAt } from '../../persistence/openStore.js';
import type { Store } from '../../persistence/store.js';
import type { RuntimeRecord } from '../../persistence/types.js';
import { StoreVersionError } from '../../core/errors.js';

import { CLI, MARKER } from './plan.js';

// ---------------------------------------------------------------------------------------------
// Processes

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Incarnation {
  readonly label: string;
  readonly child: ChildProcess;
  /** Pid of the spawned process: the runtime's, or (hosts) its namespace's `unshare`. */
  readonly pid: number;
  /** Hosts: the inode of the runtime's PID namespace, once seen (its host identity ends with `/pid:<inode>`). */
  namespace: string | null;
  readonly outFile: string;
  readonly startedAt: number;
  readonly exit: Promise<Exit>;
  exited: Exit | null;
  killed: boolean;
}

export interface RunContext {
  readonly dir: string;
  readonly marker: string;
  readonly args: readonly string[];
  /** Run before `node`: `unshare …` for a PID namespace (a host) of its own; `[]` for none. */
  readonly prefix: readonly string[];
}

export function startIncarnation(ctx: RunContext, label: string): Incarnation {
  const outFile = path.join(ctx.dir, 'out', `${label}.log`);
  const fd = fs.openSync(outFile, 'a');
  let child: ChildProcess;
  try {
    const [program = process.execPath, ...rest] = [...ctx.prefix, process.execPath, CLI, 'run', 'plan.yaml', ...ctx.args];
    child = spawn(program, rest, {
      cwd: ctx.dir,
      env: { ...process.env, RUN: label, [MARKER]: ctx.marker },
      stdio: ['ignore', fd, fd],
    });
  } finally {
    fs.closeSync(fd);
  }
  const exit = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => {
      fs.appendFileSync(outFile, `harness: spawn failed: ${error.message}\n`);
      resolve({ code: -1, signal: null });
    });
  });
  const incarnation: Incarnation = { label, child, pid: child.pid ?? -1, namespace: null, outFile, startedAt: Date.now(), exit, exited: null, killed: false };
  void exit.then((result) => {
    incarnation.exited = result;
  });
  return incarnation;
}

export function tail(file: string, lines = 8): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n    ');
  } catch (error) {
    return `(no output: ${(error as Error).message})`;
  }
}

/** A live (non-zombie) process of this machine with its command line. */
export interface LiveProcess {
  readonly pid: number;
  readonly state: string;
  readonly cmdline: string;
}

export function readProc(pid: number): { state: string; environ: string[]; cmdline: string } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    const environ = fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
    return { state, environ, cmdline };
  } catch (error) {
    // ENOENT/ESRCH: exited while we looked; EACCES: another user's process, not one of ours.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES') return null;
    throw error;
  }
}

/** Live processes whose environment has `MARKER=<marker>` or a `STATECREW_TURN_KEY` of the store. */
export function findRunProcesses(marker: string, storeId: string | null): LiveProcess[] {
  const found: LiveProcess[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const info = readProc(pid);
    if (info === null || info.state === 'Z' || info.state === 'X') continue;
    const ours = info.environ.some(
      (entry) => entry === `${MARKER}=${marker}` || (storeId !== null && entry.startsWith(`STATECREW_TURN_KEY=${storeId}:`)),
    );
    if (ours) found.push({ pid, state: info.state, cmdline: info.cmdline });
  }
  return found;
}

/** True when `pid` is a live process of this run (so a recycled pid of another program does not count). */
export function isRunProcessAlive(pid: number, marker: string): boolean {
  const info = readProc(pid);
  return info !== null && info.state !== 'Z' && info.state !== 'X' && info.environ.includes(`${MARKER}=${marker}`);
}

// ---------------------------------------------------------------------------------------------
// The tick log, watched

export class TickLog {
  private offset = 0;
  lines = 0;

  constructor(readonly file: string) {
    fs.writeFileSync(file, '', { flag: 'a' });
  }

  /** Counts the complete lines appended since the last call. */
  update(): number {
    const size = fs.statSync(this.file).size;
    if (size > this.offset) {
      const fd = fs.openSync(this.file, 'r');
      try {
        const buffer = Buffer.alloc(size - this.offset);
        const read = fs.readSync(fd, buffer, 0, buffer.length, this.offset);
        const lastNewline = buffer.lastIndexOf(10, read - 1);
        if (lastNewline >= 0) {
          for (let i = 0; i <= lastNewline; i++) if (buffer[i] === 10) this.lines++;
          this.offset += lastNewline + 1;
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    return this.lines;
  }

  /**
   * Resolves `reached` once the log has `target` lines (watched with fs.watch), `stopped` when
   * `stop` settles first, `stalled` when the log did not grow for `stallMs`.
   */
  waitForLines(target: number, stop: Promise<unknown>, stallMs: number): Promise<'reached' | 'stopped' | 'stalled'> {
    return new Promise((resolve) => {
      let done = false;
      let stallTimer: NodeJS.Timeout | undefined;
      let seen = this.lines;
      const finish = (result: 'reached' | 'stopped' | 'stalled') => {
        if (done) return;
        done = true;
        watcher.close();
        clearTimeout(stallTimer);
        resolve(result);
      };
      const armStall = () => {
        clearTimeout(stallTimer);
        stallTimer = setTimeout(() => finish('stalled'), stallMs);
      };
      const check = () => {
        if (done) return;
        const lines = this.update();
        if (lines > seen) {
          seen = lines;
          armStall();
        }
        if (lines >= target) finish('reached');
      };
      const watcher = fs.watch(this.file, check);
      void stop.then(() => finish('stopped'));
      armStall();
      check();
    });
  }
}

/** Whether the store is a PostgreSQL URL (else a SQLite file). */
export function isStoreUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location);
}

/**
 * The inode of the PID namespace of the first child of `pid` (for `unshare --fork`: the
 * namespace's init, the runtime), as a host identity ends with it; `null` before it exists.
 */
export function childNamespace(pid: number): string | null {
  const children = `/proc/${pid}/task/${pid}/children`;
  try {
    const [child] = fs.readFileSync(children, 'utf8').trim().split(/\s+/);
    if (child === undefined || child === '') return null;
    return /\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${child}/ns/pid`))?.[1] ?? null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw error;
  }
}

/** Whether `runtime` is the one `incarnation` registered: by pid, or (hosts) by its PID namespace. */
export function registeredBy(incarnation: Incarnation, runtime: RuntimeRecord): boolean {
  if (incarnation.namespace === null) return runtime.pid === incarnation.pid;
  return runtime.hostId?.endsWith(`/pid:${incarnation.namespace}`) === true;
}

/**
 * Opens the store read-only, or returns `null` while it does not exist yet or is still being
 * created (its schema is not at the current version: a read-only connection refuses that).
 * A PostgreSQL store is opened as it is (it connects on first use).
 */
export function openStoreIfReady(storeFile: string): Store | null {
  if (isStoreUrl(storeFile)) return openStoreAt(storeFile, { readonly: true });
  if (!fs.existsSync(storeFile)) return null;
  try {
    return openStoreAt(storeFile, { readonly: true });
  } catch (error) {
    if (error instanceof StoreVersionError && error.found < error.expected) return null;
    throw error;
  }
}

/**
 * Resolves `true` once `incarnation`'s runtime is registered in the store ({@link registeredBy}),
 * watching the store's folder (every committed transaction touches its WAL file), or for a
 * PostgreSQL store looking every 100 ms; `false` when `stop` settles or after `timeoutMs`.
 */
export function whenRegistered(storeFile: string, incarnation: Incarnation, hosts: boolean, stop: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let done = false;
    let store: Store | null = null;
    const finish = (registered: boolean | Error) => {
      if (done) return;
      done = true;
      watcher?.close();
      clearInterval(poll);
      clearTimeout(timer);
      const closing = store?.close();
      store = null;
      void (closing ?? Promise.resolve()).then(
        () => (registered instanceof Error ? reject(registered) : resolve(registered)),
        (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
      );
    };
    const check = () => {
      if (done) return;
      const look = async (): Promise<void> => {
        if (hosts) incarnation.namespace ??= childNamespace(incarnation.pid);
        if (hosts && incarnation.namespace === null) return;
        store ??= openStoreIfReady(storeFile);
        if (store === null) return;
        if ((await store.listRuntimes()).some((runtime) => registeredBy(incarnation, runtime))) finish(true);
      };
      look().catch((error: unknown) => finish(error instanceof Error ? error : new Error(String(error))));
    };
    const url = isStoreUrl(storeFile);
    if (!url) fs.mkdirSync(path.dirname(storeFile), { recursive: true });
    // Only the writers' files: every commit appends to the WAL. (Our own read-only opens touch
    // the shared-memory file, which must not wake us up again.)
    const names = new Set([path.basename(storeFile), `${path.basename(storeFile)}-wal`]);
    const watcher = url ? null : fs.watch(path.dirname(storeFile), (_event, name) => {
      if (name === null || names.has(name)) check();
    });
    // A PostgreSQL store has no file to watch; a namespace's runtime appears a moment after its `unshare`.
    const poll = url || hosts ? setInterval(check, 100) : undefined;
    const timer = setTimeout(() => finish(false), timeoutMs);
    void stop.then(() => finish(false));
    check();
  });
}

