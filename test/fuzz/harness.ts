/**
 * The crash fuzzer shared by `test/crashFuzz.test.ts` (bounded) and `npm run soak` (long).
 *
 * Two `statecrew run` processes share one store over a generated plan of units that log their
 * own execution (`fuzz-unit.mjs`: the lines of `fixtures/tick-logger.mjs` plus the turn's
 * dispatch id and fencing token; a few units fail on purpose). A killer loop SIGKILLs one of
 * the two at random moments and starts a fresh process in its place; then both are left to
 * finish. Everything random (the plan, unit durations, which runtime dies, when) comes from
 * one seeded PRNG, so a run is reproducible from its seed up to OS scheduling.
 *
 * After every restart and at the end the tick log and then the store (read-only) are checked:
 *   1. one holder: per milestone, the fencing tokens of the lease actors that reached `held`,
 *      ordered by when they did, strictly increase, and no two lease actors share a token;
 *   2. one active dispatch per unit: a unit's dispatch is never created while an earlier one
 *      of the unit is not yet final (journal), and the projection never shows two active;
 *   3. fencing: no `claimed`/`running`/`completed` dispatch row carries a token lower than one
 *      already granted (recorded `held`) for its milestone before that row was written, nor a
 *      token that no lease of its worker held; every execution ran under its claim's token;
 *   4. no two executions of a unit at once, executions of one milestone one at a time, every
 *      execution inside the claimed life of its own dispatch, and nothing of a unit after its
 *      completion was recorded;
 * and at the end only:
 *   5. every unit completed, except the designed always-failing one, which failed with a reason;
 *   6. no orphan: no live process carries the run's marker or the store's turn key, no pid of
 *      the tick log is alive, no runtime is left `running` in the registry, no actor active;
 *   7. both last runtimes exited with the expected code (1 when a unit fails by design, else 0);
 * and throughout: no runtime exits by itself with another code, the tick log keeps growing
 * while killing, and the run ends within `finishTimeoutMs` of the last kill.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../persistence/sqliteStore.js';
import type { DispatchProjection } from '../../persistence/types.js';
import { StoreVersionError } from '../../src/errors.js';
import { readStatus } from '../../src/status.js';
import { executionSpans, overlaps, type Tick } from '../helpers/ticks.js';

/** Options of {@link runCrashFuzz}. Durations in ms unless named otherwise. */
export interface FuzzOptions {
  /** Seed of every random choice. */
  readonly seed: number;
  /** SIGKILLs to deliver (fewer only if the plan finishes first; see {@link FuzzReport.kills}). */
  readonly kills: number;
  /** Units in the plan (at least 2). */
  readonly units: number;
  /** Units per milestone. @default 10 */
  readonly unitsPerMilestone?: number;
  /** Shortest and longest unit run time. @default 20, 150 */
  readonly minUnitMs?: number;
  readonly maxUnitMs?: number;
  /** Units that fail their first attempt (STATECREW_ATTEMPT=1). @default 3 */
  readonly failFirstUnits?: number;
  /** Add one unit that always fails (maxAttempts 2), last in the last milestone. @default true */
  readonly alwaysFailUnit?: boolean;
  /** Probability that a milestone depends on an earlier one. @default 0.3 */
  readonly dependencyRate?: number;
  /** Worker pool of each runtime. @default 2 */
  readonly workers?: number;
  /** `--heartbeat-ttl` and `--lease-ttl` of every runtime. @default '1s', '3s' */
  readonly heartbeatTtl?: string;
  readonly leaseTtl?: string;
  /** Random delay before each kill, drawn from [min, max] (the fuzzing input). @default 0, 300 */
  readonly minKillDelayMs?: number;
  readonly maxKillDelayMs?: number;
  /** Random delay between a kill and the restart, from [0, max]. @default 300 */
  readonly maxRestartDelayMs?: number;
  /** Share of kills that do not wait for the victim to register its runtime (they often strike during startup). @default 0.2 */
  readonly startupKillRate?: number;
  /** Run checks 1–4 after every restart (else at the end only). @default true */
  readonly checkEveryRestart?: boolean;
  /** Start both runtimes at the same instant on the fresh store (see the report on the creation race). @default false */
  readonly simultaneousStart?: boolean;
  /** Limit for the run to finish after the last kill. @default 60_000 */
  readonly finishTimeoutMs?: number;
  /** Limit of silence of the tick log while killing before the run counts as hung. @default 30_000 */
  readonly stallTimeoutMs?: number;
  /** Keep the temp folder (it is always kept when a violation was found). @default false */
  readonly keepDir?: boolean;
  /** Progress lines (kills, restarts, checks). */
  readonly log?: (line: string) => void;
}

/** What a fuzz run observed. `violations` empty means every check passed. */
export interface FuzzReport {
  readonly seed: number;
  /** The temp folder (store, plan, tick log, each runtime's output), when it was kept; else `null`. */
  readonly dir: string | null;
  readonly units: number;
  readonly milestones: number;
  readonly killsRequested: number;
  /** SIGKILLs delivered to a live `statecrew run`; each was followed by a restart. */
  readonly kills: number;
  /** `statecrew run` processes started (2 + kills). */
  readonly incarnations: number;
  /** Runtimes the store's registry records as declared dead and taken over. */
  readonly takeovers: number;
  /** Kills that hit a process before it registered its runtime in the store (during startup). */
  readonly startupKills: number;
  /** Turn executions seen in the tick log (one per process). */
  readonly executions: number;
  /** Executions beyond one per unit and one per designed failure: repeated because of crashes. */
  readonly repeatedExecutions: number;
  /** Of those, executions killed before their end (orphans of an unrecorded start). */
  readonly interruptedExecutions: number;
  /**
   * Of those, executions that ran again under the same dispatch: the first run's start was never
   * recorded (the runtime died between the spawn and its record) and it had already ended when a
   * new owner restored the worker, so nothing in the store tells of it.
   */
  readonly sameDispatchReruns: number;
  /** Units with at least one repeated execution. */
  readonly unitsRepeated: number;
  /** One line per repeated unit: its executions (run label, pid, span, ended or killed) and dispatches. */
  readonly repeats: readonly string[];
  /** Executions that failed on purpose (flaky units). */
  readonly designedFailures: number;
  readonly completedUnits: number;
  readonly failedUnits: readonly string[];
  readonly dispatches: number;
  /** Dispatches ended `failed` because their turn was lost to a crash (outcome `lost`). */
  readonly lostDispatches: number;
  /** Dispatches ended `failed` as abandoned or fenced (no turn result). */
  readonly abandonedDispatches: number;
  /** Lease actors that reached `held` (each a new fencing token). */
  readonly leaseGrants: number;
  readonly journalRows: number;
  /** Check passes run (after restarts and at the end). */
  readonly checks: number;
  readonly durationMs: number;
  /** Descriptions of every invariant violation or harness failure; empty = pass. */
  readonly violations: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness and the plan

/** A small seeded PRNG (mulberry32). */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
}

