/**
 * Shapes the store reads and writes. Times are ms since the Unix epoch.
 * These are the public, camelCase shapes; each adapter keeps its row types private.
 */

/** The kinds of actor statecrew persists. */
export type ActorKind = 'supervisor' | 'worker' | 'lease' | 'dispatch' | 'workspace';

/** Every {@link ActorKind}, in the order listings show them. */
export const ACTOR_KINDS: readonly ActorKind[] = ['supervisor', 'worker', 'lease', 'dispatch', 'workspace'];

/** `active`: to be restored after a restart; `done`: reached a final state; `quarantined`: unreadable, kept for inspection. */
export type ActorStatus = 'active' | 'done' | 'quarantined';

/** One persisted actor. */
/** An actor's row without its snapshot: what listings need. */
export type ActorSummary = Omit<ActorRecord, 'snapshot'>;

export interface ActorRecord {
  readonly id: string;
  readonly kind: ActorKind;
  readonly machineId: string;
  readonly machineVersion: number;
  /** Current state as a dotted path, e.g. `pending.backoff`. */
  readonly state: string;
  readonly status: ActorStatus;
  /** JSON text of `actor.getPersistedSnapshot()`. */
  readonly snapshot: string;
  /** Sequence number of the last journal row of this actor (1 = first snapshot). */
  readonly seq: number;
  /** When the actor's first snapshot was persisted, ms since the Unix epoch. */
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Runtime that drives the actor (`null` for rows written before ownership existed). */
  readonly owner: string | null;
}

/** One journal row: one persisted transition. */
export interface JournalEntry {
  readonly actorId: string;
  readonly seq: number;
  readonly eventType: string;
  readonly fromState: string | null;
  readonly toState: string;
  readonly at: number;
  /** JSON text of the persisted snapshot after the transition (for inspection and replay). */
  readonly snapshot: string;
  /**
   * JSON text of the event that caused the transition (payloads over 4 KiB are cut to their
   * `type` with `truncated: true`); `null` for rows written before statecrew recorded events.
   */
  readonly event: string | null;
}

export interface WorkerProjection {
  readonly id: string;
  readonly state: string;
  readonly milestoneId: string | null;
  readonly unitId: string | null;
  readonly dispatchId: string | null;
  readonly fencingToken: number | null;
  readonly pid: number | null;
  readonly turns: number;
}

export interface LeaseProjection {
  readonly id: string;
  readonly milestoneId: string;
  readonly workerId: string;
  readonly fencingToken: number | null;
  readonly state: string;
  readonly expiresAt: number | null;
}

export interface DispatchProjection {
  readonly id: string;
  readonly unitId: string;
  readonly milestoneId: string;
  readonly attempt: number;
  /** `pending | claimed | running | completed | failed | stuck | canceled` */
  readonly state: string;
  readonly workerId: string | null;
  readonly fencingToken: number | null;
  readonly notBefore: number | null;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly pid: number | null;
  readonly pgid: number | null;
  readonly procStartTime: string | null;
  /** Host identity the turn's pid belongs to (see {@link RuntimeRecord.hostId}); `null` when recorded before it was. */
  readonly hostId: string | null;
  readonly logPath: string | null;
  /** How the turn ended (`exited`, `timeout`, `stalled`, `lost`, …), `null` before it ended or when no turn ran. */
  readonly outcome: string | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** Last non-empty line the turn wrote to stderr (at most 1 KiB). */
  readonly lastStderrLine: string | null;
  readonly reason: string | null;
  /** The message this dispatch's turn takes as its input, if any. */
  readonly messageId: number | null;
  /** stream-json turns: the agent session reported, whether it differs from the one resumed, cost (USD) and tokens. */
  readonly sessionId: string | null;
  readonly resumeMismatch: boolean;
  readonly costUsd: number | null;
  readonly inputTokens: number | null;
  readonly outputTokens: number | null;
  /** Set when the turn failed for a reason that is not the agent's: `rate_limited`, `overloaded`, `server_error`. */
  readonly transient: 'rate_limited' | 'overloaded' | 'server_error' | null;
  /** When the API said its limit resets (ms since epoch), for a `transient` failure that said it. */
  readonly retryAt: number | null;
}

/** One event of a turn's output (stream-json), as recorded in the store. */
export interface TurnEventRecord {
  readonly dispatchId: string;
  /** 1-based line number in the turn's stdout. */
  readonly line: number;
  /** The event's `type`, or `(malformed)` for a line that is not a valid event. */
  readonly type: string;
  readonly subtype: string | null;
  /** The line's JSON (or text, when malformed). */
  readonly body: string;
}

