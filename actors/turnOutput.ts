import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { ensureError } from '../core/errors.js';
import type { TurnOutputChunk } from '../persistence/types.js';
import { errnoOf } from './turnStatus.js';

/** How often a watched turn's log is copied to the store, in ms. */
export const TURN_OUTPUT_SHIP_MS = 1_000;
/** Most bytes of one chunk. */
export const TURN_OUTPUT_CHUNK_BYTES = 256 * 1024;
/** Bytes of a turn's log the store keeps, the tail: 8 MiB. */
export const TURN_OUTPUT_CAP_BYTES = 8 * 1024 * 1024;

/** What {@link shipTurnOutput} writes to. */
export type AppendTurnOutput = (chunk: TurnOutputChunk, capBytes: number) => Promise<void>;

/** A turn's log being copied to the store. */
export interface TurnOutputShipping {
  /** Copies what is left of the log (after its footer was written) and stops; resolves once it is stored. */
  finish(): Promise<void>;
  /** The first failure to read the log or store a chunk, after which copying stopped; `null` while none. */
  readonly failure: Error | null;
}

/**
 * Copies a turn's log file (as the runner and the shim write it) to the store in chunks, so
 * that `statecrew logs` works from any host: every {@link TURN_OUTPUT_SHIP_MS}, what the file
 * grew by since the last copy goes out as chunks of at most {@link TURN_OUTPUT_CHUNK_BYTES},
 * one append at a time, and the store keeps the last {@link TURN_OUTPUT_CAP_BYTES}. The copy
 * starts at byte `fromOffset` (a runtime adopting a turn continues after what is stored).
 * A failure (the file unreadable, the store refusing after its retries, which its policy has
 * already reported) stops the copying and is kept in `failure`: the log file stays whole.
 */
export function shipTurnOutput(logPath: string, dispatchId: string, append: AppendTurnOutput, fromOffset = 0): TurnOutputShipping {
  let shipped = fromOffset;
  let failure: Error | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  let finished = false;

  // Every running turn's log is looked at each second: a file that did not grow costs one
  // stat(2), and a read allocates only what it reads (a zeroed 256 KiB buffer per look was
  // 7 % of a 256-worker fleet's runtime CPU, with its garbage collection).
  const readFrom = (offset: number): Buffer | null => {
    let fd: number;
    let size: number;
    try {
      size = statSync(logPath).size;
      if (size <= offset) return null;
      fd = openSync(logPath, 'r');
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return null;
      throw error;
    }
    try {
      const buffer = Buffer.allocUnsafe(Math.min(TURN_OUTPUT_CHUNK_BYTES, size - offset));
      const read = readSync(fd, buffer, 0, buffer.length, offset);
      return read === 0 ? null : buffer.subarray(0, read);
    } finally {
      closeSync(fd);
    }
  };
  const drain = async (): Promise<void> => {
    for (;;) {
      if (failure !== null) return;
      const bytes = readFrom(shipped);
      if (bytes === null) return;
      await append({ dispatchId, offset: shipped, bytes }, TURN_OUTPUT_CAP_BYTES);
      shipped += bytes.length;
    }
  };
  const ship = (): Promise<void> => {
    inFlight = inFlight.then(drain).catch((error: unknown) => {
      failure ??= ensureError(error);
    });
    return inFlight;
  };
  const timer = setInterval(() => {
    if (!finished) void ship();
  }, TURN_OUTPUT_SHIP_MS);
  timer.unref();

  return {
    finish: async () => {
      finished = true;
      clearInterval(timer);
      await ship();
    },
    get failure() {
      return failure;
    },
  };
}