export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}

export type UnitKind = 'ok' | 'fail-first' | 'always';

export interface PlannedUnit {
  readonly id: string;
  readonly milestoneId: string;
  readonly ms: number;
  readonly kind: UnitKind;
}

export interface PlannedMilestone {
  readonly id: string;
  readonly dependsOn: readonly string[];
  readonly units: readonly PlannedUnit[];
}

/** `fixtures/tick-logger.mjs` plus the turn's dispatch id, fencing token and attempt, and failure modes. */
const FUZZ_UNIT = fileURLToPath(new URL('./fuzz-unit.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../../bin/statecrew.js', import.meta.url));
/** Environment marker every process of one fuzz run inherits (runtimes, shims, turns). */
const MARKER = 'STATECREW_FUZZ_RUN';

function generatePlan(rng: Rng, options: Required<Pick<FuzzOptions, 'units' | 'unitsPerMilestone' | 'minUnitMs' | 'maxUnitMs' | 'failFirstUnits' | 'alwaysFailUnit' | 'dependencyRate'>>): PlannedMilestone[] {
  const count = Math.max(1, Math.ceil(options.units / options.unitsPerMilestone));
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  const milestones: { id: string; dependsOn: string[]; units: PlannedUnit[] }[] = [];
  for (let m = 0; m < count; m++) {
    const id = `m${pad(m + 1, String(count).length)}`;
    const size = Math.floor(options.units / count) + (m < options.units % count ? 1 : 0);
    const dependsOn = m > 0 && rng.next() < options.dependencyRate ? [milestones[rng.int(0, m - 1)]!.id] : [];
    const units: PlannedUnit[] = [];
    for (let u = 0; u < size; u++) {
      units.push({ id: `${id}/u${pad(u + 1, String(size).length)}`, milestoneId: id, ms: rng.int(options.minUnitMs, options.maxUnitMs), kind: 'ok' });
    }
    milestones.push({ id, dependsOn, units });
  }
  // The always-failing unit is the last of the last milestone: dependencies only point to
  // earlier milestones, so nothing is blocked by it.
  const last = milestones.at(-1)!;
  if (options.alwaysFailUnit) last.units[last.units.length - 1] = { ...last.units.at(-1)!, kind: 'always' };
  const candidates = milestones.flatMap((m, mi) => m.units.map((unit, ui) => ({ mi, ui, unit }))).filter((c) => c.unit.kind === 'ok');
  for (let i = 0; i < options.failFirstUnits && candidates.length > 0; i++) {
    const [picked] = candidates.splice(rng.int(0, candidates.length - 1), 1);
    if (picked !== undefined) milestones[picked.mi]!.units[picked.ui] = { ...picked.unit, kind: 'fail-first' };
  }
  return milestones;
}