export interface SupervisorProjection {
  readonly id: string;
  readonly state: string;
  readonly runtimeId: string;
  readonly pid: number;
  readonly startedAt: number;
}

/** A milestone's workspace (one per lease of the milestone): its git worktree and where its work stands. */
export interface WorkspaceProjection {
  readonly id: string;
  readonly milestoneId: string;
  /** The milestone lease's fencing token it works under. */
  readonly fencingToken: number;
  /** `preparing | ready | recording | merging | fixing_conflict | merged | removed | check_failed | conflict | failed | released` */
  readonly state: string;
  /** Absolute path of the worktree. */
  readonly path: string;
  readonly branch: string;
  readonly base: string;
  /** The base commit the milestone started from. */
  readonly baseCommit: string | null;
  /** The branch head as last recorded. */
  readonly head: string | null;
  /** The base's head once it contains the milestone's work. */
  readonly mergedCommit: string | null;
  /** Why it failed (the check's last lines, the conflicting files) or was released. */
  readonly reason: string | null;
  /** Fix turns the milestone used so far. */
  readonly fixTurnsUsed: number;
  /** A fix turn (for a failed check or a conflict) is due and not yet committed. */
  readonly fixPending: boolean;
  /** The last fix turn asked for: what it fixes and its input (the check's last lines, the conflict); `null` before any. */
  readonly fix: { readonly id: string; readonly kind: 'check' | 'conflict'; readonly input: string; readonly done: boolean } | null;
}

/** The queryable row derived from an actor's snapshot, written with it. */
export type Projection =
  | { readonly kind: 'worker'; readonly row: WorkerProjection }
  | { readonly kind: 'lease'; readonly row: LeaseProjection }
  | { readonly kind: 'dispatch'; readonly row: DispatchProjection }
  | { readonly kind: 'supervisor'; readonly row: SupervisorProjection }
  | { readonly kind: 'workspace'; readonly row: WorkspaceProjection };

/** Everything one persisted transition writes, in one transaction (invariant 5). */
export interface TransitionWrite {
  readonly actorId: string;
  readonly kind: ActorKind;
  readonly machineId: string;
  readonly machineVersion: number;
  readonly state: string;
  readonly status: ActorStatus;
  /** JSON text of the persisted snapshot. */
  readonly snapshot: string;
  readonly eventType: string;
  /** JSON text of the event (see {@link JournalEntry.event}). */
  readonly event?: string;
  readonly fromState: string | null;
  readonly at: number;
  readonly projection: Projection;
  /**
   * The write is made under a milestone lease: refused with `StaleFencingTokenError` unless
   * `fencingToken` is the milestone's current token (invariant 3).
   */
  readonly fence?: { readonly milestoneId: string; readonly fencingToken: number };
  /**
   * The journal sequence number this write makes (1 for a new actor): refused with
   * `ConcurrentWriteError` unless the actor's last row is `seq - 1` (or absent for 1).
   */
  readonly seq: number;
  /**
   * The runtime making the write. A new actor is owned by it; a write to an existing actor
   * is refused with `OwnershipLostError` unless it still owns the row (single activation),
   * and any write is refused once the runtime's registry row is no longer `running`.
   */
  readonly owner?: string;
  /**
   * Notifications this transition causes (a unit that failed for good), written into the outbox
   * in the same transaction as the transition: both are durable, or neither is.
   */
  readonly notifications?: readonly NotificationWrite[];
}

/**
 * A notification to deliver, as queued in the store's outbox. `key` is its idempotency key:
 * queuing the same key again is a no-op, and every delivery carries it, so that a receiver
 * drops a repeat (a crash between a delivery and its record causes at most one).
 */
export interface NotificationWrite {
  /** Idempotency key: the event and what it is about, and the sink, e.g. `unit.failed:m/u#3:webhook:…`. */
  readonly key: string;
  /** `unit.failed`, `unit.stuck`, `milestone.completed`, `milestone.failed`, `budget.exceeded`, `run.finished`. */
  readonly event: string;
  /** JSON text of the sink: `{"webhook":"https://…"}` or `{"command":["notify-send","…"]}`. */
  readonly sink: string;
  /** JSON text of the body delivered (the webhook's POST body, the command's stdin). */
  readonly body: string;
  /** ms since the Unix epoch. */
  readonly createdAt: number;
}

