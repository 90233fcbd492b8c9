import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../persistence/migrations.js';
import { SqliteStore } from '../persistence/sqliteStore.js';
import { StoreNotFoundError } from '../core/errors.js';
import { describeStoreConformance } from './storeConformance.js';
import { fixture, tempDir } from './helpers/tempStore.js';

describeStoreConformance('SqliteStore', () => {
  const { dir, cleanup } = tempDir('statecrew-store-');
  const file = path.join(dir, 'nested', 'store.db');
  return { open: () => SqliteStore.fromPath(file), reopen: () => SqliteStore.fromPath(file), dispose: cleanup };
});

describe('SqliteStore', () => {
  it('opens in WAL mode with the schema at the latest migration', () => {
    const { dir, cleanup } = tempDir();
    const store = SqliteStore.fromPath(path.join(dir, 's.db'));
    try {
      expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      expect(store.db.pragma('synchronous', { simple: true })).toBe(1);
    } finally {
      store.close();
      cleanup();
    }
  });

  it('uses synchronous = FULL with durability full', () => {
    const { dir, cleanup } = tempDir();
    const store = SqliteStore.fromPath(path.join(dir, 's.db'), { durability: 'full' });
    try {
      expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    } finally {
      store.close();
      cleanup();
    }
  });

  it('moves the journal of a version-7 store into a rowid table, keeping every row (migration 8)', () => {
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
    const store = SqliteStore.fromPath(file);
    try {
      expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      const ddl = store.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'journal'").pluck().get() as string;
      expect(ddl).not.toMatch(/WITHOUT ROWID/);
      expect(store.journal('d1').map((row) => [row.seq, row.eventType, row.toState, row.event])).toEqual([
        [1, 'xstate.init', 'pending.backoff', '{"type":"xstate.init"}'],
        [2, 'CANCEL', 'canceled', null],
      ]);
      expect(() => store.db.prepare("INSERT INTO journal (actor_id, seq, event_type, to_state, at, snapshot) VALUES ('d1', 2, 'X', 'x', 1, '{}')").run()).toThrow(
        /UNIQUE constraint failed/,
      );
    } finally {
      store.close();
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

  it('waits out another process holding the write lock (busy_timeout, then retries) instead of failing', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 's.db');
    SqliteStore.fromPath(file).close();
    const holder = spawn(process.execPath, [fixture('hold-write-lock.mjs'), file, '400'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(holder.stdout, 'data');
    const patient = SqliteStore.fromPath(file, { busyTimeoutMs: 100, busyRetries: 20 });
    const impatient = SqliteStore.fromPath(file, { busyTimeoutMs: 50, busyRetries: 0 });
    try {
      expect(() => impatient.nextSequence('x')).toThrow(/database is locked/);
      expect(patient.nextSequence('x')).toBe(1);
    } finally {
      patient.close();
      impatient.close();
      await once(holder, 'exit');
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
      const store = SqliteStore.fromPath(file);
      expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      store.close();
    } finally {
      cleanup();
    }
  });
});