function planDocument(milestones: readonly PlannedMilestone[], ticksFile: string, workers: number): string {
  const command = (unit: PlannedUnit): string[] => [process.execPath, FUZZ_UNIT, ticksFile, String(unit.ms), unit.kind];
  // JSON is YAML: the plan loader reads it as any other plan.
  return JSON.stringify(
    {
      version: 1,
      workers,
      store: 'state/statecrew.db',
      defaults: { retryBackoff: '50ms' },
      milestones: milestones.map((m) => ({
        id: m.id,
        ...(m.dependsOn.length === 0 ? {} : { dependsOn: m.dependsOn }),
        units: m.units.map((unit) => ({ id: unit.id, command: command(unit), ...(unit.kind === 'always' ? { maxAttempts: 2 } : {}) })),
      })),
    },
    null,
    2,
  );
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface Incarnation {
  readonly label: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly outFile: string;
  readonly startedAt: number;
  readonly exit: Promise<Exit>;
  exited: Exit | null;
  killed: boolean;
}

interface RunContext {
  readonly dir: string;
  readonly marker: string;
  readonly args: readonly string[];
}

function startIncarnation(ctx: RunContext, label: string): Incarnation {
  const outFile = path.join(ctx.dir, 'out', `${label}.log`);
  const fd = fs.openSync(outFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [CLI, 'run', 'plan.yaml', ...ctx.args], {
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
  const incarnation: Incarnation = { label, child, pid: child.pid ?? -1, outFile, startedAt: Date.now(), exit, exited: null, killed: false };
  void exit.then((result) => {
    incarnation.exited = result;
  });
  return incarnation;
}

function tail(file: string, lines = 8): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n    ');
  } catch (error) {
    return `(no output: ${(error as Error).message})`;
  }
}

/** A live (non-zombie) process of this machine with its command line. */
interface LiveProcess {
  readonly pid: number;
  readonly state: string;
  readonly cmdline: string;
}

function readProc(pid: number): { state: string; environ: string[]; cmdline: string } | null {
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
function findRunProcesses(marker: string, storeId: string | null): LiveProcess[] {
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
function isRunProcessAlive(pid: number, marker: string): boolean {
  const info = readProc(pid);
  return info !== null && info.state !== 'Z' && info.state !== 'X' && info.environ.includes(`${MARKER}=${marker}`);
}

// ---------------------------------------------------------------------------------------------
// The tick log, watched

class TickLog {
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

/**
 * Opens the store read-only, or returns `null` while it does not exist yet or is still being
 * created (its schema is not at the current version: a read-only connection refuses that).
 */
function openStoreIfReady(storeFile: string): SqliteStore | null {
  if (!fs.existsSync(storeFile)) return null;
  try {
    return SqliteStore.fromPath(storeFile, { readonly: true });
  } catch (error) {
    if (error instanceof StoreVersionError && error.found < error.expected) return null;
    throw error;
  }
}

/**
 * Resolves `true` once a runtime with `pid` is registered in the store, watching the store's
 * folder (every committed transaction touches its WAL file); `false` when `stop` settles or
 * after `timeoutMs`.
 */
function whenRegistered(storeFile: string, pid: number, stop: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let done = false;
    let store: SqliteStore | null = null;
    const finish = (registered: boolean | Error) => {
      if (done) return;
      done = true;
      watcher.close();
      clearTimeout(timer);
      store?.close();
      if (registered instanceof Error) reject(registered);
      else resolve(registered);
    };
    const check = () => {
      if (done) return;
      try {
        store ??= openStoreIfReady(storeFile);
        if (store?.listRuntimes().some((runtime) => runtime.pid === pid) === true) finish(true);
      } catch (error) {
        finish(error instanceof Error ? error : new Error(String(error)));
      }
    };
    fs.mkdirSync(path.dirname(storeFile), { recursive: true });
    // Only the writers' files: every commit appends to the WAL. (Our own read-only opens touch
    // the shared-memory file, which must not wake us up again.)
    const names = new Set([path.basename(storeFile), `${path.basename(storeFile)}-wal`]);
    const watcher = fs.watch(path.dirname(storeFile), (_event, name) => {
      if (name === null || names.has(name)) check();
    });
    const timer = setTimeout(() => finish(false), timeoutMs);
    void stop.then(() => finish(false));
    check();
  });
}

// ---------------------------------------------------------------------------------------------
// Checks

const FINAL_DISPATCH = new Set(['completed', 'failed', 'stuck', 'canceled', 'quarantined']);
const ACTIVE_DISPATCH = new Set(['pending', 'claimed', 'running']);
const FENCED_DISPATCH = new Set(['claimed', 'running', 'completed']);

const top = (state: string): string => state.split('.')[0] ?? state;

/** One journal row of a lease or dispatch actor, with the context of its snapshot. */
export interface Row {
  readonly actorId: string;
  readonly seq: number;
  readonly eventType: string;
  readonly fromState: string | null;
  readonly toState: string;
  readonly at: number;
  readonly context: Record<string, unknown>;
}

export interface Grant {
  readonly leaseId: string;
  readonly milestoneId: string;
  readonly workerId: string;
  readonly token: number;
  readonly heldAt: number;
}

function formatRow(row: Row): string {
  const token = row.context.fencingToken;
  const worker = row.context.workerId;
  const reason = row.context.endReason;
  return `${row.actorId} #${row.seq} at ${row.at} ${row.eventType}: ${row.fromState ?? '∅'} → ${row.toState}` +
    `${worker === undefined ? '' : ` worker=${JSON.stringify(worker)}`}${token === undefined ? '' : ` token=${JSON.stringify(token)}`}` +
    `${typeof reason === 'string' ? ` reason=${JSON.stringify(reason)}` : ''}`;
}

function readRows(store: SqliteStore, kind: 'lease' | 'dispatch'): Row[] {
  const rows: Row[] = [];
  for (const record of store.queryJournal({ kind, snapshots: true })) {
    const snapshot = JSON.parse(record.snapshot ?? '{}') as { context?: Record<string, unknown> };
    rows.push({
      actorId: record.actorId,
      seq: record.seq,
      eventType: record.eventType,
      fromState: record.fromState,
      toState: record.toState,
      at: record.at,
      context: snapshot.context ?? {},
    });
  }
  return rows;
}

function groupBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list === undefined) groups.set(k, [item]);
    else list.push(item);
  }
  return groups;
}

const dispatchNumber = (id: string): number => Number(id.slice(id.lastIndexOf('#') + 1));

/** A dispatch's life in the journal: from its creation row to its first final row (`null`: not final yet). */
export interface DispatchLife {
  readonly id: string;
  readonly createdAt: number;
  /** When it was claimed, by whom, under which token (`null`: never claimed). */
  readonly claimedAt: number | null;
  readonly claimToken: number | null;
  readonly endedAt: number | null;
  readonly completedAt: number | null;
  readonly rows: Row[];
}

interface StoreFacts {
  readonly grants: Grant[];
  /** Per unit, its dispatches in creation order. */
  readonly dispatches: ReadonlyMap<string, readonly DispatchLife[]>;
  readonly journalRows: number;
}

/** Checks 1–3 over the whole journal and the dispatch projection. */
function checkJournal(store: SqliteStore, final: boolean, violations: string[]): StoreFacts {
  const history: History = { leaseRows: readRows(store, 'lease'), dispatchRows: readRows(store, 'dispatch'), projection: store.listDispatches() };
  return { ...checkHistory(history, final, violations), journalRows: store.journalSize() };
}

/** What checks 1–3 read: the journal rows of lease and dispatch actors and the dispatch projection. */
export interface History {
  readonly leaseRows: readonly Row[];
  readonly dispatchRows: readonly Row[];
  readonly projection: readonly Pick<DispatchProjection, 'id' | 'unitId' | 'state'>[];
}

