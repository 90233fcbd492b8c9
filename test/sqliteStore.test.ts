import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../persistence/migrations.js';
import { SqliteStore } from '../persistence/sqliteStore.js';
import { StoreNotFoundError } from '../core/errors.js';
import { StoreUnavailableError } from '../core/errors.js';
import { fixture, tempDir } from './helpers/tempStore.js';

/** SQLite-specific behaviour; what every backend must do is in `test/conformance/` (run by sqliteStore.conformance.test.ts). */
describe('SqliteStore', () => {
  it('opens in WAL mode with the schema at the latest migration', async () => {
    const { dir, cleanup } = tempDir();
    const db = new Database(path.join(dir, 's.db'));
    const store = new SqliteStore(db);
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      expect(db.pragma('synchronous', { simple: true })).toBe(1);
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('uses synchronous = FULL with durability full', async () => {
    const { dir, cleanup } = tempDir();
    const db = new Database(path.join(dir, 's.db'));
    const store = new SqliteStore(db, { durability: 'full' });
    try {
      expect(db.pragma('synchronous', { simple: true })).toBe(2);
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('starts the store-wide lease sequence above every per-milestone one of an older store (migration 9)', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 's.db');
    const db = new Database(file);
    for (const [version, sql] of MIGRATIONS.slice(0, 8).entries()) {
      db.exec(sql);
      db.pragma(`user_version = ${version + 1}`);
    }
    db.exec("INSERT INTO sequences (name, value) VALUES ('lease:a', 3), ('lease:b', 7), ('worker', 2)");
    db.close();
    const store = SqliteStore.fromPath(file);
    try {
      expect(await store.reserveSequence('lease', 1)).toBe(8);
      expect(await store.reserveSequence('worker', 1)).toBe(3);
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('moves the journal of a version-7 store into a rowid table, keeping every row (migration 8)', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 's.db');
    const db = new Database(file);
    for (const [version, sql] of MIGRATIONS.slice(0, 7).entries()) {
      db.exec(sql);
      db.pragma(`user_version = ${version + 1}`);
    }
    const insert = db.prepare('INSERT INTO journal (actor_id, seq, event_type, from_state, to_state, at, snapshot, event) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    insert.run('d1', 1, 'xstate.init', null, 'pending.backoff', 10, '{"value":"pending"}', '{"type":"xstate.init"}');
    insert.run('d1', 2, 'CANCEL', 'pending.backoff', 'canceled', 20, '{"value":"canceled"}', null);
    db.close();
    const reopened = new Database(file);
    const store = new SqliteStore(reopened);
    try {
      expect(reopened.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      const ddl = reopened.prepare("SELECT sql FROM sqlite_master WHERE name = 'journal'").pluck().get() as string;
      expect(ddl).not.toMatch(/WITHOUT ROWID/);
      expect((await store.journal('d1')).map((row) => [row.seq, row.eventType, row.toState, row.event])).toEqual([
        [1, 'xstate.init', 'pending.backoff', '{"type":"xstate.init"}'],
        [2, 'CANCEL', 'canceled', null],
      ]);
      expect(() => reopened.prepare("INSERT INTO journal (actor_id, seq, event_type, to_state, at, snapshot) VALUES ('d1', 2, 'X', 'x', 1, '{}')").run()).toThrow(
        /UNIQUE constraint failed/,
      );
    } finally {
      await store.close();
      cleanup();
    }
  });

  it('refuses a store written by a newer schema', () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 's.db');
    const db = new Database(file);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    try {
      expect(() => SqliteStore.fromPath(file)).toThrow(/newer than this statecrew supports/);
    } finally {
      cleanup();
    }
  });

  it('does not create a file when opened read-only or with mustExist', () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'missing.db');
    try {
      expect(() => SqliteStore.fromPath(file, { readonly: true })).toThrow(StoreNotFoundError);
      expect(() => SqliteStore.fromPath(file, { mustExist: true })).toThrow(StoreNotFoundError);
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      cleanup();
    }
  });

  it('waits busy_timeout for a lock another process holds, then fails with StoreUnavailableError (retry), by SQLite code', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 's.db');
    await SqliteStore.fromPath(file).close();
    const holder = spawn(process.execPath, [fixture('hold-write-lock.mjs'), file, '600'], { stdio: ['ignore', 'pipe', 'inherit'] });
    // Listened for now: the holder may exit before the test reaches its `finally`.
    const exited = once(holder, 'exit');
    await once(holder.stdout, 'data');
    const patient = SqliteStore.fromPath(file, { busyTimeoutMs: 3_000 });
    const impatient = SqliteStore.fromPath(file, { busyTimeoutMs: 50 });
    try {
      const refused = impatient.reserveSequence('x', 1);
      await expect(refused).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(refused).rejects.toMatchObject({ recovery: 'retry', cause: { code: 'SQLITE_BUSY' } });
      expect(await patient.reserveSequence('x', 1)).toBe(1);
    } finally {
      await patient.close();
      await impatient.close();
      await exited;
      cleanup();
    }
  });

  it('waits for another process\'s lock without blocking the event loop, and keeps its calls in call order', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 's.db');
    await SqliteStore.fromPath(file).close();
    const holder = spawn(process.execPath, [fixture('hold-write-lock.mjs'), file, '400'], { stdio: ['ignore', 'pipe', 'inherit'] });
    // Listened for now: the holder may exit before the test reaches its `finally`.
    const exited = once(holder, 'exit');
    await once(holder.stdout, 'data');
    const store = SqliteStore.fromPath(file, { busyTimeoutMs: 5_000 });
    try {
      const settled: string[] = [];
      const first = store.reserveSequence('x', 1).then((value) => settled.push(`first ${value}`));
      // Queued behind the waiting write, though a read would not need the lock: a caller's
      // read after its write sees the write.
      const read = store.listActors().then((actors) => settled.push(`read ${actors.length}`));
      const second = store.reserveSequence('x', 1).then((value) => settled.push(`second ${value}`));
      // While the lock is held, timers and I/O of this process go on: count event-loop turns.
      let turns = 0;
      const ticking = setInterval(() => turns++, 10);
      const [released] = await Promise.all([once(holder.stdout, 'data'), first, read, second]);
      clearInterval(ticking);
      expect(String(released)).toMatch(/released/);
      expect(settled).toEqual(['first 1', 'read 0', 'second 2']);
      expect(turns).toBeGreaterThan(5);
    } finally {
      await store.close();
      await exited;
      cleanup();
    }
  });

  it('lets several processes create and migrate a new store at the same time', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'fresh.db');
    try {
      const opens = Array.from({ length: 6 }, () => {
        const child = spawn(process.execPath, [fixture('open-store.mjs'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
        return once(child, 'exit').then(([code]) => ({ code: code as number | null, err }));
      });
      const results = await Promise.all(opens);
      expect(results).toEqual(results.map(() => ({ code: 0, err: '' })));
      const db = new Database(file, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      db.close();
    } finally {
      cleanup();
    }
  });
});
