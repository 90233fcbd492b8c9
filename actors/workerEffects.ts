import fs from 'node:fs';
import { fromCallback, fromPromise } from 'xstate';
import type { TurnAssignment, TurnResult, TurnStarted } from '../machines/turn.js';
import type { StopTurnInput, StopTurnOutput, WorkerEvent } from '../machines/worker.js';
import { ensureError } from '../core/errors.js';
import { afterCommit } from './afterCommit.js';
import { isLocalHost } from './hostIdentity.js';
import type { EffectContext } from './effectContext.js';
import { findProcessesByEnv, killProcesses, killProcessGroup, listProcessGroup } from './processes.js';
import { codexTransientFailure, codexTurnUsage } from './codexJson.js';
import { createStreamJsonParser, type TokenUsage } from './streamJson.js';
import { transientApiFailure, turnCost, turnVerdict } from './turnVerdict.js';
import { shipTurnOutput } from './turnOutput.js';
import { adoptTurn, runTurn, type TurnOutcome } from './turnRunner.js';
import { turnStatusPath, type TurnStatus } from './turnStatus.js';
import { outcomeFromStatus, readTurnStatus } from './turnSupervisor.js';

/**
 * The worker statechart's effects: the turn runner (child processes under a shim),
 * process-group kill with verification, and the log folder. `runTurn` is idempotent across
 * restores: a turn whose start was recorded is never spawned again but adopted (see
 * {@link adopt}); a turn whose processes exist without a recorded start (killed between the
 * spawn and its record) has them killed and verified gone, and is reported `lost`. A new turn
 * starts only while the runtime can vouch for it (its keep-alive, `actors/keepAlive.ts`) and the
 * ledger still shows the worker's lease under the turn's fencing token, unexpired; otherwise it
 * is reported `lost` with the reason, unstarted. A turn's log is copied to the store as it grows
 * (`actors/turnOutput.ts`), for `statecrew logs` on any host.
 */
export function createWorkerEffects(effects: EffectContext) {
  return {
    prepareWorker: fromPromise<void, { workerId: string }>(async ({ signal }) => {
      await afterCommit(signal, effects.committed);
      fs.mkdirSync(effects.logsDir, { recursive: true });
    }),
    runTurn: fromCallback<WorkerEvent, TurnAssignment>(({ input, sendBack }) => {
      // Stopping this callback (the worker left `in_turn`, or the runtime detached) does not
      // kill the turn: `stopTurn` kills and verifies on an operator stop, and a detached
      // runtime's turn belongs to whoever restores the worker. Results are then dropped.
      let detached = false;
      const vouching = new AbortController();
      const run = async (): Promise<TurnResult> => {
        await effects.committed();
        // Stopped before the first await (its transition could not be persisted): do nothing.
        if (detached) return lostResult(effects.clock.now(), 'the worker was stopped before the turn started');
        const recorded = await effects.recordedStart(input);
        if (recorded !== null) return adopt(effects, input, recorded);
        // The turn ran and ended between its spawn and the record of its start: its shim's
        // status file says how. Never run it a second time. A status of another turn that
        // logged to the same path (another store's: its key differs) is not this turn's.
        const status = readTurnStatus(turnStatusPath(input.logPath));
        if (status !== null && (status.turnKey === null || status.turnKey === input.turnKey)) {
          return await interpretProtocol(effects, input, resultFromStatus(status));
        }
        // The runner creates the turn's log before it spawns anything: without the log, no
        // process of this turn can exist, and /proc is not scanned for one.
        const orphans = fs.existsSync(input.logPath) ? findProcessesByEnv('STATECREW_TURN_KEY', input.turnKey) : [];
        if (orphans.length > 0) {
          await killProcesses(orphans, { graceMs: input.killGraceMs, clock: effects.clock });
          return lostResult(effects.clock.now(), `unrecorded processes ${orphans.join(', ')} of this turn were killed`);
        }
        // Only while the runtime can vouch for it (its heartbeat recorded lately): a runtime that
        // others may be declaring dead right now starts nothing, and once fenced it is detached.
        await effects.turnKeepAlive.vouched(vouching.signal);
        // Fencing at the last step before the turn's side effects begin: the lease must still be
        // this worker's, under this token (a worker restored with a stale ASSIGN must not start).
        const lease = await effects.store.getLease(input.milestoneId);
        if (detached) return lostResult(effects.clock.now(), 'the worker was stopped before the turn started');
        if (lease === undefined || lease.fencingToken !== input.fencingToken || lease.holderId !== input.workerId || (lease.expiresAt ?? 0) <= effects.clock.now()) {
          const current = lease === undefined
            ? 'has no lease'
            : lease.fencingToken === input.fencingToken && lease.holderId === input.workerId
              ? `lease under fencing token ${lease.fencingToken} expired at ${new Date(lease.expiresAt ?? 0).toISOString()}`
              : `is held by ${lease.holderId ?? 'nobody'} under fencing token ${lease.fencingToken}, not by ${input.workerId} under ${input.fencingToken}`;
          return lostResult(effects.clock.now(), `not started: milestone ${input.milestoneId} ${current}`);
        }
        const request = isAgentProtocol(input) ? { ...input, ...agentStdout(input) } : input;
        const shipping = shipTurnOutput(input.logPath, input.dispatchId, (chunk, cap) => effects.store.appendTurnOutput(chunk, cap));
        const outcome = await runTurn(request, {
          clock: effects.clock,
          keepAlive: effects.turnKeepAlive,
          onStart: (start) => {
            sendBack({ type: 'TURN_STARTED', started: start });
            // The pid is the evidence adoption needs: its commit starts now, not at the end of the job.
            effects.flush();
          },
        }).finally(() => shipping.finish());
        return await interpretProtocol(effects, input, toResult(outcome));
      };
      run().then(
        (result) => {
          if (!detached) sendBack({ type: 'TURN_ENDED', result });
        },
        (error: unknown) => {
          if (!detached) sendBack({ type: 'TURN_ERROR', message: ensureError(error).message });
        },
      );
      return () => {
        detached = true;
        vouching.abort(new Error('the worker was detached before its turn started'));
      };
    }),
    stopTurn: fromPromise<StopTurnOutput, StopTurnInput>(async ({ input, signal }) => {
      await afterCommit(signal, effects.committed);
      // A turn started under another host identity cannot be signalled from here (its runtime
      // was declared dead by heartbeat; in a PID namespace, its turns died with it).
      if (input.started !== null && isLocalHost(input.started.hostId) && listProcessGroup(input.started.pgid).length > 0) {
        await killProcessGroup(input.started.pgid, { graceMs: input.killGraceMs, clock: effects.clock });
      }
      return { endedAt: effects.clock.now() };
    }),
  };
}

