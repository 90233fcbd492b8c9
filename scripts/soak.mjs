#!/usr/bin/env node
// The crash-fuzz soak: the harness of test/crashFuzz.test.ts (test/fuzz/harness.ts), run for
// longer. Two `statecrew run` processes share one store; one of them is SIGKILLed at random
// moments and restarted, over rounds of fresh stores and plans, until --kills kills were
// delivered. Every round's figures and the totals are printed; the exit code is 1 when any
// invariant was violated (or fewer kills than requested could be delivered), else 0.
//
//   npm run soak -- --kills 200 --units 150 --seed 7
//
// Options (all optional):
//   --kills N             SIGKILLs to deliver in all (default 200)
//   --units N             units of each round's plan (default 150)
//   --seed N              seed of the first round; round i uses seed + i (default 1)
//   --kills-per-round N   kills spread over one round (default units / 5)
//   --min-unit-ms N       shortest unit (default 20)
//   --max-unit-ms N       longest unit (default 150)
//   --simultaneous-start  start both runtimes of a round at the same instant on the fresh store
//   --store KIND          sqlite (default: a file per round), postgres (a throwaway server started
//                         here, scripts/pgServer.mjs) or a postgres:// URL; each round uses a
//                         schema of its own (soak_<seed>) of that database
//   --hosts               every runtime in a PID namespace of its own (unshare; root): two hosts
//   --keep                keep every round's folder (always kept when a violation was found)
//   --verbose             print every kill and check
//
// `npm run soak` builds first (the runtimes run dist/). The harness is TypeScript under test/,
// which is not built: this script runs test/fuzz/soak.fuzz.ts through vitest's Node API and
// hands it the parameters in the STATECREW_SOAK environment variable.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startVitest } from 'vitest/node';

const usage = 'usage: npm run soak -- [--kills N] [--units N] [--seed N] [--kills-per-round N] [--min-unit-ms N] [--max-unit-ms N] [--simultaneous-start] [--store sqlite|postgres|URL] [--hosts] [--keep] [--verbose]';

let values;
try {
  ({ values } = parseArgs({
    options: {
      kills: { type: 'string', default: '200' },
      units: { type: 'string', default: '150' },
      seed: { type: 'string', default: '1' },
      'kills-per-round': { type: 'string' },
      'min-unit-ms': { type: 'string', default: '20' },
      'max-unit-ms': { type: 'string', default: '150' },
      'simultaneous-start': { type: 'boolean', default: false },
      store: { type: 'string', default: 'sqlite' },
      hosts: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  process.stderr.write(`soak: ${error.message}\n${usage}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

const integer = (name, min) => {
  const text = values[name];
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    process.stderr.write(`soak: --${name} must be an integer of at least ${min}, got "${text}"\n${usage}\n`);
    process.exit(2);
  }
  return value;
};
const units = integer('units', 2);
const parameters = {
  kills: integer('kills', 1),
  units,
  seed: integer('seed', 0),
  killsPerRound: values['kills-per-round'] === undefined ? Math.max(1, Math.round(units / 5)) : integer('kills-per-round', 1),
  minUnitMs: integer('min-unit-ms', 1),
  maxUnitMs: integer('max-unit-ms', 1),
  simultaneousStart: values['simultaneous-start'],
  keep: values.keep,
  verbose: values.verbose,
};
if (!['sqlite', 'postgres'].includes(values.store) && !/^postgres(ql)?:\/\//.test(values.store)) {
  process.stderr.write(`soak: --store must be sqlite, postgres or a postgres:// URL, got "${values.store}"\n${usage}\n`);
  process.exit(2);
}
let server = null;
if (values.store === 'postgres') {
  const { startPgServer } = await import('./pgServer.mjs');
  server = await startPgServer();
  process.stdout.write(`soak: throwaway PostgreSQL server at ${server.url.replace(/:[^:@/]*@/, ':***@')}\n`);
}
parameters.store = values.store === 'sqlite' ? null : (server?.url ?? values.store);
parameters.hosts = values.hosts;
if (parameters.maxUnitMs < parameters.minUnitMs) {
  process.stderr.write(`soak: --max-unit-ms must not be below --min-unit-ms\n`);
  process.exit(2);
}

// The test writes its figures to this file as it goes; print them as they arrive.
const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecrew-soak-'));
const reportFile = path.join(reportDir, 'report.txt');
fs.writeFileSync(reportFile, '');
let printed = 0;
const printNew = () => {
  const text = fs.readFileSync(reportFile, 'utf8');
  if (text.length > printed) {
    process.stdout.write(text.slice(printed));
    printed = text.length;
  }
};
const watcher = fs.watch(reportFile, printNew);

process.env.STATECREW_SOAK = JSON.stringify(parameters);
process.env.STATECREW_SOAK_REPORT = reportFile;
process.stdout.write(`soak: ${JSON.stringify({ ...parameters, store: values.store === 'sqlite' ? 'sqlite' : 'postgres' })}\n`);

let failed = true;
try {
  const vitest = await startVitest('test', [], {
    include: ['test/fuzz/soak.fuzz.ts'],
    watch: false,
    testTimeout: 0,
    reporters: ['dot'],
  });
  failed = vitest.state.getCountOfFailedTests() > 0 || vitest.state.getUnhandledErrors().length > 0 || (process.exitCode ?? 0) !== 0;
  await vitest.close();
} finally {
  watcher.close();
  printNew();
  fs.rmSync(reportDir, { recursive: true, force: true });
  await server?.stop();
}
process.stdout.write(failed ? '\nsoak: FAILED (see above)\n' : '\nsoak: passed\n');
process.exit(failed ? 1 : 0);