/** Checks 1–3 over a journal; pushes one line per violation. `final`: the run is over, nothing may be active. */
export function checkHistory(history: History, final: boolean, violations: string[]): Omit<StoreFacts, 'journalRows'> {
  const { leaseRows, dispatchRows, projection } = history;

  // 1. One holder: tokens of the lease actors that reached `held`, per milestone.
  const grants: Grant[] = [];
  for (const [leaseId, rows] of groupBy(leaseRows, (r) => r.actorId)) {
    const held = rows.filter((r) => top(r.toState) === 'held');
    if (held.length === 0) continue;
    const tokens = new Set(held.map((r) => r.context.fencingToken));
    const [token] = tokens;
    if (tokens.size !== 1 || typeof token !== 'number') {
      violations.push(`[1 one holder] lease ${leaseId} was held under several or no tokens: ${[...tokens].map(String).join(', ')}\n    ${held.map(formatRow).join('\n    ')}`);
      continue;
    }
    const first = held[0]!;
    grants.push({ leaseId, milestoneId: String(first.context.milestoneId), workerId: String(first.context.workerId), token, heldAt: first.at });
  }
  const grantsByMilestone = groupBy(grants, (g) => g.milestoneId);
  for (const [milestoneId, list] of grantsByMilestone) {
    list.sort((a, b) => a.heldAt - b.heldAt || a.token - b.token);
    const byToken = new Map<number, Grant>();
    for (const grant of list) {
      const other = byToken.get(grant.token);
      if (other !== undefined) {
        violations.push(`[1 one holder] milestone ${milestoneId}: leases ${other.leaseId} (${other.workerId}, held at ${other.heldAt}) and ${grant.leaseId} (${grant.workerId}, held at ${grant.heldAt}) both hold fencing token ${grant.token}`);
      }
      byToken.set(grant.token, grant);
    }
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1]!;
      const current = list[i]!;
      if (current.token < previous.token) {
        violations.push(`[1 one holder] milestone ${milestoneId}: token ${current.token} (${current.leaseId}, held at ${current.heldAt}) came after token ${previous.token} (${previous.leaseId}, held at ${previous.heldAt}): not strictly increasing`);
      }
    }
  }

  // 2. One active dispatch per unit: never created while an earlier one is not final.
  const dispatchesByUnit = new Map<string, DispatchLife[]>();
  for (const [dispatchId, rows] of groupBy(dispatchRows, (r) => r.actorId)) {
    rows.sort((a, b) => a.seq - b.seq);
    const first = rows[0]!;
    if (first.seq !== 1 || first.eventType !== 'xstate.init') {
      violations.push(`[2 one active dispatch] journal of ${dispatchId} does not start with its creation: ${formatRow(first)}`);
    }
    const end = rows.find((r) => FINAL_DISPATCH.has(top(r.toState)));
    const unitId = String(first.context.unitId);
    const list = dispatchesByUnit.get(unitId) ?? [];
    const completed = rows.find((r) => top(r.toState) === 'completed');
    const claimed = rows.find((r) => top(r.toState) === 'claimed' || top(r.toState) === 'running');
    const claimToken = claimed?.context.fencingToken;
    list.push({
      id: dispatchId,
      createdAt: first.at,
      claimedAt: claimed?.at ?? null,
      claimToken: typeof claimToken === 'number' ? claimToken : null,
      endedAt: end?.at ?? null,
      completedAt: completed?.at ?? null,
      rows,
    });
    dispatchesByUnit.set(unitId, list);
    if (final && end === undefined) violations.push(`[2 one active dispatch] ${dispatchId} never reached a final state: last row ${formatRow(rows.at(-1)!)}`);
  }
  for (const [unitId, list] of dispatchesByUnit) {
    list.sort((a, b) => a.createdAt - b.createdAt || dispatchNumber(a.id) - dispatchNumber(b.id));
    for (let k = 1; k < list.length; k++) {
      const current = list[k]!;
      for (let j = 0; j < k; j++) {
        const earlier = list[j]!;
        if (earlier.endedAt === null || earlier.endedAt > current.createdAt) {
          violations.push(
            `[2 one active dispatch] unit ${unitId}: ${current.id} was created at ${current.createdAt} while ${earlier.id} was still active (${earlier.endedAt === null ? 'never final' : `final at ${earlier.endedAt}`})\n    ` +
              [...earlier.rows, ...current.rows].map(formatRow).join('\n    '),
          );
        }
      }
    }
  }
  for (const [unitId, list] of groupBy(projection, (d) => d.unitId)) {
    const active = list.filter((d) => ACTIVE_DISPATCH.has(d.state));
    if (active.length > 1) violations.push(`[2 one active dispatch] unit ${unitId} has ${active.length} active dispatches in the projection: ${active.map((d) => `${d.id} ${d.state}`).join(', ')}`);
    if (final && active.length > 0) violations.push(`[2 one active dispatch] unit ${unitId} still has an active dispatch after the run: ${active.map((d) => `${d.id} ${d.state}`).join(', ')}`);
  }

  // 3. Fencing: a fenced dispatch row carries a token its worker held, never a superseded one.
  for (const row of dispatchRows) {
    if (!FENCED_DISPATCH.has(top(row.toState))) continue;
    const token = row.context.fencingToken;
    const milestoneId = String(row.context.milestoneId);
    const list = grantsByMilestone.get(milestoneId) ?? [];
    if (typeof token !== 'number') {
      violations.push(`[3 fencing] ${formatRow(row)}: a ${top(row.toState)} row without a fencing token`);
      continue;
    }
    const grant = list.find((g) => g.token === token);
    if (grant === undefined) {
      violations.push(`[3 fencing] ${formatRow(row)}: token ${token} was never held by a lease of ${milestoneId}`);
    } else if (grant.workerId !== row.context.workerId) {
      violations.push(`[3 fencing] ${formatRow(row)}: token ${token} belongs to ${grant.leaseId} of ${grant.workerId}`);
    }
    const newer = list.find((g) => g.token > token && g.heldAt < row.at);
    if (newer !== undefined) {
      violations.push(`[3 fencing] ${formatRow(row)}: written after ${newer.leaseId} was granted token ${newer.token} (held at ${newer.heldAt})`);
    }
  }
  return { grants, dispatches: dispatchesByUnit };
}