/**
 * A turn whose start was recorded by an earlier runtime process (this worker was restored
 * in `in_turn`): never spawned again. Its shim is adopted — the absolute deadline and the
 * stall watchdog keep running, and how it ended is read from its status file — or, when the
 * process is gone without a status, the turn is `lost`. Processes carrying the turn's marker
 * outside its process group (they called `setsid`) are killed and verified gone as well.
 */
async function adopt(effects: EffectContext, turn: TurnAssignment, started: TurnStarted): Promise<TurnResult> {
  // The copy of its log in the store continues after what the earlier runtime stored.
  const last = (await effects.store.readTurnOutput(turn.dispatchId)).at(-1);
  const shipping = shipTurnOutput(turn.logPath, turn.dispatchId, (chunk, cap) => effects.store.appendTurnOutput(chunk, cap), last === undefined ? 0 : last.offset + last.bytes.length);
  const request = isAgentProtocol(turn) ? { ...turn, ...agentStdout(turn) } : turn;
  const outcome = await adoptTurn(request, started, { clock: effects.clock, keepAlive: effects.turnKeepAlive }).finally(() => shipping.finish());
  const stragglers = findProcessesByEnv('STATECREW_TURN_KEY', turn.turnKey);
  if (stragglers.length > 0) await killProcesses(stragglers, { graceMs: turn.killGraceMs, clock: effects.clock });
  const result = toResult(outcome);
  if (result.kind === 'lost') return { ...result, reason: `the runtime stopped while the turn ran; ${result.reason}` };
  return await interpretProtocol(effects, turn, result);
}

function toResult(outcome: TurnOutcome): TurnResult {
  return {
    kind: outcome.kind,
    exitCode: outcome.exitCode,
    signal: outcome.signal,
    endedAt: outcome.endedAt,
    reason: outcome.reason,
    lastStderrLine: outcome.lastStderrLine,
    lastActivityAt: outcome.lastActivityAt ?? null,
  };
}