/** A notification in the outbox with its delivery state. Times in ms since the Unix epoch. */
export interface NotificationRecord extends NotificationWrite {
  readonly id: number;
  /** `pending` (to deliver, or being delivered), `delivered`, `failed` (given up on: a refusal, or attempts used up). */
  readonly state: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  /** When a pending notification is due next. */
  readonly nextAttemptAt: number;
  /** Runtime delivering it now, until `takenUntil`; a claim that lapsed is taken again. */
  readonly takenBy: string | null;
  readonly takenUntil: number | null;
  readonly deliveredAt: number | null;
  /** Why the last attempt failed. */
  readonly lastError: string | null;
}

/** A piece of a turn's log file as kept in the store: `bytes` from byte `offset` of the file. */
export interface TurnOutputChunk {
  readonly dispatchId: string;
  /** Where the bytes start in the log file, in bytes. */
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** What a runtime records of itself when it starts (see {@link RuntimeRecord}). */
export interface RuntimeRegistration {
  readonly id: string;
  readonly host: string;
  readonly hostId: string;
  readonly pid: number;
  readonly procStartTime: string | null;
  /** First heartbeat, ms since epoch. */
  readonly now: number;
  readonly ttlMs: number;
  /** See {@link RuntimeRecord.turnGraceMs}; left out: `null`. */
  readonly turnGraceMs?: number | null;
}

/** A runtime process registered in the store. */
export interface RuntimeRecord {
  readonly id: string;
  /** `os.hostname()` of the machine it runs on, for people (containers share hostnames). */
  readonly host: string;
  /**
   * Host identity (`actors/hostIdentity.ts`: machine, boot and PID namespace) its pid belongs
   * to; `null` for runtimes registered before statecrew recorded it. Its pid is evidence only
   * to a runtime with the same identity.
   */
  readonly hostId: string | null;
  readonly pid: number;
  /** Kernel start time of the process (Linux: clock ticks since boot); `null` when unknown. */
  readonly procStartTime: string | null;
  readonly startedAt: number;
  /** Last heartbeat, ms since epoch; the runtime is presumed live until `heartbeatAt + ttlMs`. */
  readonly heartbeatAt: number;
  readonly ttlMs: number;
  /**
   * Longest time after its last heartbeat that a turn of this runtime may still run, in ms
   * (its turns' keep-alive bound, `actors/keepAlive.ts`); `null` when not recorded (an embedder's
   * registration, or a runtime from before it was recorded: its turns had no keep-alive).
   */
  readonly turnGraceMs: number | null;
  /** `running`; `stopped` (ended cleanly); `dead` (declared dead and taken over). */
  readonly state: 'running' | 'stopped' | 'dead';
  readonly endedAt: number | null;
  readonly endReason: string | null;
}

/** Current row of the lease ledger: who holds a milestone, under which token, until when. */
export interface LeaseLedgerEntry {
  readonly milestoneId: string;
  readonly holderId: string | null;
  readonly leaseId: string | null;
  readonly fencingToken: number;
  readonly expiresAt: number | null;
}

/** The ledger's answer to a claim: the lease statechart's `claimLease` output, defined once beside it. */
export type { LeaseClaimOutput as LeaseClaimResult } from '../machines/lease.js';

export type LeaseRenewResult =
  | { readonly ok: true; readonly expiresAt: number }
  | { readonly ok: false; readonly reason: 'lost' | 'expired'; readonly currentToken: number | null };

/** An operator command waiting for (or handled by) the runtime that owns its target. */
export interface CommandRecord {
  readonly id: number;
  /** `stop`: stop one worker (`target` = worker id): kill, verify, record. */
  readonly kind: 'stop';
  readonly target: string | null;
  readonly createdAt: number;
  readonly takenBy: string | null;
  readonly doneAt: number | null;
  /** `done`, or why not: `not-found`, `nothing-running`. */
  readonly outcome: string | null;
  readonly message: string | null;
}

/** A message to a unit's agent: the input of one of its next turns. */
export interface MessageRecord {
  readonly id: number;
  readonly unitId: string;
  readonly text: string;
  readonly createdAt: number;
}

/** The plan last submitted to the store. */
export interface PlanRecord {
  readonly file: string;
  readonly fingerprint: string;
  /** JSON text of the resolved plan. */
  readonly body: string;
  readonly savedAt: number;
}
