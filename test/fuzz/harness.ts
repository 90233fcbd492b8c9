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
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStoreAt } from '../../persistence/openStore.js';

import { readStatus } from '../../src/status.js';

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
  /**
   * The store: a `postgres://` URL with a `?schema=` of its own (fresh), shared by every
   * runtime. @default a SQLite file in the temp folder
   */
  readonly store?: string;
  /**
   * Run every `statecrew run` in a PID namespace of its own (`unshare --pid --fork
   * --mount-proc --kill-child`): each is a host of its own that cannot see another's processes,
   * and a kill takes its turns with it. Takeovers then wait for the dead runtime's heartbeat to
   * lapse by its turn grace. @default false
   */
  readonly hosts?: boolean;
  /** `--turn-grace` of every runtime. @default '1s' with hosts, else the CLI's default */
  readonly turnGrace?: string;
  /**
   * Give every milestone a workspace in a real repository (`<dir>/repo`): each unit writes a file
   * in its worktree, and the end checks that main holds each milestone's work exactly once and
   * that no worktree or lock is left over (`[8 workspace]`). @default false
   */
  readonly workspaces?: boolean;
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
  /** With workspaces: statecrew's merge commits on main, and side refs of failed or lost attempts; else `null`. */
  readonly merges: number | null;
  readonly savedRefs: number | null;
  /** Check passes run (after restarts and at the end). */
  readonly checks: number;
  readonly durationMs: number;
  /** Descriptions of every invariant violation or harness failure; empty = pass. */
  readonly violations: readonly string[];
}

import { createRng, generatePlan, planDocument } from './plan.js';
import {
  type Incarnation, type RunContext, childNamespace, startIncarnation, tail, findRunProcesses, isRunProcessAlive, registeredBy, TickLog, openStoreIfReady, whenRegistered,
} from './processes.js';
import { checkWorkspaceRepo, createFuzzRepo } from './workspaceRepo.js';
import { groupBy, type StoreFacts, checkJournal, executionsOf, describeExecution, capped, checkTicks, readCompleteTicks, describeActive } from './checks.js';

export { checkHistory, checkTicks, type FuzzTick, type History, type Row } from './checks.js';
export type { PlannedMilestone } from './plan.js';

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
  const storeFile = options.store ?? path.join(dir, 'state', 'statecrew.db');
  const hosts = options.hosts === true;
  const plan = generatePlan(rng, settings);
  const units = plan.flatMap((m) => m.units);
  const repo = options.workspaces === true ? createFuzzRepo(dir) : null;
  fs.writeFileSync(path.join(dir, 'plan.yaml'), planDocument(plan, ticksFile, options.workers ?? 2, options.store, repo !== null));
  const turnGrace = options.turnGrace ?? (hosts ? '1s' : undefined);
  const ctx: RunContext = {
    dir,
    marker: dir,
    args: ['--heartbeat-ttl', options.heartbeatTtl ?? '1s', '--lease-ttl', options.leaseTtl ?? '3s', ...(turnGrace === undefined ? [] : ['--turn-grace', turnGrace])],
    prefix: hosts ? ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'] : [],
  };
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
      const created = openStoreAt(storeFile, { readonly: true });
      try {
        await created.storeId();
      } finally {
        await created.close();
      }
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

  const runChecks = async (final: boolean, when: string): Promise<StoreFacts | null> => {
    checks++;
    const found: string[] = [];
    let facts: StoreFacts | null = null;
    // At the end the store must open (a StoreVersionError here means dist/ was built from
    // other sources than the harness runs: run `npm run build`).
    // The ticks first: every execution they show was claimed before the store is read.
    const ticks = readCompleteTicks(ticksFile);
    const store = final ? openStoreAt(storeFile, { readonly: true }) : openStoreIfReady(storeFile);
    if (store === null) return null;
    try {
      storeId ??= await store.storeId();
      facts = await checkJournal(store, final, found);
      checkTicks(ticks, plan, facts.dispatches, found);
    } catch (error) {
      found.push(`[harness] checks failed: ${(error as Error).stack ?? String(error)}`);
    } finally {
      await store.close();
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
      if (registered && !(await whenRegistered(storeFile, victim, hosts, anyExit, stallMs))) {
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
      if (hosts) victim.namespace ??= childNamespace(victim.pid);
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
        await runChecks(false, `after kill ${kills}`);
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
      addViolations([`[progress] the run did not finish within ${finishTimeoutMs} ms after the last kill; ${await describeActive(storeFile)}` +
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
  const facts = await runChecks(true, 'at the end');
  const store = openStoreAt(storeFile, { readonly: true });
  let report: Omit<FuzzReport, 'dir' | 'durationMs' | 'violations' | 'checks'>;
  try {
    storeId ??= await store.storeId();
    const found: string[] = [];
    const status = await readStatus(store);
    const designedToFail = new Set(units.filter((u) => u.kind === 'always').map((u) => u.id));
    const dispatches = await store.listDispatches();
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
    // (Hosts: the tick log's pids are of the hosts' PID namespaces, meaningless here; the marker scan above covers their processes.)
    for (const pid of hosts ? [] : new Set(ticks.map((t) => t.pid))) {
      if (isRunProcessAlive(pid, ctx.marker)) found.push(`[6 orphan] turn pid ${pid} of the tick log is still alive`);
    }
    // After a timeout the harness SIGKILLed the runtimes itself: their registry rows and
    // actors are left as they were (the [progress] violation lists them).
    if (!timedOut) {
      for (const runtime of (await store.listRuntimes())) {
        if (runtime.state === 'running') found.push(`[6 orphan] runtime ${runtime.id} (pid ${runtime.pid}) is still registered running`);
      }
      for (const actor of (await store.listActiveActors())) {
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
    // 8. Workspaces: the base holds each milestone's work once; nothing left over.
    const workspaceFacts = repo === null ? null : checkWorkspaceRepo(repo, path.join(path.dirname(storeFile), 'worktrees'), plan, status, found);
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
    const runtimes = await store.listRuntimes();
    report = {
      seed: options.seed,
      units: units.length,
      milestones: plan.length,
      killsRequested: options.kills,
      kills,
      incarnations: all.length,
      takeovers: runtimes.filter((r) => r.state === 'dead').length,
      startupKills: all.filter((i) => i.killed && !runtimes.some((r) => registeredBy(i, r))).length,
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
      journalRows: facts?.journalRows ?? (await store.journalSize()),
      merges: workspaceFacts?.merges ?? null,
      savedRefs: workspaceFacts?.savedRefs ?? null,
    };
  } finally {
    await store.close();
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
    ...(report.merges === null ? [] : [['merges into main', `${report.merges} (${report.savedRefs ?? 0} failed or lost attempts saved on side refs)`] as [string, string]]),
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

