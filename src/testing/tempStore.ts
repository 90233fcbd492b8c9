import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStoreAt } from '../../persistence/openStore.js';
import type { Store } from '../../persistence/store.js';

/** A real SQLite store in a new temp folder; see {@link createTempStore}. */
export interface TempStore {
  /** Absolute path of the store file (pass it to `createRuntime({ store })`). */
  readonly file: string;
  /** The temp folder holding the store (and a runtime's `logs/`). */
  readonly dir: string;
  /** Opens a new connection to the store (the caller closes it). */
  open(): Store;
  /** Removes the folder and everything in it; close connections first. */
  cleanup(): void;
}

/**
 * Creates a temp folder (under the OS temp dir, prefix `statecrew-`) for a store file
 * `store.db`, which the first {@link TempStore.open} or runtime creates.
 */
export function createTempStore(prefix = 'statecrew-'): TempStore {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = path.join(dir, 'store.db');
  return {
    file,
    dir,
    open: () => openStoreAt(file),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