function lostResult(at: number, reason: string): TurnResult {
  return { kind: 'lost', exitCode: null, signal: null, endedAt: at, reason, lastStderrLine: null };
}


/** Where a stream-json turn's stdout (its events, without stderr) is kept, beside its log. */
function streamJsonPath(turn: TurnAssignment): string {
  return `${turn.logPath}.stdout.jsonl`;
}

/**
 * For a stream-json turn: records every event of its stdout in the store, and lets the event
 * stream decide the outcome (a `result` with `is_error`, no `result`, a malformed line, denied
 * tools under the unit's `permissionDenials: fail` fail the turn even on exit code 0; a
 * non-zero exit keeps the CLI's last stderr line); captures the session id (and whether it
 * differs from the one resumed), the turn's own cost ({@link turnCost}) and tokens. A text turn is returned as it is.
 */
async function interpretProtocol(effects: EffectContext, turn: TurnAssignment, result: TurnResult): Promise<TurnResult> {
  if (!isAgentProtocol(turn)) return result;
  const codex = turn.protocol === 'codex-json';
  const file = streamJsonPath(turn);
  const output = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
  const parser = createStreamJsonParser({ dialect: codex ? 'codex' : 'claude' });
  const events = [...parser.push(output), ...parser.end()];
  const summary = parser.summary();
  await effects.store.recordTurnEvents([
    ...events.map((event) => ({ dispatchId: turn.dispatchId, line: event.line, type: event.type, subtype: event.subtype, body: JSON.stringify(event.raw) })),
    ...summary.malformed.map((bad) => ({ dispatchId: turn.dispatchId, line: bad.line, type: '(malformed)', subtype: null, body: bad.text })),
  ]);
  const session = summary.sessionId;
  const own = summary.result?.usageSinceLastResult ?? null;
  const usage = codex ? codexTurnUsage(summary.result?.usage ?? null, await resumedUsage(effects, turn, session)) : (summary.result?.usage ?? null);
  const reported = {
    sessionId: session,
    resumeMismatch: turn.resumeSessionId != null && session !== null && session !== turn.resumeSessionId,
    costUsd: summary.result === null ? null : turnCost(summary.result).costUsd,
    inputTokens: own?.inputTokens ?? usage?.inputTokens ?? null,
    outputTokens: own?.outputTokens ?? usage?.outputTokens ?? null,
  };
  if (result.kind !== 'exited') return { ...result, ...reported };
  const verdict = turnVerdict(summary, result.exitCode, { lastStderrLine: result.lastStderrLine, permissionDenials: turn.permissionDenials ?? 'fail' });
  if (verdict.ok) return { ...result, ...reported };
  const transient = codex ? codexTransientFailure(summary.result) : transientApiFailure(summary, result.exitCode);
  return { ...result, ...reported, failure: verdict.reason, reason: verdict.reason, transient };
}

/** Where an agent turn's stdout goes, and whose event stream it is. */
function agentStdout(turn: TurnAssignment): { stdoutPath: string; stdoutDialect: 'claude' | 'codex' } {
  return { stdoutPath: streamJsonPath(turn), stdoutDialect: turn.protocol === 'codex-json' ? 'codex' : 'claude' };
}

/** Whether the turn prints an agent's event stream on stdout (Claude Code's stream-json, Codex's exec --json). */
function isAgentProtocol(turn: TurnAssignment): boolean {
  return turn.protocol === 'stream-json' || turn.protocol === 'codex-json';
}

/** The usage the turn this one resumed reported (same session): a Codex thread's running total so far. */
async function resumedUsage(effects: EffectContext, turn: TurnAssignment, session: string | null): Promise<TokenUsage | null> {
  if (turn.resumeDispatchId == null || session === null || session !== turn.resumeSessionId) return null;
  const events = await effects.store.turnEvents(turn.resumeDispatchId);
  const last = events.filter((event) => event.type === 'turn.completed').at(-1);
  if (last === undefined) return null;
  const parser = createStreamJsonParser({ dialect: 'codex' });
  parser.push(`${last.body}\n`);
  parser.end();
  return parser.summary().result?.usage ?? null;
}

/** The result of a turn that ended while no runtime watched it, from its shim's status file. */
function resultFromStatus(status: TurnStatus): TurnResult {
  const outcome = outcomeFromStatus(status);
  return { ...outcome, endedAt: status.endedAt, lastStderrLine: outcome.kind === 'spawn-failed' ? null : status.lastStderrLine };
}