/** A line of the tick log as `fuzz-unit.mjs` writes it. */
export interface FuzzTick extends Tick {
  readonly dispatch?: string;
  readonly token?: number;
  readonly attempt?: number;
  readonly fail?: boolean;
}

/** One execution (one process) of a unit, with the dispatch and token it ran under. */
interface Execution {
  readonly unit: string;
  readonly pid: number;
  readonly run: string;
  readonly dispatch: string | null;
  readonly token: number | null;
  readonly from: number;
  readonly to: number;
  readonly ended: boolean;
  readonly failedOnPurpose: boolean;
}

function executionsOf(ticks: readonly FuzzTick[]): Execution[] {
  const byProcess = new Map<string, Execution>();
  for (const t of ticks) {
    const key = `${t.unit}\0${t.pid}`;
    const known = byProcess.get(key);
    byProcess.set(key, {
      unit: t.unit,
      pid: t.pid,
      run: known?.run ?? t.run,
      dispatch: known?.dispatch ?? t.dispatch ?? null,
      token: known?.token ?? (typeof t.token === 'number' && Number.isFinite(t.token) ? t.token : null),
      from: Math.min(known?.from ?? t.t, t.t),
      to: Math.max(known?.to ?? t.t, t.t),
      ended: (known?.ended ?? false) || t.event === 'end',
      failedOnPurpose: (known?.failedOnPurpose ?? false) || (t.event === 'end' && t.fail === true),
    });
  }
  return [...byProcess.values()].sort((a, b) => a.from - b.from);
}

function describeExecution(e: Execution): string {
  return `${e.run}/pid ${e.pid} [${e.from}, ${e.to}]${e.ended ? '' : ' killed'} in ${e.dispatch ?? '?'} under token ${e.token ?? '?'}`;
}

/** At most `limit` items joined, then how many more. */
function capped(items: readonly string[], limit: number, separator = '; '): string {
  return items.length <= limit ? items.join(separator) : `${items.slice(0, limit).join(separator)}${separator}… and ${items.length - limit} more`;
}

/**
 * Check 4 over the tick log: no two executions of a unit at once, executions of one milestone
 * one at a time, every execution inside the claimed life of its own dispatch (a turn is spawned
 * after its dispatch's claim was recorded, and is gone — ended, or killed and verified gone —
 * before the dispatch is recorded final) and under the token of that claim, and nothing of a
 * unit after its completion was recorded. The tick log must be read before the store.
 */
export function checkTicks(ticks: readonly FuzzTick[], plan: readonly PlannedMilestone[], dispatches: ReadonlyMap<string, readonly DispatchLife[]>, violations: string[]): void {
  for (const overlap of overlaps(ticks)) violations.push(`[4 concurrent executions] ${overlap}`);
  for (const milestone of plan) {
    const spans = milestone.units.flatMap((unit) => executionSpans(ticks, unit.id).map((span) => ({ ...span, unit: unit.id })));
    spans.sort((a, b) => a.from - b.from);
    let latest: (typeof spans)[number] | undefined;
    for (const span of spans) {
      if (latest !== undefined && span.from <= latest.to && span.unit !== latest.unit) {
        violations.push(`[4 concurrent executions] milestone ${milestone.id}: ${latest.unit} (pid ${latest.pid}, run ${latest.run}) [${latest.from}, ${latest.to}] and ${span.unit} (pid ${span.pid}, run ${span.run}) from ${span.from}`);
      }
      if (latest === undefined || span.to > latest.to) latest = span;
    }
  }
  for (const [unitId, unitTicks] of groupBy(ticks, (t) => t.unit)) {
    const lives = dispatches.get(unitId) ?? [];
    const completedAt = lives.find((d) => d.completedAt !== null)?.completedAt ?? null;
    const late = completedAt === null ? [] : unitTicks.filter((t) => t.t > completedAt);
    if (late.length > 0) {
      violations.push(`[4 executed again] ${unitId} completed at ${completedAt} but ran again: ${late.slice(0, 3).map((t) => `${t.event} pid ${t.pid} run ${t.run} at ${t.t}`).join('; ')}`);
    }
    for (const execution of executionsOf(unitTicks)) {
      const own = lives.find((d) => d.id === execution.dispatch);
      if (own === undefined) {
        violations.push(`[4 execution outside its dispatch] ${unitId}: ${describeExecution(execution)}: no such dispatch in the journal`);
        continue;
      }
      const life = `${own.id} claimed at ${own.claimedAt ?? 'never'} under token ${own.claimToken ?? '?'}, final at ${own.endedAt ?? 'not yet'}`;
      if (own.claimedAt === null || execution.from < own.claimedAt || (own.endedAt !== null && execution.to > own.endedAt)) {
        violations.push(`[4 execution outside its dispatch] ${unitId}: ${describeExecution(execution)}; ${life}\n    ${capped(own.rows.map(formatRow), 8, '\n    ')}`);
      }
      if (own.claimToken !== null && execution.token !== own.claimToken) {
        violations.push(`[3 fencing] ${unitId}: ${describeExecution(execution)} but ${life}`);
      }
    }
  }
}

/** The tick log's complete lines (a line being appended right now is left for the next read). */
function readCompleteTicks(file: string): FuzzTick[] {
  const text = fs.readFileSync(file, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FuzzTick);
}


