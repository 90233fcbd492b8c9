/**
 * Exit codes of the `statecrew` CLI (documented in the README).
 * 0 every unit completed · 1 a unit failed or was blocked, or a store failure ·
 * 2 invalid input (plan or arguments; nothing written) · 3 another runtime is running on the store ·
 * 130 stopped by SIGINT · 143 stopped by SIGTERM.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  invalidInput: 2,
  storeInUse: 3,
  sigint: 130,
  sigterm: 143,
} as const;
