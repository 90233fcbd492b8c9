import { z } from 'zod';
import { StoreCorruptError } from '../core/errors.js';
import type {
  ActorKind,
  TurnOutputChunk,
  ActorRecord,
  PlanRecord,
  TurnEventRecord,
  ActorSummary,
  CommandRecord,
  MessageRecord,
  NotificationRecord,
  DispatchProjection,
  JournalEntry,
  LeaseLedgerEntry,
  LeaseProjection,
  WorkspaceProjection,
  RuntimeRecord,
  SupervisorProjection,
  WorkerProjection,
} from './types.js';

/** Row schemas: everything read back from SQLite is validated before it is used (snake_case stays here). */
const int = z.number().int();
const actorKind = z.enum(['supervisor', 'worker', 'lease', 'dispatch', 'workspace']);
const nullableInt = int.nullable();
const nullableText = z.string().nullable();

const actorRow = z.object({
  id: z.string(),
  kind: actorKind,
  machine_id: z.string(),
  machine_version: int,
  state: z.string(),
  status: z.enum(['active', 'done', 'quarantined']),
  snapshot: z.string(),
  seq: int,
  created_at: int,
  updated_at: int,
  owner_runtime: nullableText,
});

const journalRow = z.object({
  actor_id: z.string(),
  seq: int,
  event_type: z.string(),
  from_state: nullableText,
  to_state: z.string(),
  at: int,
  snapshot: z.string(),
  event: nullableText,
});

const workerRow = z.object({
  id: z.string(),
  state: z.string(),
  milestone_id: nullableText,
  unit_id: nullableText,
  dispatch_id: nullableText,
  fencing_token: nullableInt,
  pid: nullableInt,
  turns: int,
});

const leaseRow = z.object({
  id: z.string(),
  milestone_id: z.string(),
  worker_id: z.string(),
  fencing_token: nullableInt,
  state: z.string(),
  expires_at: nullableInt,
});

const dispatchRow = z.object({
  id: z.string(),
  unit_id: z.string(),
  milestone_id: z.string(),
  attempt: int,
  state: z.string(),
  worker_id: nullableText,
  fencing_token: nullableInt,
  not_before: nullableInt,
  started_at: nullableInt,
  ended_at: nullableInt,
  pid: nullableInt,
  pgid: nullableInt,
  proc_start_time: nullableText,
  host_id: nullableText.optional(),
  log_path: nullableText,
  outcome: nullableText,
  exit_code: nullableInt,
  signal: nullableText,
  last_stderr_line: nullableText.optional(),
  message_id: nullableInt.optional(),
  session_id: nullableText.optional(),
  resume_mismatch: nullableInt.optional(),
  cost_usd: z.number().nullable().optional(),
  input_tokens: nullableInt.optional(),
  output_tokens: nullableInt.optional(),
  transient: z.enum(['rate_limited', 'overloaded', 'server_error']).nullable().optional(),
  retry_at: nullableInt.optional(),
  reason: nullableText,
});

const supervisorRow = z.object({
  id: z.string(),
  state: z.string(),
  runtime_id: z.string(),
  pid: int,
  started_at: int,
});

const ledgerRow = z.object({
  milestone_id: z.string(),
  holder_id: nullableText,
  lease_id: nullableText,
  fencing_token: int,
  expires_at: nullableInt,
});

function parseRow<T extends z.ZodType>(schema: T, table: string, row: unknown): z.infer<T> {
  const result = schema.safeParse(row);
  if (!result.success) {
    throw new StoreCorruptError(`corrupt row in ${table}: ${z.prettifyError(result.error)}`, { cause: result.error });
  }
  return result.data;
}

const actorSummaryRow = actorRow.omit({ snapshot: true });

function summaryFields(r: z.infer<typeof actorSummaryRow>): ActorSummary {
  return {
    id: r.id,
    kind: r.kind,
    machineId: r.machine_id,
    machineVersion: r.machine_version,
    state: r.state,
    status: r.status,
    seq: r.seq,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    owner: r.owner_runtime,
  };
}

export function rowToActor(row: unknown): ActorRecord {
  const r = parseRow(actorRow, 'actors', row);
  return { ...summaryFields(r), snapshot: r.snapshot };
}

export function rowToActorSummary(row: unknown): ActorSummary {
  return summaryFields(parseRow(actorSummaryRow, 'actors', row));
}

