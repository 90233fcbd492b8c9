import fs from 'node:fs';
import path from 'node:path';
import { renderBuiltInChart, type ChartFormat, type ChartedMachineName } from '../chart/docsCharts.js';
import { ensureError } from '../../core/errors.js';
import { EXIT } from './exitCodes.js';
import type { CliIO } from './io.js';

/** Options of `statecrew chart`. */
export interface ChartCommandOptions {
  /** Which built-in machine to draw. */
  readonly machine: ChartedMachineName;
  /** `svg`: a standalone SVG document; `mermaid`: Mermaid `stateDiagram-v2` text. */
  readonly format: ChartFormat;
  /** File to write, relative to `io.cwd`; its folder is created. @default stdout */
  readonly out?: string;
}

/**
 * `statecrew chart <worker|lease|dispatch|supervisor|workspace> [--format svg|mermaid] [--out FILE]`:
 * draws a built-in statechart from its definition (no store is opened). Writes to stdout, or
 * to FILE (creating its folder) and then prints the path written.
 * @returns exit code: 0, or 1 when FILE cannot be written (the message says why).
 */
export async function chartCommand(options: ChartCommandOptions, io: CliIO): Promise<number> {
  const text = await renderBuiltInChart(options.machine, options.format);
  if (options.out === undefined) {
    io.stdout.write(text);
    return EXIT.ok;
  }
  const file = path.resolve(io.cwd, options.out);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  } catch (error) {
    io.stderr.write(`statecrew: cannot write ${file}: ${ensureError(error).message}\n`);
    return EXIT.failed;
  }
  io.stdout.write(`${file}\n`);
  return EXIT.ok;
}
