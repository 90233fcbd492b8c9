/**
 * Exit codes of the `statecrew` CLI (documented in the README).
 * 0 every unit completed · 1 a unit failed or was blocked, or the runtime was fenced ·
 * 2 invalid input (plan, arguments or a store path that is not a store; nothing written) ·
 * 4 the store failed (disk full, I/O error, locked past `--store-wait`): turns killed, nothing more written ·
 * 130 stopped by SIGINT · 143 stopped by SIGTERM.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  invalidInput: 2,
  storeFailure: 4,
  sigint: 130,
  sigterm: 143,
} as const;