export function rowToJournal(row: unknown): JournalEntry {
  const r = parseRow(journalRow, 'journal', row);
  return {
    actorId: r.actor_id,
    seq: r.seq,
    eventType: r.event_type,
    fromState: r.from_state,
    toState: r.to_state,
    at: r.at,
    snapshot: r.snapshot,
    event: r.event,
  };
}

export function rowToWorker(row: unknown): WorkerProjection {
  const r = parseRow(workerRow, 'workers', row);
  return {
    id: r.id,
    state: r.state,
    milestoneId: r.milestone_id,
    unitId: r.unit_id,
    dispatchId: r.dispatch_id,
    fencingToken: r.fencing_token,
    pid: r.pid,
    turns: r.turns,
  };
}

export function rowToLease(row: unknown): LeaseProjection {
  const r = parseRow(leaseRow, 'leases', row);
  return {
    id: r.id,
    milestoneId: r.milestone_id,
    workerId: r.worker_id,
    fencingToken: r.fencing_token,
    state: r.state,
    expiresAt: r.expires_at,
  };
}

const workspaceRow = z.object({
  id: z.string(),
  milestone_id: z.string(),
  fencing_token: int,
  state: z.string(),
  path: z.string(),
  branch: z.string(),
  base: z.string(),
  base_commit: nullableText,
  head: nullableText,
  merged_commit: nullableText,
  reason: nullableText,
  fix_turns_used: int,
  fix_pending: int,
  fix: nullableText,
});

const fixJson = z.object({ id: z.string(), kind: z.enum(['check', 'conflict']), input: z.string(), done: z.boolean() });

/** A JSON column checked against its shape. @throws StoreCorruptError when it is not JSON of that shape. */
function jsonColumn<T extends z.ZodType>(schema: T, table: string, column: string, text: string): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StoreCorruptError(`corrupt row in ${table}: ${column} is not JSON`, { cause: error });
  }
  return parseRow(schema, `${table}.${column}`, value);
}

export function rowToWorkspace(row: unknown): WorkspaceProjection {
  const r = parseRow(workspaceRow, 'workspaces', row);
  return {
    id: r.id,
    milestoneId: r.milestone_id,
    fencingToken: r.fencing_token,
    state: r.state,
    path: r.path,
    branch: r.branch,
    base: r.base,
    baseCommit: r.base_commit,
    head: r.head,
    mergedCommit: r.merged_commit,
    reason: r.reason,
    fixTurnsUsed: r.fix_turns_used,
    fixPending: r.fix_pending !== 0,
    fix: r.fix === null ? null : jsonColumn(fixJson, 'workspaces', 'fix', r.fix),
  };
}

export function rowToDispatch(row: unknown): DispatchProjection {
  const r = parseRow(dispatchRow, 'dispatches', row);
  return {
    id: r.id,
    unitId: r.unit_id,
    milestoneId: r.milestone_id,
    attempt: r.attempt,
    state: r.state,
    workerId: r.worker_id,
    fencingToken: r.fencing_token,
    notBefore: r.not_before,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    pid: r.pid,
    pgid: r.pgid,
    procStartTime: r.proc_start_time,
    hostId: r.host_id ?? null,
    logPath: r.log_path,
    outcome: r.outcome,
    exitCode: r.exit_code,
    signal: r.signal,
    lastStderrLine: r.last_stderr_line ?? null,
    messageId: r.message_id ?? null,
    sessionId: r.session_id ?? null,
    resumeMismatch: (r.resume_mismatch ?? 0) === 1,
    costUsd: r.cost_usd ?? null,
    inputTokens: r.input_tokens ?? null,
    outputTokens: r.output_tokens ?? null,
    transient: r.transient ?? null,
    retryAt: r.retry_at ?? null,
    reason: r.reason,
  };
}

export function rowToSupervisor(row: unknown): SupervisorProjection {
  const r = parseRow(supervisorRow, 'supervisors', row);
  return { id: r.id, state: r.state, runtimeId: r.runtime_id, pid: r.pid, startedAt: r.started_at };
}

export function rowToLedger(row: unknown): LeaseLedgerEntry {
  const r = parseRow(ledgerRow, 'lease_ledger', row);
  return {
    milestoneId: r.milestone_id,
    holderId: r.holder_id,
    leaseId: r.lease_id,
    fencingToken: r.fencing_token,
    expiresAt: r.expires_at,
  };
}

