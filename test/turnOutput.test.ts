import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { shipTurnOutput, TURN_OUTPUT_CAP_BYTES, TURN_OUTPUT_CHUNK_BYTES } from '../actors/turnOutput.js';
import { openStoreAt } from '../persistence/openStore.js';
import type { Store } from '../persistence/store.js';
import { tempDir } from './helpers/tempStore.js';

let dir: string;
let cleanup: () => void;
let store: Store;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-turn-output-'));
  store = openStoreAt(path.join(dir, 's.db'));
});

afterEach(async () => {
  await store.close();
  cleanup();
});

describe('shipTurnOutput', () => {
  it('copies a log to the store as it grows, and keeps only its last 8 MiB of a longer one', async () => {
    const log = path.join(dir, 'attempt-1.log');
    fs.writeFileSync(log, '# header\n');
    const shipping = shipTurnOutput(log, 'd1', (chunk, cap) => store.appendTurnOutput(chunk, cap));
    // 9 MiB of numbered lines, appended after the copy began.
    const lines: string[] = [];
    for (let i = 0, size = 0; size < 9 * 1024 * 1024; i++) {
      lines.push(`line ${String(i).padStart(8, '0')} ${'x'.repeat(100)}\n`);
      size += 115;
    }
    fs.appendFileSync(log, lines.join(''));
    fs.appendFileSync(log, '# footer\n');
    await shipping.finish();
    expect(shipping.failure).toBeNull();

    const file = fs.readFileSync(log);
    const chunks = await store.readTurnOutput('d1');
    const first = chunks[0]?.offset ?? -1;
    const kept = Buffer.concat(chunks.map((c) => Buffer.from(c.bytes)));
    expect(first).toBeGreaterThan(0);
    expect(first + kept.length).toBe(file.length);
    expect(kept.length).toBeGreaterThanOrEqual(TURN_OUTPUT_CAP_BYTES);
    expect(kept.length).toBeLessThan(TURN_OUTPUT_CAP_BYTES + TURN_OUTPUT_CHUNK_BYTES);
    expect(kept.equals(file.subarray(first))).toBe(true);
    expect(kept.toString().endsWith('# footer\n')).toBe(true);
  });

  it('continues after what is stored (a runtime adopting the turn), and copies nothing of a log that is not here', async () => {
    const log = path.join(dir, 'attempt-2.log');
    fs.writeFileSync(log, 'abcdef');
    await store.appendTurnOutput({ dispatchId: 'd2', offset: 0, bytes: Buffer.from('abc') }, TURN_OUTPUT_CAP_BYTES);
    const adopted = shipTurnOutput(log, 'd2', (chunk, cap) => store.appendTurnOutput(chunk, cap), 3);
    await adopted.finish();
    expect((await store.readTurnOutput('d2')).map((c) => `${c.offset}:${Buffer.from(c.bytes).toString()}`)).toEqual(['0:abc', '3:def']);

    const elsewhere = shipTurnOutput(path.join(dir, 'on-another-host.log'), 'd3', (chunk, cap) => store.appendTurnOutput(chunk, cap));
    await elsewhere.finish();
    expect(elsewhere.failure).toBeNull();
    expect(await store.readTurnOutput('d3')).toEqual([]);
  });

  it('stops copying at the first failure and keeps it', async () => {
    const log = path.join(dir, 'attempt-3.log');
    fs.writeFileSync(log, 'output');
    const failing = shipTurnOutput(log, 'd4', () => Promise.reject(new Error('store refused')));
    await failing.finish();
    expect(failing.failure?.message).toBe('store refused');
  });
});
