/**
 * The runtime side of the turn spawner (`native/turn-spawner.c`): one small process per runtime
 * process that forks the turn shims for it. Forking the runtime itself costs it about 12-16 ms
 * of CPU per turn (page tables of a few hundred MiB); the spawner's fork costs well under a
 * millisecond (docs/benchmarks.md, B5 and B6).
 *
 * The spawner starts each shim as a session of its own (its own process group, as
 * `spawn(..., { detached: true })` would), from `/`, with the given environment only, its stdin
 * read from a file (or /dev/null), its stdout to /dev/null and its stderr appended to a file.
 * It is the shims' parent, so it reports each one's end, which the runner awaits as it would a
 * child's `exit` event. When the runtime process ends, the spawner sees its stdin close and
 * exits; the shims live on (a turn outlives its runtime) and are adopted by the next runtime.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** What to start: `argv[0]` is the program's absolute path (never looked up in PATH). */
export interface SpawnRequest {
  readonly argv: readonly string[];
  /** The whole environment of the process (nothing else is inherited). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** File the process reads as stdin; `null`: /dev/null. */
  readonly stdinPath: string | null;
  /** File the process's stderr is appended to (created when missing). */
  readonly stderrPath: string;
}

/** A started process. */
export interface Spawned {
  readonly pid: number;
  /**
   * Resolves when it ended, as Node words a child's end: the signal's name (`SIGKILL`) or
   * `exit code <n>`; or with `null` when the spawner itself ended first (the process is then no
   * longer anyone's child here: the caller watches its liveness instead).
   */
  readonly exited: Promise<string | null>;
}

/** Thrown when the spawner did not start the process: `code` is the errno's name (`ENOENT`, `EACCES`, …), as Node's spawn errors carry it. */
export class SpawnError extends Error {
  constructor(
    readonly code: string,
    program: string,
  ) {
    super(`spawn ${program} ${code}`);
    this.name = 'SpawnError';
  }
}

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, number]) => [number, name]));
const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, number]) => [number, name]));

/**
 * One spawner process and the bookkeeping of its answers: starts are answered in order (a FIFO
 * of waiters), ends by pid. While a start or an end is awaited, its stdout keeps the event loop
 * alive; otherwise it does not hold the runtime process open.
 */
class SpawnerProcess {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly starts: { resolve: (spawned: Spawned) => void; reject: (error: Error) => void; program: string }[] = [];
  private readonly ends = new Map<number, (how: string | null) => void>();
  private partial = '';
  gone: Error | null = null;

  constructor(path: string) {
    this.child = spawn(path, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.unref();
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (text: string) => this.receive(text));
    this.child.stdout.once('close', () => this.end(new Error(`the turn spawner ${path} ended${this.child.exitCode === null ? '' : ` with exit code ${this.child.exitCode}`}`)));
    this.child.once('error', (error) => this.end(error));
    // EPIPE once it is gone: its stdout's close reports that.
    this.child.stdin.on('error', () => undefined);
    // The spawner never holds the runtime process open: only an awaited answer does (holdLoop).
    (this.child.stdin as unknown as Socket).unref();
    this.holdLoop();
  }

  start(request: SpawnRequest): Promise<Spawned> {
    const env = Object.entries(request.env).flatMap(([key, value]) => (value === undefined ? [] : [`${key}=${value}`]));
    const fields = [request.stdinPath ?? '', request.stderrPath, String(request.argv.length), ...request.argv, String(env.length), ...env];
    const bad = fields.findIndex((field) => field.includes('\0'));
    if (bad >= 0) return Promise.reject(new TypeError(`cannot spawn ${request.argv[0] ?? '?'}: an argument or environment entry holds a NUL byte`));
    const payload = Buffer.from(`${fields.join('\0')}\0`, 'utf8');
    const header = Buffer.alloc(4);
    header.writeUInt32LE(payload.length);
    return new Promise<Spawned>((resolve, reject) => {
      this.starts.push({ resolve, reject, program: request.argv[0] ?? '?' });
      this.holdLoop();
      this.child.stdin.write(Buffer.concat([header, payload]));
    });
  }

  /** Closes its stdin: the spawner exits; shims it started live on. */
  close(): void {
    this.child.stdin.end();
  }

  private receive(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      const [kind, first, second, third] = line.split(' ');
      if (kind === 'S' || kind === 'E') {
        const waiter = this.starts.shift();
        if (waiter === undefined) continue;
        if (kind === 'E') {
          waiter.reject(new SpawnError(ERRNO_NAMES.get(Number(first)) ?? `errno ${first}`, waiter.program));
        } else {
          const pid = Number(first);
          const exited = new Promise<string | null>((resolve) => this.ends.set(pid, resolve));
          waiter.resolve({ pid, exited });
        }
      } else if (kind === 'X') {
        const pid = Number(first);
        const signal = Number(third);
        const done = this.ends.get(pid);
        this.ends.delete(pid);
        done?.(signal !== 0 ? (SIGNAL_NAMES.get(signal) ?? `signal ${signal}`) : `exit code ${second}`);
      }
    }
    this.holdLoop();
  }

  private end(error: Error): void {
    if (this.gone !== null) return;
    this.gone = error;
    for (const waiter of this.starts.splice(0)) waiter.reject(error);
    for (const done of this.ends.values()) done(null);
    this.ends.clear();
    this.holdLoop();
  }

  /** Keeps the event loop alive exactly while an answer is awaited. */
  private holdLoop(): void {
    const waiting = this.gone === null && (this.starts.length > 0 || this.ends.size > 0);
    // A child's stdio pipe is a net.Socket, which can be unref'd.
    const pipe = this.child.stdout as unknown as Socket;
    if (waiting) pipe.ref();
    else pipe.unref();
  }
}

let shared: SpawnerProcess | null = null;
let spawnerPath: string | null = null;

/**
 * Starts a process through this runtime process's turn spawner (started on first use, and again
 * if it ended).
 * @throws SpawnError when the program (or the stdin or stderr file) could not be opened or
 *   executed; TypeError for an argument holding a NUL byte; Error when the spawner is not built
 *   (`npm run build`) or ended before answering.
 */
export function spawnDetached(request: SpawnRequest): Promise<Spawned> {
  if (shared === null || shared.gone !== null) shared = new SpawnerProcess(turnSpawnerPath());
  return shared.start(request);
}

/**
 * Absolute path of the compiled turn spawner: beside this module when it runs from `dist/`, or
 * `dist/actors/turn-spawner` when it runs from its TypeScript source (tests).
 * @throws Error when neither exists (run `npm run build`; it needs a C compiler).
 */
function turnSpawnerPath(): string {
  if (spawnerPath !== null) return spawnerPath;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'turn-spawner'), join(here, '..', 'dist', 'actors', 'turn-spawner')];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) throw new Error(`turn spawner not found at ${candidates.join(' or ')}: run \`npm run build\` (it compiles native/turn-spawner.c with cc)`);
  spawnerPath = found;
  return found;
}
