// The unit of the crash fuzzer: `fixtures/tick-logger.mjs` with three more fields and failure
// modes. It appends JSON lines
//   {"unit","run","pid","event":"start"|"tick"|"end","t","dispatch","token","attempt"}
// to <logFile> every 20 ms for <ms> ms (the format of test/helpers/ticks.ts, plus the turn's
// STATECREW_DISPATCH_ID, STATECREW_FENCING_TOKEN and STATECREW_ATTEMPT, so that every
// execution can be matched with the dispatch and the lease it ran under), then exits:
//   ok          0;
//   fail-first  75 when STATECREW_ATTEMPT is 1, else 0 (the retry succeeds);
//   always      75 on every attempt.
// A failing run marks its `end` line with "fail": true and writes one line to stderr that
// differs per attempt (so stuck detection does not fire).
// Usage: fuzz-unit.mjs <logFile> <ms> [ok|fail-first|always]
import fs from 'node:fs';

const [logFile, msText, mode = 'ok'] = process.argv.slice(2);
if (logFile === undefined || msText === undefined || !['ok', 'fail-first', 'always'].includes(mode)) {
  process.stderr.write('usage: fuzz-unit.mjs <logFile> <ms> [ok|fail-first|always]\n');
  process.exit(2);
}
const total = Number(msText);
const attempt = process.env.STATECREW_ATTEMPT ?? '?';
const fails = mode === 'always' || (mode === 'fail-first' && attempt === '1');
const started = Date.now();
const record = (event, extra = {}) =>
  fs.appendFileSync(
    logFile,
    `${JSON.stringify({
      unit: process.env.STATECREW_UNIT_ID,
      run: process.env.RUN,
      pid: process.pid,
      event,
      t: Date.now(),
      dispatch: process.env.STATECREW_DISPATCH_ID,
      token: Number(process.env.STATECREW_FENCING_TOKEN),
      attempt: Number(attempt),
      ...extra,
    })}\n`,
  );

record('start');
const timer = setInterval(() => {
  if (Date.now() - started >= total) {
    clearInterval(timer);
    // In a workspace the unit's work is a file in its milestone's worktree (its cwd), committed
    // by statecrew when the turn completes; a failing attempt's is saved aside and reset.
    if (process.env.STATECREW_WORKSPACE !== undefined) {
      fs.mkdirSync('units', { recursive: true });
      fs.writeFileSync(`units/${process.env.STATECREW_UNIT_ID.replace(/[^A-Za-z0-9._-]/g, '_')}.txt`, `${process.env.STATECREW_UNIT_ID}\n`);
    }
    if (fails) {
      record('end', { fail: true });
      process.stderr.write(`${mode}: attempt ${attempt} fails on purpose\n`);
      process.exitCode = 75;
    } else {
      record('end');
    }
    return;
  }
  record('tick');
}, 20);
