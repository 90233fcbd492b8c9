import { afterEach, beforeEach } from 'vitest';
import type { Store } from '../../persistence/store.js';
import type { DispatchProjection, TransitionWrite, WorkerProjection } from '../../persistence/types.js';

/**
 * One backend under the conformance suite (as LangGraph.js's checkpoint-validation takes a
 * saver per backend): `setup` makes a fresh, empty store and returns how to open connections
 * to it; `teardown` removes it. Every spec file takes one.
 */
export interface ConformanceBackend {
  readonly name: string;
  /** Whether `readClock` reads a clock of the store's own (a server) rather than resolving `null` (the host's). */
  readonly hasOwnClock: boolean;
  setup(): Promise<BackendStore>;
}

export interface BackendStore {
  /** A new connection to the store (the caller closes it). */
  open(): Store;
  /** Removes the store; every connection is closed first. */
  teardown(): Promise<void>;
}

/** A dispatch transition as the runtime would stage it. */
export function dispatchWrite(
  id: string,
  seq: number,
  state: string,
  eventType: string,
  options: { status?: 'active' | 'done'; unitId?: string; from?: string | null; fence?: TransitionWrite['fence']; owner?: string; at?: number } = {},
): TransitionWrite {
  const row: DispatchProjection = {
    id,
    unitId: options.unitId ?? 'u1',
    milestoneId: 'm',
    attempt: 1,
    state: state.split('.')[0] ?? state,
    workerId: null,
    fencingToken: options.fence?.fencingToken ?? null,
    notBefore: null,
    startedAt: null,
    endedAt: null,
    pid: null,
    pgid: null,
    hostId: null,
    procStartTime: null,
    logPath: null,
    outcome: null,
    exitCode: null,
    signal: null,
    lastStderrLine: null,
    reason: null,
    messageId: null,
    sessionId: null,
    resumeMismatch: false,
    costUsd: null,
    inputTokens: null,
    outputTokens: null,
    transient: null,
    retryAt: null,
  };
  return {
    actorId: id,
    kind: 'dispatch',
    machineId: 'statecrew.dispatch',
    machineVersion: 1,
    state,
    status: options.status ?? 'active',
    snapshot: JSON.stringify({ value: state, context: { id } }),
    eventType,
    event: JSON.stringify({ type: eventType }),
    fromState: options.from ?? null,
    at: options.at ?? seq,
    seq,
    projection: { kind: 'dispatch', row },
    ...(options.fence === undefined ? {} : { fence: options.fence }),
    ...(options.owner === undefined ? {} : { owner: options.owner }),
  };
}

/** A worker transition as the runtime would stage it. */
export function workerWrite(id: string, seq: number, state: string, options: { owner?: string; status?: 'active' | 'done'; at?: number } = {}): TransitionWrite {
  const row: WorkerProjection = { id, state, milestoneId: null, unitId: null, dispatchId: null, fencingToken: null, pid: null, turns: 0 };
  return {
    actorId: id,
    kind: 'worker',
    machineId: 'statecrew.worker',
    machineVersion: 1,
    state,
    status: options.status ?? 'active',
    snapshot: JSON.stringify({ value: state, context: { workerId: id } }),
    eventType: seq === 1 ? 'xstate.init' : 'EVENT',
    fromState: null,
    at: options.at ?? seq,
    seq,
    projection: { kind: 'worker', row },
    ...(options.owner === undefined ? {} : { owner: options.owner }),
  };
}

/** Collects an async iterable. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of iterable) all.push(item);
  return all;
}

/** A fresh store of `backend` for every test of the calling `describe`: `t.store` (a connection) and `t.env` (to open more). */
export function useStore(backend: ConformanceBackend): { readonly store: Store; readonly env: BackendStore } {
  let env: BackendStore | undefined;
  let store: Store | undefined;
  beforeEach(async () => {
    env = await backend.setup();
    store = env.open();
  });
  afterEach(async () => {
    await store?.close();
    await env?.teardown();
  });
  const fail = (): never => {
    throw new Error('useStore: only inside a test');
  };
  return {
    get store() {
      return store ?? fail();
    },
    get env() {
      return env ?? fail();
    },
  };
}
