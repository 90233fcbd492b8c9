/** The streams a CLI command writes to (injected so tests can capture them). */
export interface CliIO {
  readonly stdout: { write(text: string): void; readonly isTTY: boolean };
  readonly stderr: { write(text: string): void };
  readonly cwd: string;
}

/** The process's own streams. */
export function processIO(): CliIO {
  return {
    stdout: { write: (text) => process.stdout.write(text), isTTY: process.stdout.isTTY === true },
    stderr: { write: (text) => process.stderr.write(text) },
    cwd: process.cwd(),
  };
}
