import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../core/clock.js';
import { openStoreAt } from '../persistence/openStore.js';
import type { Store } from '../persistence/store.js';
import { printStoredLog } from '../src/cli/storedLog.js';
import { dispatchWrite } from './conformance/backend.js';
import { drainEventLoop } from './helpers/runtimeEvents.js';
import { tempDir } from './helpers/tempStore.js';

/** `statecrew logs` of a log that is not on this host: the copy in the store, printed and followed. */
let dir: string;
let cleanup: () => void;
let store: Store;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-stored-log-'));
  store = openStoreAt(path.join(dir, 's.db'));
});

afterEach(async () => {
  await store.close();
  cleanup();
});

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { io: { stdout, stderr, cwd: dir } as never, out: () => out, err: () => err };
}

const FINAL = new Set(['completed', 'failed', 'stuck', 'canceled']);
const append = (offset: number, text: string) => store.appendTurnOutput({ dispatchId: 'd1', offset, bytes: Buffer.from(text) }, 8 * 1024 * 1024);

describe('printStoredLog', () => {
  it('follows the stored copy as it grows until the dispatch is final, then exits 0', async () => {
    await store.commitJob([dispatchWrite('d1', 1, 'running', 'START')]);
    const [dispatch] = await store.listDispatches();
    if (dispatch === undefined) throw new Error('no dispatch');
    await append(0, '# statecrew turn d1 started\nfirst ');
    const clock = createManualClock();
    const out = io();
    const following = printStoredLog({ store, dispatch, io: out.io, follow: true, clock, interrupt: new AbortController().signal, pollMs: 500, finalStates: FINAL });
    await drainEventLoop();
    expect(out.out()).toBe('# statecrew turn d1 started\nfirst ');

    // A character split across two chunks comes out whole.
    const euro = Buffer.from('€');
    await store.appendTurnOutput({ dispatchId: 'd1', offset: 34, bytes: Buffer.concat([Buffer.from('line\nprice 3'), euro.subarray(0, 1)]) }, 8 * 1024 * 1024);
    clock.advance(500);
    await drainEventLoop();
    expect(out.out()).toBe('# statecrew turn d1 started\nfirst line\nprice 3');
    await store.appendTurnOutput({ dispatchId: 'd1', offset: 47, bytes: Buffer.concat([euro.subarray(1), Buffer.from('\n# exit code 0\n')]) }, 8 * 1024 * 1024);
    await store.commitJob([dispatchWrite('d1', 2, 'completed', 'FINISH', { from: 'running', status: 'done' })]);
    clock.advance(500);
    expect(await following).toBe(0);
    expect(out.out()).toBe('# statecrew turn d1 started\nfirst line\nprice 3€\n# exit code 0\n');
    expect(out.err()).toBe('');
  });

  it('says how much of the head the store dropped, and returns null when it holds nothing', async () => {
    await store.commitJob([dispatchWrite('d1', 1, 'completed', 'FINISH', { status: 'done' })]);
    const [dispatch] = await store.listDispatches();
    if (dispatch === undefined) throw new Error('no dispatch');
    const none = io();
    const options = { store, dispatch, follow: false, clock: createManualClock(), interrupt: new AbortController().signal, pollMs: 500, finalStates: FINAL };
    expect(await printStoredLog({ ...options, io: none.io })).toBeNull();
    await append(4096, 'the tail\n');
    const tail = io();
    expect(await printStoredLog({ ...options, io: tail.io })).toBe(0);
    expect(tail.out()).toBe('the tail\n');
    expect(tail.err()).toBe('statecrew: the store keeps the last 8 MiB of this log; its first 4096 bytes are not shown\n');
  });

  it('stops following with exit code 130 when interrupted', async () => {
    await store.commitJob([dispatchWrite('d1', 1, 'running', 'START')]);
    const [dispatch] = await store.listDispatches();
    if (dispatch === undefined) throw new Error('no dispatch');
    await append(0, 'running\n');
    const interrupt = new AbortController();
    const out = io();
    const following = printStoredLog({ store, dispatch, io: out.io, follow: true, clock: createManualClock(), interrupt: interrupt.signal, pollMs: 500, finalStates: FINAL });
    await drainEventLoop();
    interrupt.abort();
    expect(await following).toBe(130);
    expect(out.out()).toBe('running\n');
  });
});
