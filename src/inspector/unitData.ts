import { StringDecoder } from 'node:string_decoder';
import type { Store } from '../../persistence/store.js';
import { roundUsd } from '../../actors/streamJson.js';
import type { UnitProgress, UnitState } from '../progress.js';
import { milestoneOf, unitOf } from '../plan/lookup.js';
import type { DerivedStore } from './derivedCache.js';
import { toConversation, type ConversationItem, type EventLine } from './conversation.js';

/** A unit in a milestone's list on the fleet view. */
export interface UnitRow {
  readonly id: string;
  readonly state: UnitState;
  /** Attempt number of its latest turn, and turns run (retries, messages and fix turns included). */
  readonly attempts: number;
  readonly turns: number;
  /** USD its turns cost. */
  readonly costUsd: number;
  /** Why it failed when no dispatch says it (a budget). */
  readonly failure: string | null;
}

/** One turn of a unit: a dispatch, with what it reported. Times in ms since the epoch. */
export interface TurnRow {
  readonly dispatchId: string;
  readonly attempt: number;
  readonly state: string;
  readonly workerId: string | null;
  readonly fencingToken: number | null;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly reason: string | null;
  /** The message this turn answered, or null for a plan turn. */
  readonly messageId: number | null;
  readonly sessionId: string | null;
  readonly costUsd: number | null;
  readonly inputTokens: number | null;
  readonly outputTokens: number | null;
}

/** A unit's page: the unit, its turns (oldest first) and its messages. */
export interface UnitDetail {
  readonly unit: UnitRow & { readonly milestoneId: string; readonly protocol: string; readonly command: readonly string[] };
  readonly turns: readonly TurnRow[];
  readonly messages: readonly { readonly id: number; readonly text: string; readonly createdAt: number }[];
}

/** A slice of a turn's log as the store keeps it (the last 8 MiB), from byte `from`. */
export interface TurnLogSlice {
  readonly text: string;
  /** Byte offset to ask from next. */
  readonly next: number;
  /** Bytes at the head of the log the store no longer keeps (0 when it has all of it). */
  readonly dropped: number;
}

const unitRow = (unit: UnitProgress): UnitRow => ({
  id: unit.spec.id,
  state: unit.state,
  attempts: unit.attempts,
  turns: unit.turns,
  costUsd: roundUsd(unit.spentUsd),
  failure: unit.failure,
});

/**
 * The units of one milestone, in plan order, `limit` from `offset` (the page shows long
 * milestones a page at a time).
 * @returns `undefined` when the store's plan has no milestone `milestoneId`.
 */
export function readMilestoneUnits(derived: DerivedStore, milestoneId: string, offset = 0, limit = 200): { total: number; units: UnitRow[] } | undefined {
  if (derived.plan === undefined || derived.progress === undefined || milestoneOf(derived.plan, milestoneId) === undefined) return undefined;
  const units = derived.progress.milestones.find((m) => m.spec.id === milestoneId)?.units ?? [];
  return { total: units.length, units: units.slice(offset, offset + limit).map(unitRow) };
}

/**
 * One unit with its turns and messages.
 * @returns `undefined` when the store's plan has no unit `unitId`.
 */
export async function readUnitDetail(store: Store, derived: DerivedStore, unitId: string): Promise<UnitDetail | undefined> {
  const spec = derived.plan === undefined ? undefined : unitOf(derived.plan, unitId);
  const progress = derived.progress?.units.get(unitId);
  if (spec === undefined || progress === undefined) return undefined;
  const turns = (await store.listDispatches(unitId)).map((d) => ({
    dispatchId: d.id,
    attempt: d.attempt,
    state: d.state,
    workerId: d.workerId,
    fencingToken: d.fencingToken,
    startedAt: d.startedAt,
    endedAt: d.endedAt,
    exitCode: d.exitCode,
    signal: d.signal,
    reason: d.reason,
    messageId: d.messageId,
    sessionId: d.sessionId,
    costUsd: d.costUsd,
    inputTokens: d.inputTokens,
    outputTokens: d.outputTokens,
  }));
  const messages = (await store.listMessages(unitId)).map((m) => ({ id: m.id, text: m.text, createdAt: m.createdAt }));
  return { unit: { ...unitRow(progress), milestoneId: spec.milestoneId, protocol: spec.protocol, command: spec.command }, turns, messages };
}

/** A turn's log from byte `from`, as the store keeps it (shipped by the runtime that watches the turn, about once a second). */
export async function readTurnLog(store: Store, dispatchId: string, from = 0): Promise<TurnLogSlice> {
  const chunks = await store.readTurnOutput(dispatchId, from);
  const decoder = new StringDecoder('utf8');
  let next = from;
  let dropped = 0;
  let text = '';
  for (const chunk of chunks) {
    if (chunk.offset > next) {
      if (next === 0) dropped = chunk.offset;
      next = chunk.offset;
    }
    text += decoder.write(Buffer.from(chunk.bytes).subarray(next - chunk.offset));
    next = chunk.offset + chunk.bytes.length;
  }
  // A character cut at the end stays for the next read: `next` is moved back to its first byte.
  const pending = Buffer.byteLength(decoder.end(), 'utf8') > 0 ? pendingBytes(chunks.at(-1)?.bytes) : 0;
  return { text, next: next - pending, dropped };
}

/** Bytes of an incomplete UTF-8 sequence at the end of `bytes`. */
function pendingBytes(bytes: Uint8Array | undefined): number {
  if (bytes === undefined) return 0;
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back] ?? 0;
    if ((byte & 0xc0) === 0xc0) return back;
    if ((byte & 0x80) === 0) return 0;
  }
  return 0;
}

/**
 * A turn's conversation: from the events recorded when the turn ended, or — while it runs —
 * from the JSON lines of its stored log (the CLI's stdout is in it, beside stderr).
 */
export async function readConversation(store: Store, dispatchId: string): Promise<{ source: 'events' | 'log'; items: ConversationItem[] }> {
  const recorded = await store.turnEvents(dispatchId);
  if (recorded.length > 0) {
    const lines: EventLine[] = recorded.map((row) => ({ line: row.line, event: row.type === '(malformed)' ? row.body : parseOr(row.body) }));
    return { source: 'events', items: toConversation(lines) };
  }
  const log = await readTurnLog(store, dispatchId);
  const lines: EventLine[] = [];
  log.text.split('\n').forEach((text, index) => {
    if (!text.startsWith('{')) return;
    const event = parseOr(text);
    if (typeof event === 'object') lines.push({ line: index + 1, event });
  });
  return { source: 'log', items: toConversation(lines) };
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not JSON: kept as its text, shown as a line that is not an event.
    return text;
  }
}