/** The store's active actors (with a worker's lease) and running runtimes, to explain a run that does not end. */
function describeActive(storeFile: string): string {
  const store = openStoreIfReady(storeFile);
  if (store === null) return 'the store was never created';
  try {
    const actors = store.listActiveActors().map((actor) => {
      const context = (JSON.parse(actor.snapshot) as { context?: { leaseId?: unknown; milestoneId?: unknown } }).context;
      const lease = typeof context?.leaseId === 'string' ? store.getActor(context.leaseId) : undefined;
      const leaseText = lease === undefined ? '' : `, lease ${lease.id} ${lease.state} (${lease.status}, owner ${lease.owner ?? 'none'})`;
      return `${actor.id} ${actor.kind} ${actor.state} (owner ${actor.owner ?? 'none'}${leaseText})`;
    });
    const running = store.listRuntimes().filter((r) => r.state === 'running').map((r) => `${r.id} (pid ${r.pid})`);
    return `active actors: ${actors.join('; ') || 'none'}; running runtimes: ${running.join(', ') || 'none'}`;
  } finally {
    store.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The run

/**
 * Runs one crash-fuzz campaign: two runtimes on one store, `kills` SIGKILLs with restarts,
 * checks after every restart and at the end. Never throws for a failed check: every failure is
 * a line of {@link FuzzReport.violations}.
 */
export async function runCrashFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const rng = createRng(options.seed);
  const settings = {
    units: options.units,
    unitsPerMilestone: options.unitsPerMilestone ?? 10,
    minUnitMs: options.minUnitMs ?? 20,
    maxUnitMs: options.maxUnitMs ?? 150,
    failFirstUnits: options.failFirstUnits ?? 3,
    alwaysFailUnit: options.alwaysFailUnit ?? true,
    dependencyRate: options.dependencyRate ?? 0.3,
  };
  if (settings.units < 2) throw new RangeError('a fuzz plan needs at least 2 units');
  const minKillDelay = options.minKillDelayMs ?? 0;
  const maxKillDelay = Math.max(minKillDelay, options.maxKillDelayMs ?? 300);
  const maxRestartDelay = options.maxRestartDelayMs ?? 300;
  const stallMs = options.stallTimeoutMs ?? 30_000;
  const finishTimeoutMs = options.finishTimeoutMs ?? 60_000;
  const checkEveryRestart = options.checkEveryRestart ?? true;
  const startupKillRate = options.startupKillRate ?? 0.2;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecrew-fuzz-'));
  fs.mkdirSync(path.join(dir, 'out'));
  const ticksFile = path.join(dir, 'ticks.jsonl');
  const storeFile = path.join(dir, 'state', 'statecrew.db');
  const plan = generatePlan(rng, settings);
  const units = plan.flatMap((m) => m.units);
  fs.writeFileSync(path.join(dir, 'plan.yaml'), planDocument(plan, ticksFile, options.workers ?? 2));
  const ctx: RunContext = { dir, marker: dir, args: ['--heartbeat-ttl', options.heartbeatTtl ?? '1s', '--lease-ttl', options.leaseTtl ?? '3s'] };
  const tickLog = new TickLog(ticksFile);
  const violations: string[] = [];
  const seen = new Set<string>();
  const addViolations = (found: readonly string[], when: string) => {
    for (const v of found) {
      if (seen.has(v)) continue;
      seen.add(v);
      violations.push(`${v} (found ${when})`);
      log(`VIOLATION ${v}`);
    }
  };
  log(`seed ${options.seed}: ${units.length} units in ${plan.length} milestones, ${options.kills} kills, folder ${dir}`);

  // Every line of the tick log is one 20 ms step of a unit (plus its start and end): the kills
  // are paced so that they are spread over the first 60 % of the log, whatever the plan's size.
  const killBudgetLines = 0.6 * units.reduce((sum, u) => sum + Math.ceil(u.ms / 20) + 2, 0);

  const first = startIncarnation(ctx, 'A1');
  if (options.simultaneousStart !== true) {
    // Two processes creating a fresh store at once race on its schema (see the report): let
    // the first create it and start running before the second opens it.
    await tickLog.waitForLines(1, first.exit, stallMs);
    // The runtimes run dist/ and the harness runs the sources: they must agree on the schema.
    try {
      SqliteStore.fromPath(storeFile, { readonly: true }).close();
    } catch (error) {
      first.child.kill('SIGKILL');
      await first.exit;
      for (const p of findRunProcesses(ctx.marker, null)) process.kill(p.pid, 'SIGKILL');
      throw new Error(`cannot read the store the first runtime created (is dist/ up to date? run \`npm run build\`): ${(error as Error).message}`, { cause: error });
    }
  }
  const slots: Record<'A' | 'B', Incarnation> = { A: first, B: startIncarnation(ctx, 'B1') };
  const generation: Record<'A' | 'B', number> = { A: 1, B: 1 };
  const all: Incarnation[] = [slots.A, slots.B];
  let checks = 0;
  let storeId: string | null = null;

  const runChecks = (final: boolean, when: string): StoreFacts | null => {
    checks++;
    const found: string[] = [];
    let facts: StoreFacts | null = null;
    // At the end the store must open (a StoreVersionError here means dist/ was built from
    // other sources than the harness runs: run `npm run build`).
    // The ticks first: every execution they show was claimed before the store is read.
    const ticks = readCompleteTicks(ticksFile);
    const store = final ? SqliteStore.fromPath(storeFile, { readonly: true }) : openStoreIfReady(storeFile);
    if (store === null) return null;
    try {
      storeId ??= store.storeId();
      facts = checkJournal(store, final, found);
      checkTicks(ticks, plan, facts.dispatches, found);
    } catch (error) {
      found.push(`[harness] checks failed: ${(error as Error).stack ?? String(error)}`);
    } finally {
      store.close();
    }
    addViolations(found, when);
    return facts;
  };

  const unexpectedExit = (incarnation: Incarnation, when: string) => {
    const exit = incarnation.exited;
    if (exit === null || incarnation.killed || exit.code === 0 || exit.code === 1) return false;
    addViolations([`[exit] ${incarnation.label} (pid ${incarnation.pid}) exited with ${exit.code ?? exit.signal} while nobody killed it:\n    ${tail(incarnation.outFile)}`], when);
    return true;
  };

  let kills = 0;
  let linesAtLastKill = 0;
  let timedOut = false;
  try {
    while (kills < options.kills) {
      // A runtime that ended by itself: finished (0/1: the plan is done) or failed (restart it).
      for (const slot of ['A', 'B'] as const) {
        if (slots[slot].exited !== null && unexpectedExit(slots[slot], 'while killing')) {
          slots[slot] = startIncarnation(ctx, `${slot}${++generation[slot]}`);
          all.push(slots[slot]);
        }
      }
      const live = (['A', 'B'] as const).filter((slot) => slots[slot].exited === null);
      if (live.length === 0) break;
      // The victim first; most kills wait until it registered (else half of them would hit
      // processes still loading), some are left to strike during startup.
      const slot = live[rng.int(0, live.length - 1)]!;
      const victim = slots[slot];
      const victimStarted = victim.startedAt;
      const anyExit = Promise.race(live.map((s) => slots[s].exit));
      // Behind schedule (more of the log used up than of the kills delivered): shorter waits.
      const behind = tickLog.update() / killBudgetLines > kills / options.kills;
      const pace = behind ? 0.3 : 1;
      const registered = rng.next() >= (behind ? Math.max(startupKillRate, 0.5) : startupKillRate);
      if (registered && !(await whenRegistered(storeFile, victim.pid, anyExit, stallMs))) {
        if (victim.exited === null && slots[slot === 'A' ? 'B' : 'A'].exited === null) {
          addViolations([`[progress] ${victim.label} (pid ${victim.pid}) did not register its runtime within ${stallMs} ms:\n    ${tail(victim.outFile)}`], 'while killing');
          break;
        }
        continue;
      }
      const perKill = Math.max(0, killBudgetLines - tickLog.update()) / (options.kills - kills);
      const target = linesAtLastKill + rng.int(0, Math.floor(perKill / 2));
      const waited = await tickLog.waitForLines(target, anyExit, stallMs);
      if (waited === 'stalled') {
        addViolations([`[progress] the tick log did not grow for ${stallMs} ms with ${live.map((s) => slots[s].label).join(' and ')} running (${kills} kills so far)`], 'while killing');
        break;
      }
      if (waited === 'stopped') continue;
      await sleep(Math.round(pace * rng.int(minKillDelay, maxKillDelay)));
      if (victim.exited !== null) continue;
      victim.killed = true;
      victim.child.kill('SIGKILL');
      await victim.exit;
      kills++;
      linesAtLastKill = tickLog.update();
      log(`kill ${kills}/${options.kills}: ${victim.label} (pid ${victim.pid}, ${registered ? 'registered' : 'maybe starting'}) at tick line ${linesAtLastKill}, ${Date.now() - victimStarted} ms after its start`);
      await sleep(Math.round(pace * rng.int(0, maxRestartDelay)));
      slots[slot] = startIncarnation(ctx, `${slot}${++generation[slot]}`);
      all.push(slots[slot]);
      if (checkEveryRestart) {
        const checkStarted = Date.now();
        runChecks(false, `after kill ${kills}`);
        log(`  checks after kill ${kills}: ${Date.now() - checkStarted} ms`);
      }
    }

    // Let both finish.
    const limit = new AbortController();
    const finish = await Promise.race([
      Promise.all([slots.A.exit, slots.B.exit]).then(() => 'done' as const),
      // Rejects (AbortError) only once the race is decided and the limit is called off.
      sleep(finishTimeoutMs, undefined, { signal: limit.signal }).then(() => 'timeout' as const, () => 'done' as const),
    ]);
    limit.abort();
    timedOut = finish === 'timeout';
    if (timedOut) {
      addViolations([`[progress] the run did not finish within ${finishTimeoutMs} ms after the last kill; ${describeActive(storeFile)}` +
        `\n    A: ${tail(slots.A.outFile)}\n    B: ${tail(slots.B.outFile)}`], 'at the end');
    }
  } finally {
    for (const incarnation of all) {
      if (incarnation.exited === null) {
        incarnation.killed = true;
        incarnation.child.kill('SIGKILL');
        await incarnation.exit;
      }
    }
  }
  for (const incarnation of all) if (!incarnation.killed) unexpectedExit(incarnation, 'at the end');

  // Final checks.
  const facts = runChecks(true, 'at the end');
  const store = SqliteStore.fromPath(storeFile, { readonly: true });
  let report: Omit<FuzzReport, 'dir' | 'durationMs' | 'violations' | 'checks'>;
  try {
    storeId ??= store.storeId();
    const found: string[] = [];
    const status = readStatus(store);
    const designedToFail = new Set(units.filter((u) => u.kind === 'always').map((u) => u.id));
    const dispatches = store.listDispatches();
    // 5. Every unit completed, or failed (by design) with a reason.
    if (status.units.length !== units.length) found.push(`[5 outcome] the store's status has ${status.units.length} units, the plan ${units.length}`);
    for (const unit of status.units) {
      const own = dispatches.filter((d) => d.unitId === unit.id);
      const history = capped(own.map((d) => `${d.id} ${d.state}${d.outcome === null ? '' : `/${d.outcome}`}: ${d.reason ?? '(no reason)'}`), 6);
      if (designedToFail.has(unit.id)) {
        const last = own.at(-1);
        if (unit.state !== 'failed' || last === undefined || (last.reason ?? '').trim() === '') {
          found.push(`[5 outcome] ${unit.id} should have failed with a reason; it is ${unit.state}: ${history}`);
        }
      } else if (unit.state !== 'completed') {
        const last = own.at(-1);
        const reasoned = (unit.state === 'failed' || unit.state === 'stuck') && (last?.reason ?? '').trim() !== '';
        found.push(`[5 outcome] ${unit.id} ended ${unit.state}${reasoned ? ' (with a reason, but not by design)' : ' without a reason'}: ${history}`);
      }
    }
    // 6. No orphans, nothing left running in the registry or among the actors.
    const orphans = findRunProcesses(ctx.marker, storeId);
    if (orphans.length > 0) {
      await sleep(300);
      const still = findRunProcesses(ctx.marker, storeId);
      for (const p of still) found.push(`[6 orphan] pid ${p.pid} (${p.state}) is alive after both runtimes exited: ${p.cmdline}`);
      for (const p of still) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
        }
      }
    }
    const ticks = readCompleteTicks(ticksFile);
    for (const pid of new Set(ticks.map((t) => t.pid))) {
      if (isRunProcessAlive(pid, ctx.marker)) found.push(`[6 orphan] turn pid ${pid} of the tick log is still alive`);
    }
    // After a timeout the harness SIGKILLed the runtimes itself: their registry rows and
    // actors are left as they were (the [progress] violation lists them).
    if (!timedOut) {
      for (const runtime of store.listRuntimes()) {
        if (runtime.state === 'running') found.push(`[6 orphan] runtime ${runtime.id} (pid ${runtime.pid}) is still registered running`);
      }
      for (const actor of store.listActiveActors()) {
        found.push(`[6 orphan] actor ${actor.id} (${actor.kind}, owner ${actor.owner ?? 'none'}) is still active in ${actor.state}`);
      }
    }
    // 7. Exit codes of the last two runtimes.
    const expectedCode = designedToFail.size > 0 ? 1 : 0;
    for (const incarnation of [slots.A, slots.B]) {
      if (!incarnation.killed && incarnation.exited?.code !== expectedCode) {
        found.push(`[7 exit] ${incarnation.label} exited with ${incarnation.exited?.code ?? incarnation.exited?.signal ?? 'nothing'}, expected ${expectedCode}:\n    ${tail(incarnation.outFile)}`);
      }
    }
    addViolations(found, 'at the end');

    // Figures.
    let executions = 0;
    let repeated = 0;
    let interrupted = 0;
    let unitsRepeated = 0;
    let designedFailures = 0;
    let sameDispatchReruns = 0;
    const repeats: string[] = [];
    const byUnit = groupBy(executionsOf(ticks), (e) => e.unit);
    for (const unit of units) {
      const runs = byUnit.get(unit.id) ?? [];
      for (const list of groupBy(runs, (e) => e.dispatch ?? '(none)').values()) sameDispatchReruns += list.length - 1;
      const failedOnPurpose = runs.filter((e) => e.failedOnPurpose).length;
      const completed = status.units.find((u) => u.id === unit.id)?.state === 'completed' ? 1 : 0;
      const extra = Math.max(0, runs.length - failedOnPurpose - completed);
      executions += runs.length;
      designedFailures += failedOnPurpose;
      repeated += extra;
      interrupted += runs.filter((e) => !e.ended).length;
      if (extra > 0) {
        unitsRepeated++;
        const dispatchText = dispatches
          .filter((d) => d.unitId === unit.id)
          .map((d) => `${d.id} ${d.state}${d.outcome === null ? '' : `/${d.outcome}`}${d.reason === null ? '' : ` (${d.reason})`}`);
        repeats.push(`${unit.id}: executions ${capped(runs.map(describeExecution), 6, ', ')}; dispatches ${capped(dispatchText, 6)}`);
      }
    }
    report = {
      seed: options.seed,
      units: units.length,
      milestones: plan.length,
      killsRequested: options.kills,
      kills,
      incarnations: all.length,
      takeovers: store.listRuntimes().filter((r) => r.state === 'dead').length,
      startupKills: all.filter((i) => i.killed && !store.listRuntimes().some((r) => r.pid === i.pid)).length,
      executions,
      repeatedExecutions: repeated,
      interruptedExecutions: interrupted,
      sameDispatchReruns,
      unitsRepeated,
      repeats,
      designedFailures,
      completedUnits: status.units.filter((u) => u.state === 'completed').length,
      failedUnits: status.units.filter((u) => u.state === 'failed' || u.state === 'stuck').map((u) => u.id),
      dispatches: dispatches.length,
      lostDispatches: dispatches.filter((d) => d.state === 'failed' && d.outcome === 'lost').length,
      abandonedDispatches: dispatches.filter((d) => d.state === 'failed' && d.outcome === null).length,
      leaseGrants: facts?.grants.length ?? 0,
      journalRows: facts?.journalRows ?? store.journalSize(),
    };
  } finally {
    store.close();
  }
  const keep = options.keepDir === true || violations.length > 0;
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  return { ...report, dir: keep ? dir : null, checks, durationMs: Date.now() - started, violations };
}

