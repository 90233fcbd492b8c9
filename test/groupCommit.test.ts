import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqliteStore } from '../persistence/sqliteStore.js';
import { PersistError } from '../core/errors.js';
import { openStore, tempDir } from './helpers/tempStore.js';

/** Group commit on a real SQLite file, watched from a second connection as another process would. */

let dir: string;
let cleanup: () => void;
let store: SqliteStore;
let other: SqliteStore;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-group-'));
  store = openStore(dir);
  other = openStore(dir);
});

afterEach(() => {
  store.close();
  other.close();
  cleanup();
});

const control = (s: SqliteStore, key: string) => s.getControl(key)?.value;

describe('Store.deferCommit (group commit)', () => {
  it('commits every write of a job at once at its end, and settles listeners before code awaiting it', async () => {
    const order: string[] = [];
    const commit = store.deferCommit(() => order.push('listener'));
    store.setControl('a', '1', 1);
    store.setControl('b', '2', 2);
    expect(store.deferCommit()).toBe(commit);
    expect(control(store, 'a'), 'own writes are visible at once').toBe('1');
    expect(control(other, 'a'), 'not committed before the end of the job').toBeUndefined();
    await commit.then(() => order.push('awaiter'));
    expect(order).toEqual(['listener', 'awaiter']);
    expect([control(other, 'a'), control(other, 'b')]).toEqual(['1', '2']);
    await expect(store.committed()).resolves.toBeUndefined();
  });

  it('rolls a refused write back alone (its transaction is a savepoint): the rest of the job commits', async () => {
    const commit = store.deferCommit();
    store.setControl('kept', 'yes', 1);
    // What persistTransition does when the store refuses a write: its transaction throws.
    const refused = store.db.transaction(() => {
      store.setControl('refused', 'yes', 1);
      throw new Error('stale fencing token');
    });
    expect(() => refused.immediate()).toThrow('stale fencing token');
    store.setControl('after', 'yes', 2);
    await commit;
    expect([control(other, 'kept'), control(other, 'refused'), control(other, 'after')]).toEqual(['yes', undefined, 'yes']);
  });

  it('commits at once on flushCommit, before the job ends', async () => {
    let settled = false;
    const commit = store.deferCommit(() => {
      settled = true;
    });
    store.setControl('pid', '4242', 1);
    store.flushCommit();
    expect(settled).toBe(true);
    expect(control(other, 'pid')).toBe('4242');
    await commit;
    const next = store.deferCommit();
    expect(next).not.toBe(commit);
    await next;
  });

  it('rejects with PersistError, and rolls the whole job back, when the commit fails', async () => {
    // A deferred foreign key is checked at COMMIT: the commit itself fails.
    store.db.exec('CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)');
    let reported: Error | undefined;
    const commit = store.deferCommit((error) => {
      reported = error;
    });
    store.setControl('lost', 'yes', 1);
    store.db.prepare('INSERT INTO child (parent) VALUES (1)').run();
    await expect(commit).rejects.toBeInstanceOf(PersistError);
    expect(reported).toBeInstanceOf(PersistError);
    expect(store.db.inTransaction).toBe(false);
    expect(control(other, 'lost')).toBeUndefined();
    expect(control(store, 'lost')).toBeUndefined();
  });

  it('lets another process write again once the job committed', async () => {
    const commit = store.deferCommit();
    store.setControl('first', '1', 1);
    await commit;
    other.setControl('second', '2', 2);
    expect(control(store, 'second')).toBe('2');
    expect(path.basename(store.db.name)).toBe('store.db');
  });
});
