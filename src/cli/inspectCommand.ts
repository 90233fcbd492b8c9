import open from 'open';
import { resolveStoreLocation } from '../../persistence/openStore.js';
import { startInspector } from '../inspector/server.js';
import { EXIT } from './exitCodes.js';
import type { CliIO } from './io.js';

/** Options of {@link inspectCommand}, as parsed from `statecrew inspect`. */
export interface InspectCommandOptions {
  /** Path of the SQLite store, relative to `io.cwd`. */
  readonly store: string;
  /** Port on 127.0.0.1. @default 0 (any free port) */
  readonly port?: number;
  /** Open the page in the system's browser. @default false */
  readonly open?: boolean;
  /** Serve without actions, the store opened read-only (`--read-only`). @default false */
  readonly readOnly?: boolean;
}

/**
 * `statecrew inspect`: serves the inspector of a store on 127.0.0.1 and prints its URL (with
 * its access token) until SIGINT (exit 130) or SIGTERM (exit 143).
 * @throws StoreNotFoundError / StoreCorruptError / StoreVersionError (exit 2 from `main`).
 */
export async function inspectCommand(options: InspectCommandOptions, io: CliIO, stopSignal?: AbortSignal): Promise<number> {
  const inspector = await startInspector({
    store: resolveStoreLocation(options.store, io.cwd),
    ...(options.port === undefined ? {} : { port: options.port }),
    readOnly: options.readOnly === true,
    onError: (error) => io.stderr.write(`statecrew inspect: ${error.message}\n`),
  });
  io.stdout.write(`statecrew inspector: ${inspector.url}${inspector.readOnly ? ' (read-only)' : ''}\n`);
  if (options.open === true) await openInBrowser(inspector.url, io);
  const exitCode = await untilStopped(stopSignal);
  await inspector.close();
  return exitCode;
}

/** Opens `url` with the system's handler (xdg-open, open, start); a missing browser is reported, not fatal. */
export async function openInBrowser(url: string, io: CliIO): Promise<void> {
  try {
    const child = await open(url);
    child.once('error', (error) => io.stderr.write(`statecrew: cannot open a browser (${error.message}); open ${url} yourself\n`));
  } catch (error) {
    io.stderr.write(`statecrew: cannot open a browser (${(error as Error).message}); open ${url} yourself\n`);
  }
}

function untilStopped(stopSignal?: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    const done = (code: number) => () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code);
    };
    const onInt = done(EXIT.sigint);
    const onTerm = done(EXIT.sigterm);
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    stopSignal?.addEventListener('abort', done(EXIT.ok), { once: true });
  });
}
