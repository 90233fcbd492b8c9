import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../persistence/sqliteStore.js';

/** A fresh folder under the OS temp dir; removed by `cleanup()`. */
export function tempDir(prefix = 'statecrew-test-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Opens a real SQLite store file in `dir` (a new connection each call). */
export function openStore(dir: string, name = 'store.db'): SqliteStore {
  return SqliteStore.fromPath(path.join(dir, name));
}

/** Absolute path of a fixture script under `test/fixtures/`. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}
