// The protocol between bench/index.mjs and each benchmark, which runs in a child process of
// its own: the child receives its options on argv and sends one result message over IPC.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Options every benchmark takes: `--quick` (small sizes), `--profile` (only the statecrew side,
 * once, for `--cpu-prof`) and `--size N` (the benchmark's main size, e.g. actors restored, in
 * place of its default: to compare with an older run measured at another size).
 * @throws Error when `--size` is not a positive integer.
 */
export function benchOptions(argv = process.argv.slice(2)) {
  const at = argv.indexOf('--size');
  const size = at === -1 ? undefined : Number(argv[at + 1]);
  if (size !== undefined && !(Number.isInteger(size) && size > 0)) throw new Error(`--size takes a positive integer, got ${argv[at + 1]}`);
  return { quick: argv.includes('--quick'), profile: argv.includes('--profile'), size };
}

/** A fresh temporary folder; removed by the returned `remove()`. */
export function tempDir(label) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `statecrew-bench-${label}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs a benchmark's `main(options)` and hands its result to the parent (over IPC when
 * forked by bench/index.mjs, else as JSON on stdout). A failure is reported, never dropped:
 * the parent prints it and the process exits 1.
 */
export function runBenchmark(main) {
  const options = benchOptions();
  main(options).then(
    (result) => {
      if (process.send !== undefined) process.send({ type: 'result', result }, () => process.disconnect());
      else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    },
    (error) => {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      if (process.send !== undefined) process.send({ type: 'error', message }, () => process.disconnect());
      else process.stderr.write(`${message}\n`);
      process.exitCode = 1;
    },
  );
}

/** Resolves after the current macrotask (lets effects that start with `await` run). */
export function nextMacrotask() {
  return new Promise((resolve) => setImmediate(resolve));
}
