import { StringDecoder } from 'node:string_decoder';
import { TURN_OUTPUT_CAP_BYTES } from '../../actors/turnOutput.js';
import type { Clock } from '../../core/clock.js';
import type { Store } from '../../persistence/store.js';
import type { DispatchProjection } from '../../persistence/types.js';
import { EXIT } from './exitCodes.js';
import type { CliIO } from './io.js';

/** What {@link printStoredLog} needs. */
export interface StoredLogOptions {
  readonly store: Store;
  readonly dispatch: DispatchProjection;
  readonly io: CliIO;
  /** Keep printing what is stored until the dispatch is final (then exit 0). */
  readonly follow: boolean;
  readonly clock: Clock;
  /** Aborting it stops following with exit code 130. */
  readonly interrupt: AbortSignal;
  /** Interval between two reads of the store while following, in ms. */
  readonly pollMs: number;
  /** Dispatch states after which nothing more is written to its log. */
  readonly finalStates: ReadonlySet<string>;
}

/**
 * Prints a dispatch's log as the store keeps it (`Store.readTurnOutput`: the runtime that
 * watched the turn copied it there, the last 8 MiB), for a log whose file is not on this host.
 * When the store dropped the head of a long log, stderr says how many bytes are not shown.
 * With `follow`, it reads the store every `pollMs` until the dispatch's row is final.
 * @returns `null` when the store holds nothing of this log (the caller says where the file is);
 *   else exit code 0, or 130 when following was interrupted.
 * @throws the store's error.
 */
export async function printStoredLog(options: StoredLogOptions): Promise<number | null> {
  const { store, dispatch, io } = options;
  const decoder = new StringDecoder('utf8');
  let next = 0;
  const pump = async (): Promise<boolean> => {
    const chunks = await store.readTurnOutput(dispatch.id, next);
    for (const chunk of chunks) {
      if (chunk.offset > next) {
        if (next === 0) io.stderr.write(`statecrew: the store keeps the last ${TURN_OUTPUT_CAP_BYTES / (1024 * 1024)} MiB of this log; its first ${chunk.offset} bytes are not shown\n`);
        next = chunk.offset;
      }
      const text = decoder.write(Buffer.from(chunk.bytes).subarray(next - chunk.offset));
      if (text !== '') io.stdout.write(text);
      next = chunk.offset + chunk.bytes.length;
    }
    return chunks.length > 0;
  };
  const found = await pump();
  if (!found && !options.follow) return null;
  if (!options.follow) {
    io.stdout.write(decoder.end());
    return EXIT.ok;
  }
  for (;;) {
    if (options.interrupt.aborted) return EXIT.sigint;
    const row = (await store.listDispatches(dispatch.unitId)).find((d) => d.id === dispatch.id);
    const final = row === undefined || options.finalStates.has(row.state);
    await pump();
    if (final) {
      // The row went final after the runtime stored the footer: this read ended with it.
      io.stdout.write(decoder.end());
      return EXIT.ok;
    }
    if (await interrupted(options)) return EXIT.sigint;
  }
}

/** Waits `pollMs` of the clock; true when interrupted meanwhile. */
function interrupted(options: StoredLogOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const onAbort = (): void => {
      options.clock.clearTimeout(timer);
      resolve(true);
    };
    const timer = options.clock.setTimeout(() => {
      options.interrupt.removeEventListener('abort', onAbort);
      resolve(false);
    }, options.pollMs);
    options.interrupt.addEventListener('abort', onAbort, { once: true });
  });
}