const runtimeRow = z.object({
  id: z.string(),
  host: z.string(),
  host_id: nullableText.optional(),
  pid: int,
  proc_start_time: nullableText,
  started_at: int,
  heartbeat_at: int,
  ttl_ms: int,
  turn_grace_ms: nullableInt.optional(),
  state: z.enum(['running', 'stopped', 'dead']),
  ended_at: nullableInt,
  end_reason: nullableText,
});

export function rowToRuntime(row: unknown): RuntimeRecord {
  const r = parseRow(runtimeRow, 'runtimes', row);
  return {
    id: r.id,
    host: r.host,
    hostId: r.host_id ?? null,
    pid: r.pid,
    procStartTime: r.proc_start_time,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    ttlMs: r.ttl_ms,
    turnGraceMs: r.turn_grace_ms ?? null,
    state: r.state,
    endedAt: r.ended_at,
    endReason: r.end_reason,
  };
}

const commandRow = z.object({
  id: int,
  kind: z.literal('stop'),
  target: nullableText,
  created_at: int,
  taken_by: nullableText,
  done_at: nullableInt,
  outcome: nullableText,
  message: nullableText,
});

export function rowToCommand(row: unknown): CommandRecord {
  const r = parseRow(commandRow, 'commands', row);
  return {
    id: r.id,
    kind: r.kind,
    target: r.target,
    createdAt: r.created_at,
    takenBy: r.taken_by,
    doneAt: r.done_at,
    outcome: r.outcome,
    message: r.message,
  };
}

const notificationRow = z.object({
  id: int,
  key: z.string(),
  event: z.string(),
  sink: z.string(),
  body: z.string(),
  created_at: int,
  state: z.enum(['pending', 'delivered', 'failed']),
  attempts: int,
  next_attempt_at: int,
  taken_by: nullableText,
  taken_until: int.nullable(),
  delivered_at: int.nullable(),
  last_error: nullableText,
});

export function rowToNotification(row: unknown): NotificationRecord {
  const r = parseRow(notificationRow, 'notifications', row);
  return {
    id: r.id,
    key: r.key,
    event: r.event,
    sink: r.sink,
    body: r.body,
    createdAt: r.created_at,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    takenBy: r.taken_by,
    takenUntil: r.taken_until,
    deliveredAt: r.delivered_at,
    lastError: r.last_error,
  };
}

const traceContextRow = z.object({ traceparent: z.string() });

export function rowToTraceparent(row: unknown): string {
  return parseRow(traceContextRow, 'trace_contexts', row).traceparent;
}

const messageRow = z.object({ id: int, unit_id: z.string(), text: z.string(), created_at: int });

export function rowToMessage(row: unknown): MessageRecord {
  const r = parseRow(messageRow, 'messages', row);
  return { id: r.id, unitId: r.unit_id, text: r.text, createdAt: r.created_at };
}

const planRow = z.object({ file: z.string(), fingerprint: z.string(), body: z.string(), saved_at: int });

export function rowToPlan(row: unknown): PlanRecord {
  const r = parseRow(planRow, 'plan', row);
  return { file: r.file, fingerprint: r.fingerprint, body: r.body, savedAt: r.saved_at };
}

const controlRow = z.object({ key: z.string().optional(), value: z.string(), updated_at: int });

export function rowToControl(row: unknown): { key: string; value: string; updatedAt: number } {
  const r = parseRow(controlRow, 'controls', row);
  return { key: r.key ?? '', value: r.value, updatedAt: r.updated_at };
}

const cancellationRow = z.object({ unit_id: z.string(), reason: z.string(), canceled_at: int });

export function rowToCancellation(row: unknown): { unitId: string; reason: string; canceledAt: number } {
  const r = parseRow(cancellationRow, 'unit_cancellations', row);
  return { unitId: r.unit_id, reason: r.reason, canceledAt: r.canceled_at };
}

const turnEventRow = z.object({ dispatch_id: z.string(), line: int, type: z.string(), subtype: nullableText, body: z.string() });

export function rowToTurnEvent(row: unknown): TurnEventRecord {
  const r = parseRow(turnEventRow, 'turn_events', row);
  return { dispatchId: r.dispatch_id, line: r.line, type: r.type, subtype: r.subtype, body: r.body };
}

const quarantinedRow = z.object({ id: z.string(), kind: actorKind, quarantine_reason: nullableText });

export function rowToQuarantined(row: unknown): { id: string; kind: ActorKind; reason: string | null } {
  const r = parseRow(quarantinedRow, 'actors', row);
  return { id: r.id, kind: r.kind, reason: r.quarantine_reason };
}