/** The figures of a report as a small text table. */
export function formatReport(report: FuzzReport): string {
  const rows: [string, string][] = [
    ['seed', String(report.seed)],
    ['kills survived', `${report.kills} of ${report.killsRequested} requested`],
    ['statecrew processes', String(report.incarnations)],
    ['runtimes taken over', `${report.takeovers} (${report.startupKills} kills hit a process before it registered)`],
    ['units', `${report.units} in ${report.milestones} milestones`],
    ['units completed', String(report.completedUnits)],
    ['units failed', report.failedUnits.length === 0 ? '0' : `${report.failedUnits.length} (${report.failedUnits.join(', ')})`],
    ['executions', String(report.executions)],
    ['executions failed by design', String(report.designedFailures)],
    ['executions repeated (crashes)', `${report.repeatedExecutions} in ${report.unitsRepeated} units (${report.interruptedExecutions} killed mid-run, ${report.sameDispatchReruns} re-run under the same dispatch)`],
    ['dispatches', `${report.dispatches} (${report.lostDispatches} lost, ${report.abandonedDispatches} abandoned/fenced)`],
    ['lease grants', String(report.leaseGrants)],
    ['journal rows', String(report.journalRows)],
    ['check passes', String(report.checks)],
    ['duration', `${(report.durationMs / 1000).toFixed(1)} s`],
    ['invariant violations', String(report.violations.length)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  const lines = rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`);
  if (report.dir !== null) lines.push(`${'folder'.padEnd(width)}  ${report.dir}`);
  for (const repeat of report.repeats.slice(0, 20)) lines.push(`  repeated ${repeat}`);
  if (report.repeats.length > 20) lines.push(`  … and ${report.repeats.length - 20} more repeated units`);
  for (const violation of report.violations) lines.push(`- ${violation}`);
  return lines.join('\n');
}
