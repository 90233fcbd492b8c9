/**
 * statecrew from a plain script: a plan given as an object, a console logger, progress from
 * the runtime's events, and a clean stop on Ctrl-C. Run it with `npm run example:script`;
 * run it again and it resumes (or, when all is done, finishes at once) from the store.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRuntime, planFromObject, type RunResult } from 'statecrew';

/** Options of {@link runScript}. */
export interface ScriptOptions {
  /** Folder for the store (`statecrew.db`) and logs. */
  readonly dir: string;
  /** Where progress lines go. @default console.log */
  readonly print?: (line: string) => void;
}

/** Runs a three-unit plan (two milestones, one depending on the other) to its end. */
export async function runScript(options: ScriptOptions): Promise<RunResult> {
  const print = options.print ?? ((line: string) => console.log(line));
  const node = process.execPath;
  const plan = planFromObject(
    {
      version: 1,
      workers: 2,
      defaults: { maxAttempts: 2, retryBackoff: '100ms' },
      milestones: [
        {
          id: 'build',
          units: [
            { id: 'compile', command: [node, '-e', "console.log('compiling'); setTimeout(() => {}, 200)"] },
            { id: 'bundle', command: [node, '-e', "console.log('bundling')"] },
          ],
        },
        { id: 'ship', dependsOn: ['build'], units: [{ id: 'publish', command: [node, '-e', "console.log('published')"] }] },
      ],
    },
    { cwd: options.dir, file: 'embed-script plan' },
  );
  const runtime = createRuntime({ store: path.join(options.dir, 'statecrew.db') });
  runtime.events.on('unit.started', (event) => print(`started   ${event.unitId} (attempt ${event.attempt}, pid ${event.pid})`));
  runtime.events.on('unit.completed', (event) => print(`completed ${event.unitId} in ${event.durationMs ?? '?'} ms`));
  runtime.events.on('unit.failed', (event) => print(`failed    ${event.unitId}: ${event.reason}`));
  runtime.events.on('milestone.state', (event) => print(`milestone ${event.milestoneId} ${event.state}`));

  const onSigint = () => void runtime.stop('SIGINT', 130);
  process.once('SIGINT', onSigint);
  try {
    await runtime.start(plan);
    const result = await runtime.finished;
    const units = [...result.progress.units.values()];
    print(`${units.filter((unit) => unit.state === 'completed').length}/${units.length} units completed (exit code ${result.exitCode})`);
    return result;
  } finally {
    process.off('SIGINT', onSigint);
    await runtime.store.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runScript({ dir: path.resolve('.statecrew/embed-script') });
  process.exitCode = result.exitCode;
}