const idRow = z.object({ id: z.string() });

/** `{ id }` rows of `RETURNING id` statements. */
export function rowToId(row: unknown): string {
  return parseRow(idRow, 'actors', row).id;
}

const counterRow = z.object({ other: int, own: int });

export function rowToCounters(row: unknown): { other: number; own: number } {
  return parseRow(counterRow, 'pragma_data_version', row);
}

const valueRow = z.object({ value: z.union([int, z.string()]) });

/** `{ value }` rows (sequences, meta). */
export function rowToValue(table: string, row: unknown): number | string {
  return parseRow(valueRow, table, row).value;
}

const numericIdRow = z.object({ id: int });

export function rowToNumericId(table: string, row: unknown): number {
  return parseRow(numericIdRow, table, row).id;
}

const seqRow = z.object({ kind: actorKind, state: z.string(), seq: int, snapshot: z.string() });

export function rowToQuarantineSource(row: unknown): { kind: ActorKind; state: string; seq: number; snapshot: string } {
  return parseRow(seqRow, 'actors', row);
}

/**
 * `actors.seq` and `owner_runtime` of one actor: the write path reads it for every transition,
 * so it is checked by hand (a zod parse per write cost more than the write's own checks).
 * @throws StoreCorruptError when the row does not have that shape.
 */
export function rowToSeqOwner(row: unknown): { seq: number; ownerRuntime: string | null } {
  const r = row as { seq?: unknown; owner_runtime?: unknown } | null;
  if (typeof r !== 'object' || r === null || !Number.isInteger(r.seq) || (r.owner_runtime !== null && typeof r.owner_runtime !== 'string')) {
    throw new StoreCorruptError(`corrupt row in actors: expected { seq: integer, owner_runtime: string | null }, got ${JSON.stringify(row)}`);
  }
  return { seq: r.seq as number, ownerRuntime: r.owner_runtime };
}

/**
 * The fencing token of a ledger row, for the write path's fence check (every fenced write),
 * checked by hand like {@link rowToSeqOwner}.
 * @throws StoreCorruptError when the row does not have that shape.
 */
export function rowToFencingToken(row: unknown): number {
  const token = (row as { fencing_token?: unknown } | null)?.fencing_token;
  if (!Number.isInteger(token)) throw new StoreCorruptError(`corrupt row in lease_ledger: expected an integer fencing_token, got ${JSON.stringify(row)}`);
  return token as number;
}

const stateRow = z.object({ state: z.string() });

/** A `state` column (runtimes). */
export function rowToState(table: string, row: unknown): string {
  return parseRow(stateRow, table, row).state;
}

const countRow = z.object({ n: int });

/** A `count(*) AS n` row. */
export function rowToCount(table: string, row: unknown): number {
  return parseRow(countRow, table, row).n;
}

const integrityRow = z.object({ integrity_check: z.string() });

/** One line of `PRAGMA integrity_check`. */
export function rowToIntegrityLine(row: unknown): string {
  return parseRow(integrityRow, 'pragma_integrity_check', row).integrity_check;
}

const turnOutputRow = z.object({
  dispatch_id: z.string(),
  byte_offset: int,
  bytes: z.instanceof(Uint8Array),
});

export function rowToTurnOutput(row: unknown): TurnOutputChunk {
  const r = parseRow(turnOutputRow, 'turn_output', row);
  return { dispatchId: r.dispatch_id, offset: r.byte_offset, bytes: r.bytes };
}

const compactionCandidateRow = z.object({ id: z.string(), seq: int, updated_at: int });

/** A finished actor found by compaction (`persistence/sqliteCompaction.ts`, `postgres/pgCompaction.ts`). */
export function rowToCompactionCandidate(row: unknown): { id: string; seq: number; updatedAt: number } {
  const r = parseRow(compactionCandidateRow, 'actors', row);
  return { id: r.id, seq: r.seq, updatedAt: r.updated_at };
}

const compactionCursor = z.object({ at: int, id: z.string() });

/** A compaction cursor kept in `meta` under `key`: the finish time and id of the last actor a category handled. */
export function rowToCompactionCursor(key: string, row: unknown): { at: number; id: string } {
  const { value } = parseRow(z.object({ value: z.string() }), 'meta', row);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new StoreCorruptError(`corrupt row in meta: ${key} is not JSON: ${value}`, { cause: error });
  }
  return parseRow(compactionCursor, `meta (${key})`, parsed);
}
